"""Reading counts and sample sheets, with one-line errors for every malformed input.

Supported count inputs (genes × samples, first column = gene id):

* ``matrix``: TSV/CSV (optionally gzip-compressed) — the default;
* ``featurecounts``: featureCounts output (sample names taken from the BAM file names);
* ``salmon`` / ``kallisto``: per-sample quantification files summarised to genes with a
  transcript → gene table through :mod:`pytximport` (with the average transcript lengths, which
  ``ressig de --lengths`` turns into DESeq2 normalisation factors, or counts from abundance
  scaled to library size and average length, ``length_scaled_tpm``);
* ``rsem``: one RSEM ``genes.results`` per sample (expected counts rounded, effective lengths for
  the normalisation factors; :mod:`ressig.quantfiles`), or ``isoforms.results`` with a transcript →
  gene table (summarised as salmon/kallisto);
* ``h5ad``: an AnnData file with samples in ``obs`` (``X`` or a named layer).
"""

from __future__ import annotations

import csv
import gzip
import io as _io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._log import logger
from .errors import FILE_ERRORS, RessigError, input_error
from .genes import harmonise_gene_ids
from .mangled import find_mangled, log_mangled, mark_mangled

COUNT_FORMATS = ("auto", "matrix", "featurecounts", "salmon", "kallisto", "rsem", "h5ad")
#: formats read from per-sample files named in the sample sheet's ``counts`` column
PER_SAMPLE_FORMATS = ("salmon", "kallisto", "rsem")
#: salmon/kallisto gene counts: ``none`` = tximport's estimated counts, whose average transcript
#: lengths go to DE as normalisation factors; ``length_scaled_tpm`` = counts from abundance
#: scaled to library size and average transcript length (no lengths needed downstream)
COUNTS_FROM_ABUNDANCE = ("none", "length_scaled_tpm")
SAMPLE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_FEATURECOUNTS_ANNOT = ["Geneid", "Chr", "Start", "End", "Strand", "Length"]
_GZIP_MAGIC = b"\x1f\x8b"


def _read_text(path: Path) -> str:
    """Read a (possibly gzip-compressed) text file, dropping a UTF-8 BOM."""
    if not path.exists():
        raise input_error(path, "file not found", "Check the path in your config or command line")
    if path.is_dir():
        raise input_error(path, "is a directory, expected a file")
    raw = path.read_bytes()
    if path.suffix == ".gz" or raw[:2] == _GZIP_MAGIC:
        if raw[:2] != _GZIP_MAGIC:
            raise input_error(path, "has a .gz suffix but is not gzip-compressed",
                              "Rename it without .gz or compress it with gzip")
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise input_error(path, f"corrupt gzip stream ({exc})", "Re-create the file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise input_error(path, f"is not UTF-8 text (byte {exc.start})",
                          "Save it as UTF-8 (or plain ASCII) text") from None
    if not text.strip():
        raise input_error(path, "is empty", "Provide a table with a header row and data rows")
    return text


def delimiter_for(path: Path) -> str:
    """Field separator by file name: ``,`` for ``.csv`` (optionally ``.gz``), otherwise tab."""
    return "," if path.name.removesuffix(".gz").endswith(".csv") else "\t"


def read_table(path: str | Path, what: str = "table") -> pd.DataFrame:
    """Read a delimited text table with string cells and a clear error on any parse problem.

    Lines whose first character is ``#`` are comments; a ``#`` anywhere else is data (a sample
    named ``GEN2.2#P1``, a note ``flask #2``, an Excel ``#N/A``).

    Parameters
    ----------
    path
        TSV (or ``.csv``) file, optionally gzip-compressed.
    what
        What the table is (used in messages), e.g. ``"sample sheet"``.
    """
    path = Path(path)
    text = _read_text(path)
    sep = delimiter_for(path)
    # comments are whole lines whose first character is '#'; a '#' anywhere else is data
    numbered = [(n, ln) for n, ln in enumerate(text.splitlines(), start=1) if not ln.startswith("#")]
    lines = [ln for _, ln in numbered if ln.strip()]
    if not lines:
        raise input_error(path, f"{what} has only comment lines", "Add a header row and data rows")
    header = lines[0]
    if sep not in header:
        other = next((d for d in (",", ";", "\t", " ") if d != sep and d in header), None)
        hint = {",": "comma", ";": "semicolon", "\t": "tab", " ": "space"}.get(other or "", "")
        if other:
            expected = "comma" if sep == "," else "tab"
            raise input_error(path, f"{what} header looks {hint}-separated, expected {expected}-separated",
                              f"Save it as {'CSV' if sep == ',' else 'TSV'} or rename the file to match")
    names = [f.strip() for f in next(csv.reader([header], delimiter=sep))]
    dup = sorted({n for n in names if names.count(n) > 1 and n})
    if dup:
        raise input_error(path, f"{what} has duplicated column(s): {', '.join(dup)}", "Column names must be unique")
    rows = csv.reader((ln for _, ln in numbered), delimiter=sep)
    for (lineno, _), fields in zip(numbered, rows, strict=False):
        if fields and "".join(fields).strip():
            n = len(fields)
            if n != len(names):
                raise input_error(path, f"cannot parse {what}: line {lineno} has {n} fields, the header has "
                                  f"{len(names)}", "Every row needs the same number of columns as the header")
    body = "\n".join(ln for _, ln in numbered)
    try:
        df = pd.read_csv(_io.StringIO(body), sep=sep, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise input_error(path, f"{what} has no columns (the header is empty)", "Give the file a header row") from None
    except pd.errors.ParserError as exc:
        msg = str(exc).strip().splitlines()[-1]
        raise input_error(path, f"cannot parse {what}: {msg}",
                          "Every row needs the same number of columns as the header") from None
    df.columns = [str(c).strip() for c in df.columns]
    if df.empty:
        raise input_error(path, f"{what} has a header but no data rows", "Add data rows")
    unnamed = [c for c in df.columns if c.startswith("Unnamed:")]
    if unnamed:
        col = df.columns.get_loc(unnamed[0]) + 1
        raise input_error(path, f"{what} header has an empty column name (column {col})",
                          "Give every column a name")
    return df


def _numeric_matrix(df: pd.DataFrame, path: Path, what: str = "counts") -> pd.DataFrame:
    """Convert a string table (index = gene id) to floats, naming the first bad cell."""
    values = df.apply(pd.to_numeric, errors="coerce")
    bad = values.isna() & (df.map(lambda s: str(s).strip().upper() not in ("NA", "NAN", "")))
    if bad.to_numpy().any():
        r, c = np.argwhere(bad.to_numpy())[0]
        raise input_error(path, f"non-numeric {what} value {df.iat[r, c]!r} at gene {df.index[r]!r}, "
                          f"column {df.columns[c]!r} (data row {r + 1})",
                          "Counts must be numbers")
    if values.isna().to_numpy().any():
        r, c = np.argwhere(values.isna().to_numpy())[0]
        raise input_error(path, f"missing {what} value (NA/empty) at gene {df.index[r]!r}, "
                          f"column {df.columns[c]!r} (data row {r + 1})",
                          "Fill in the value (0 if not detected) or drop the gene")
    return values.astype(float)


def validate_counts(counts: pd.DataFrame, source: str | Path | None = None,
                    integer: bool = True) -> pd.DataFrame:
    """Check a numeric genes × samples matrix: finite, non-negative, integer, no empty samples.

    Returns the matrix as ``int64`` when ``integer`` is true.
    """
    arr = counts.to_numpy(dtype=float)
    if counts.shape[0] == 0:
        raise input_error(source, "counts table has no genes")
    if not np.isfinite(arr).all():
        r, c = np.argwhere(~np.isfinite(arr))[0]
        raise input_error(source, f"non-finite count at gene {counts.index[r]!r}, sample {counts.columns[c]!r}",
                          "Counts must be finite numbers")
    if (arr < 0).any():
        r, c = np.argwhere(arr < 0)[0]
        raise input_error(source, f"negative count {arr[r, c]:g} at gene {counts.index[r]!r}, "
                          f"sample {counts.columns[c]!r}", "Counts must be >= 0 (raw read counts, not log values)")
    if integer and (arr != np.round(arr)).any():
        r, c = np.argwhere(arr != np.round(arr))[0]
        raise input_error(source, f"non-integer count {arr[r, c]:g} at gene {counts.index[r]!r}, "
                          f"sample {counts.columns[c]!r}",
                          "DE needs raw integer counts; for salmon/kallisto use counts.format: salmon/kallisto")
    zero = counts.columns[arr.sum(axis=0) == 0]
    if len(zero):
        raise input_error(source, f"sample(s) with zero total counts: {', '.join(map(str, zero))}",
                          "Remove the failed libraries from the sample sheet")
    return counts.astype("int64") if integer else counts


def _detect_format(path: Path) -> str:
    if path.is_dir():
        raise input_error(path, "is a directory; set counts.format to salmon or kallisto and list "
                          "per-sample quantification files in the sample sheet 'counts' column")
    name = path.name.removesuffix(".gz")
    if name.endswith(".h5ad"):
        return "h5ad"
    if name.endswith((".tsv", ".txt", ".csv", ".tab")):
        text = _read_text(path)
        head = text.lstrip().splitlines()[0:2]
        if head and head[0].startswith("# Program:featureCounts"):
            return "featurecounts"
        if head and head[0].split("\t")[:6] == _FEATURECOUNTS_ANNOT:
            return "featurecounts"
        return "matrix"
    raise input_error(path, f"cannot tell the counts format from the file name {path.name!r}",
                      f"Use .tsv/.csv/.h5ad or set counts.format to one of {', '.join(COUNT_FORMATS[1:])}")


def read_counts_matrix(path: str | Path) -> pd.DataFrame:
    """Read a genes × samples counts matrix (first column = gene id) as floats."""
    path = Path(path)
    df = read_table(path, "counts")
    if df.shape[1] < 2:
        raise input_error(path, "counts table has a gene id column but no sample columns",
                          "Expected: gene_id<TAB>sample1<TAB>sample2 ...")
    gene_col = df.columns[0]
    df = df.set_index(gene_col)
    df.index = df.index.str.strip()
    if (df.index == "").any():
        row = int(np.argmax(df.index == "")) + 1
        raise input_error(path, f"empty gene id in data row {row}", "Every row needs a gene id in the first column")
    return _numeric_matrix(df, path)


def read_featurecounts(path: str | Path) -> pd.DataFrame:
    """Read featureCounts output; sample names are the BAM file names without directory/suffix."""
    path = Path(path)
    df = read_table(path, "featureCounts table")
    missing = [c for c in _FEATURECOUNTS_ANNOT if c not in df.columns]
    if missing:
        raise input_error(path, f"not featureCounts output: missing column(s) {', '.join(missing)}",
                          "Use counts.format: matrix for a plain genes x samples table")
    df = df.set_index("Geneid").drop(columns=_FEATURECOUNTS_ANNOT[1:])
    renamed = {c: re.sub(r"(\.sorted)?\.bam$", "", Path(c).name) for c in df.columns}
    df = df.rename(columns=renamed)
    return _numeric_matrix(df, path)


def read_quantifications(files: Mapping[str, str | Path], data_type: str, tx2gene: str | Path,
                         counts_from_abundance: str = "none") -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Summarise salmon/kallisto transcript quantifications to gene counts with pytximport.

    Parameters
    ----------
    files
        Sample name → ``quant.sf`` (salmon) or ``abundance.tsv``/``.h5`` (kallisto).
    data_type
        ``"salmon"``, ``"kallisto"`` or ``"rsem"`` (``isoforms.results``).
    tx2gene
        Two-column table transcript_id → gene_id (TSV or CSV, header optional).
    counts_from_abundance
        One of :data:`COUNTS_FROM_ABUNDANCE` (R tximport's ``countsFromAbundance``: ``"no"``
        or ``"lengthScaledTPM"``).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame or None)
        Genes × samples counts, rounded to integers (as DESeq2's ``DESeqDataSetFromTximport``
        does), with a log line saying so; and the genes × samples average transcript lengths
        (tximport's ``length``), ``None`` for ``length_scaled_tpm``. The transcripts missing from
        the tx2gene table are in the counts' ``attrs["missing_transcripts"]`` (and logged).
    """
    from .quantfiles import summarise_transcripts

    if counts_from_abundance not in COUNTS_FROM_ABUNDANCE:
        raise RessigError(f"unknown counts_from_abundance {counts_from_abundance!r}; use one of "
                          f"{', '.join(COUNTS_FROM_ABUNDANCE)}")

    for sample, f in files.items():
        if not Path(f).exists():
            raise input_error(f, f"{data_type} quantification for sample {sample!r} not found",
                              "Fix the 'counts' column of the sample sheet")
    t2g = read_table(tx2gene, "tx2gene table")
    if t2g.shape[1] < 2:
        raise input_error(tx2gene, "tx2gene table needs two columns: transcript_id, gene_id")
    t2g = t2g.iloc[:, :2]
    t2g.columns = ["transcript_id", "gene_id"]
    result, missing = summarise_transcripts(
        files, data_type, t2g, None if counts_from_abundance == "none" else counts_from_abundance)
    mat = result.X.toarray() if hasattr(result.X, "toarray") else np.asarray(result.X)
    df = pd.DataFrame(mat.T, index=result.var_names.astype(str), columns=list(files))
    lengths = None
    if counts_from_abundance == "none":
        lengths = pd.DataFrame(np.asarray(result.obsm["length"], dtype=float).T, index=df.index, columns=df.columns)
    logger.info("summarised %s quantifications of %d samples to %d genes (%s, rounded)", data_type, len(files),
                df.shape[0], "estimated counts; average transcript lengths kept for DE normalisation factors"
                if lengths is not None else "counts from abundance, length_scaled_tpm; no lengths needed")
    df = df.round()
    df.attrs["missing_transcripts"] = missing
    return df, lengths


def read_h5ad_counts(path: str | Path, layer: str | None = None) -> pd.DataFrame:
    """Read an ``.h5ad`` with samples in ``obs`` and genes in ``var`` as genes × samples."""
    import anndata as ad

    path = Path(path)
    if not path.exists():
        raise input_error(path, "file not found")
    try:
        adata = ad.read_h5ad(path)
    except FILE_ERRORS as exc:
        raise input_error(path, f"cannot read as .h5ad ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
                          "Check the file is a complete AnnData .h5ad file") from None
    if layer is not None and layer not in adata.layers:
        raise input_error(path, f"layer {layer!r} not found (layers: {', '.join(adata.layers) or 'none'})")
    x = adata.layers[layer] if layer is not None else adata.X
    x = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
    return pd.DataFrame(x.T.astype(float), index=adata.var_names.astype(str), columns=adata.obs_names.astype(str))


def read_counts(
    path: str | Path | None = None,
    fmt: str = "auto",
    *,
    files: Mapping[str, str | Path] | None = None,
    tx2gene: str | Path | None = None,
    layer: str | None = None,
    duplicates: str = "error",
) -> pd.DataFrame:
    """Read raw counts in any supported format as a validated genes × samples integer table.

    The same as :func:`read_counts_with_mapping` without the gene mapping report.
    """
    return read_counts_with_mapping(path, fmt, files=files, tx2gene=tx2gene, layer=layer,
                                    duplicates=duplicates)[0]


@dataclass
class CountsInput:
    """Validated counts, their gene mapping report and (salmon/kallisto) average transcript lengths."""

    counts: pd.DataFrame
    mapping: pd.DataFrame
    lengths: pd.DataFrame | None = None


def read_counts_with_mapping(path: str | Path | None = None, fmt: str = "auto", **kwargs
                             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`read_counts_input` as ``(counts, mapping)``."""
    got = read_counts_input(path, fmt, **kwargs)
    return got.counts, got.mapping


def read_counts_input(
    path: str | Path | None = None,
    fmt: str = "auto",
    *,
    files: Mapping[str, str | Path] | None = None,
    tx2gene: str | Path | None = None,
    layer: str | None = None,
    duplicates: str = "error",
    counts_from_abundance: str = "none",
) -> CountsInput:
    """Read raw counts in any supported format; return the validated table, the id mapping and lengths.

    Parameters
    ----------
    path
        Counts file (matrix, featureCounts or ``.h5ad``). Not used for salmon/kallisto.
    fmt
        One of :data:`COUNT_FORMATS`; ``"auto"`` guesses from the file name and content.
    files
        Sample → quantification file, for ``salmon``/``kallisto``/``rsem``.
    tx2gene
        Transcript → gene table, for ``salmon``/``kallisto`` (and ``rsem`` ``isoforms.results``;
        without it ``rsem`` reads ``genes.results``).
    layer
        AnnData layer holding counts (default ``X``), for ``h5ad``.
    duplicates
        ``"error"`` or ``"sum"``, see :func:`ressig.genes.harmonise_gene_ids`.
    counts_from_abundance
        salmon/kallisto: see :func:`read_quantifications`.

    Returns
    -------
    CountsInput
        Genes × samples ``int64`` counts, gene ids harmonised, index named ``gene_id``; the
        gene mapping report (``input_id, mapped_id, how, note``, one row per input row, see
        :func:`ressig.genes.harmonise_gene_ids`, then one row per quantified transcript missing
        from the tx2gene table); for salmon/kallisto/rsem without ``length_scaled_tpm`` the
        average transcript (rsem genes.results: effective) lengths on the same genes and samples
        (duplicated ids combined by their count-weighted mean length).
    """
    if fmt not in COUNT_FORMATS:
        raise RessigError(f"unknown counts format {fmt!r}; use one of {', '.join(COUNT_FORMATS)}")
    if fmt == "rsem" and tx2gene is None:
        from .quantfiles import read_rsem_genes

        if not files:
            raise RessigError("counts.format rsem needs per-sample files (sample sheet 'counts' column)")
        if counts_from_abundance != "none":
            raise RessigError("counts_from_abundance length_scaled_tpm needs transcript-level data; RSEM "
                              "genes.results give gene counts: use counts_from_abundance none, or isoforms.results "
                              "with counts.tx2gene")
        source: str | Path = "rsem genes.results"
        raw, raw_lengths = read_rsem_genes(files)
    elif fmt in PER_SAMPLE_FORMATS:
        if not files or tx2gene is None:
            raise RessigError(f"counts.format {fmt} needs per-sample files (sample sheet 'counts' column) "
                              "and counts.tx2gene")
        source = f"{fmt} quantifications"
        raw, raw_lengths = read_quantifications(files, fmt, tx2gene, counts_from_abundance)
    else:
        raw_lengths = None
        if path is None:
            raise RessigError("no counts file given")
        path = Path(path)
        if fmt == "auto":
            fmt = _detect_format(path)
        source = path
        if fmt == "matrix":
            raw = read_counts_matrix(path)
        elif fmt == "featurecounts":
            raw = read_featurecounts(path)
        else:
            raw = read_h5ad_counts(path, layer)
    dup_samples = raw.columns[raw.columns.duplicated()]
    if len(dup_samples):
        raise input_error(source, f"duplicated sample column(s): {', '.join(map(str, dup_samples.unique()))}")
    mangled = find_mangled(raw.index)  # ids a spreadsheet made dates: said before a duplicate they may cause
    log_mangled(mangled, source)
    counts, mapping = harmonise_gene_ids(raw, source, duplicates)
    mapping = mark_mangled(mapping, mangled)
    if raw.attrs.get("missing_transcripts"):
        from .quantfiles import missing_transcript_rows

        mapping = pd.concat([mapping, missing_transcript_rows(raw.attrs["missing_transcripts"])], ignore_index=True)
    counts = validate_counts(counts, source)
    logger.info("%s: read %d genes x %d samples (%s)", source, counts.shape[0], counts.shape[1], fmt)
    lengths = None
    if raw_lengths is not None:
        lengths = _combine_lengths(raw_lengths, raw, pd.Index(mapping["mapped_id"][:len(raw)])).loc[counts.index]
        lengths.index.name = "gene_id"
    return CountsInput(counts, mapping, lengths)


def _combine_lengths(lengths: pd.DataFrame, counts: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    """Lengths on the harmonised ids: duplicated ids get the count-weighted mean length (plain mean at 0)."""
    lengths = lengths.set_axis(ids, axis=0)
    if not ids.duplicated().any():
        return lengths
    w = counts.set_axis(ids, axis=0)
    grouped = (lengths * w).groupby(level=0, sort=False).sum() / w.groupby(level=0, sort=False).sum()
    mean = lengths.groupby(level=0, sort=False).mean()
    single = lengths[~ids.duplicated(keep=False)]
    grouped.loc[single.index] = single
    return grouped.where(np.isfinite(grouped), mean)


def check_sample_name(name: str, source: str | Path | None = None, row: int | None = None) -> str:
    """Refuse sample names that are unsafe as file names (only letters, digits, ``._-``)."""
    where = f" (row {row})" if row is not None else ""
    if not SAMPLE_NAME.match(name) or name in (".", ".."):
        raise input_error(source, f"sample name {name!r}{where} is not allowed",
                          "Use only letters, digits, '.', '_' and '-' (it becomes a file name)")
    return name


def read_sample_sheet(path: str | Path) -> pd.DataFrame:
    """Read a sample sheet (``sample`` column required) indexed by sample name, cells as strings."""
    path = Path(path)
    df = read_table(path, "sample sheet")
    if "sample" not in df.columns:
        raise input_error(path, f"sample sheet has no 'sample' column (columns: {', '.join(df.columns)})",
                          "Add a 'sample' column with one unique name per library")
    df = df.apply(lambda s: s.str.strip())
    for i, name in enumerate(df["sample"], start=2):
        check_sample_name(name, path, row=i)
    dup = df["sample"][df["sample"].duplicated()]
    if len(dup):
        raise input_error(path, f"duplicated sample name(s): {', '.join(dup.unique())}", "Sample names must be unique")
    return df.set_index("sample")


def align_counts(counts: pd.DataFrame, samples: pd.DataFrame, counts_source: str | Path | None = None,
                 sheet_source: str | Path | None = None) -> pd.DataFrame:
    """Order count columns as the sample sheet; error on sheet samples missing from the counts.

    Count columns absent from the sheet are dropped with a log line (a documented rule: the
    sheet decides which libraries enter the analysis).
    """
    missing = [s for s in samples.index if s not in counts.columns]
    if missing:
        raise input_error(counts_source, f"sample(s) from {sheet_source} missing in counts: {', '.join(missing)}",
                          f"Count columns are: {', '.join(map(str, counts.columns[:10]))}")
    extra = [s for s in counts.columns if s not in samples.index]
    if extra:
        logger.info("%s: ignoring %d count column(s) not in the sample sheet: %s",
                    counts_source, len(extra), ", ".join(map(str, extra)))
    return counts.loc[:, list(samples.index)]


def read_matrix_tsv(path: str | Path, what: str = "matrix") -> pd.DataFrame:
    """Read a numeric genes × samples TSV written by ressig (first column = gene id)."""
    path = Path(path)
    df = read_table(path, what)
    return _numeric_matrix(df.set_index(df.columns[0]), path, what)


def prepare_inputs(
    counts: str | Path | None,
    samples: str | Path,
    out_counts: str | Path,
    out_samples: str | Path,
    fmt: str = "auto",
    tx2gene: str | Path | None = None,
    layer: str | None = None,
    duplicates: str = "error",
    out_mapping: str | Path | None = None,
    counts_from_abundance: str = "none",
    out_lengths: str | Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate counts + sample sheet and write the harmonised, aligned tables, all or none.

    For ``salmon``/``kallisto``/``rsem`` the sample sheet's ``counts`` column gives each sample's
    file (relative paths are relative to the current directory). ``out_mapping`` receives the gene
    mapping report (which input id became which gene id, and how); ``out_lengths`` the average
    transcript lengths (genes × samples, as the counts) for ``ressig de --lengths``, which needs
    salmon/kallisto/rsem input without ``counts_from_abundance="length_scaled_tpm"``. Without
    ``out_lengths`` such lengths go beside the counts
    (:func:`ressig.quantfiles.default_lengths_path`), where ``ressig de`` finds them; a stale
    file there is removed when the input has no lengths.
    """
    from ._atomic import atomic_group, write_table
    from .genes import write_mapping_report
    from .quantfiles import default_lengths_path

    sheet = read_sample_sheet(samples)
    files = None
    if fmt in PER_SAMPLE_FORMATS:
        if "counts" not in sheet.columns:
            raise input_error(samples, f"counts.format {fmt} needs a 'counts' column with each sample's "
                              "quantification file")
        files = dict(sheet["counts"])
    got = read_counts_input(counts, fmt, files=files, tx2gene=tx2gene, layer=layer, duplicates=duplicates,
                            counts_from_abundance=counts_from_abundance)
    if out_lengths is not None and got.lengths is None:
        why = "counts_from_abundance is length_scaled_tpm" if fmt in PER_SAMPLE_FORMATS else \
            f"format {fmt} has no transcript lengths"
        raise RessigError(f"cannot write transcript lengths: {why}; lengths come from salmon/kallisto/rsem "
                          "quantifications with counts_from_abundance: none")
    beside = default_lengths_path(out_counts)
    if out_lengths is None and got.lengths is not None:
        out_lengths = beside
        logger.info("transcript lengths written beside the counts to %s; 'ressig de' uses them for DESeq2 "
                    "normalisation factors (as DESeqDataSetFromTximport; --no-lengths there to use size factors)",
                    beside)
    table = align_counts(got.counts, sheet, counts_source=counts or fmt, sheet_source=samples)
    with atomic_group():
        write_table(table, out_counts)
        write_table(sheet, out_samples)
        if out_mapping is not None:
            write_mapping_report(got.mapping, out_mapping)
        if out_lengths is not None:
            write_table(got.lengths.loc[:, list(table.columns)], out_lengths)
    if Path(out_lengths or "").resolve() != beside.resolve() and beside.exists():
        beside.unlink()
        logger.info("removed %s (transcript lengths of an earlier run): these counts %s", beside,
                    "have their lengths in " + str(out_lengths) if out_lengths else "have no transcript lengths")
    return table, sheet
