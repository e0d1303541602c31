"""Per-sample quantification files: RSEM results, and transcripts summarised with pytximport.

* RSEM **gene-level** results (``*.genes.results``: ``gene_id, transcript_id(s), length,
  effective_length, expected_count, TPM, FPKM``), one file per sample, are read as R tximport's
  ``tximport(type = "rsem", txIn = FALSE, txOut = FALSE)`` does: ``expected_count`` are the counts
  and ``effective_length`` the lengths. Effective lengths of zero (RSEM's value for genes shorter
  than the mean fragment) become 1, as tximport's documentation advises before
  ``DESeqDataSetFromTximport`` (which requires positive lengths); the number set is logged.
* Transcript-level files (salmon ``quant.sf``, kallisto ``abundance``, RSEM ``*.isoforms.results``)
  are summarised to genes by :func:`summarise_transcripts` through pytximport. pytximport reports
  on the root logger (which would give it a stderr handler); its records are captured and said again
  in ressig's words, the transcripts missing from the tx2gene table with their number and ids
  (:func:`missing_transcripts`, rows of the gene mapping report by :func:`missing_transcript_rows`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ._log import capture_root_records, logger, relay_records
from .errors import FILE_ERRORS, RessigError, input_error

#: Columns of an RSEM ``genes.results`` file ressig needs.
RSEM_GENE_COLUMNS = ("gene_id", "effective_length", "expected_count")
#: ``how`` of a mapping-report row for a quantified transcript that no gene received.
HOW_NOT_IN_TX2GENE = "not_in_tx2gene"
#: Transcript-id column of the text quantification files, by format.
_TX_COLUMN = {"salmon": "Name", "kallisto": "target_id", "rsem": "transcript_id"}
_PYTXIMPORT_MISSING = re.compile(r"Not all transcripts are present in the mapping\.\s*(\d+) out of (\d+) missing")


def read_rsem_genes(files: Mapping[str, str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one RSEM ``genes.results`` per sample as genes × samples counts and lengths.

    Parameters
    ----------
    files
        Sample name → ``*.genes.results`` (optionally gzip-compressed).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        ``expected_count`` rounded to integers (as ``DESeqDataSetFromTximport`` rounds them, with a
        log line saying so), and ``effective_length`` with zeros set to 1; the genes in file order.

    Raises
    ------
    RessigError
        A missing column, a non-numeric or negative value, or gene ids that differ between files
        (naming the file and the first differing row).
    """
    counts, lengths = {}, {}
    genes: pd.Index | None = None
    first = ""
    for sample, f in files.items():
        if not Path(f).exists():
            raise input_error(f, f"RSEM genes.results for sample {sample!r} not found",
                              "Fix the 'counts' column of the sample sheet")
        try:
            df = pd.read_csv(f, sep="\t", dtype=str, keep_default_na=False)
        except FILE_ERRORS as exc:  # pandas parse errors are ValueErrors
            raise input_error(f, f"cannot read as an RSEM genes.results table ({type(exc).__name__}: "
                              f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else ''})",
                              "Give RSEM's *.genes.results files as written (tab-separated, optionally gzipped)") from None
        if "transcript_id" in df.columns:
            raise input_error(f, "is an RSEM isoforms.results file (column transcript_id), not genes.results",
                              "Give --tx2gene (counts.tx2gene) to summarise transcripts to genes, or the "
                              "*.genes.results files")
        missing = [c for c in RSEM_GENE_COLUMNS if c not in df.columns]
        if missing:
            raise input_error(f, f"not an RSEM genes.results file: missing column(s) {', '.join(missing)}",
                              "Give RSEM's *.genes.results files (rsem-calculate-expression output)")
        ids = pd.Index(df["gene_id"].str.strip())
        if genes is None:
            genes, first = ids, str(f)
        elif not ids.equals(genes):
            row = next((i for i, (a, b) in enumerate(zip(ids, genes, strict=False)) if a != b), min(len(ids), len(genes)))
            raise input_error(f, f"gene ids differ from {first} (data row {row + 1}: "
                              f"{ids[row] if row < len(ids) else 'end of file'!r} vs "
                              f"{genes[row] if row < len(genes) else 'end of file'!r})",
                              "Quantify every sample against the same annotation")
        for col, store in (("expected_count", counts), ("effective_length", lengths)):
            values = pd.to_numeric(df[col], errors="coerce")
            bad = values.isna() | (values < 0) | ~np.isfinite(values)
            if bad.any():
                r = int(np.argmax(bad.to_numpy()))
                raise input_error(f, f"{col} {df[col].iat[r]!r} at gene {ids[r]!r} (data row {r + 1}) is not a "
                                  "number >= 0", "Use RSEM's genes.results as written")
            store[sample] = values.to_numpy(dtype=float)
    assert genes is not None
    counts_df = pd.DataFrame(counts, index=genes)
    lengths_df = pd.DataFrame(lengths, index=genes)
    zero = lengths_df.to_numpy() == 0
    lengths_df = lengths_df.mask(zero, 1.0)
    logger.info("read RSEM genes.results of %d samples: %d genes (expected_count rounded to integers; "
                "effective lengths kept for DE normalisation factors, %d zero effective length(s) in %d gene(s) "
                "set to 1 as tximport advises)", len(files), len(genes), int(zero.sum()), int(zero.any(axis=1).sum()))
    return counts_df.round(), lengths_df


def missing_transcripts(files: Mapping[str, str | Path], data_type: str, t2g: pd.DataFrame) -> list[str]:
    """Transcripts of text quantification files that are not in the tx2gene table.

    Ids are compared without their version suffix (as :func:`summarise_transcripts` does);
    binary files (kallisto ``.h5``) are skipped. Returns the ids as in the files, sorted, unique.
    """
    col = _TX_COLUMN.get(data_type)
    known = set(t2g["transcript_id"].astype(str).str.split(".").str[0])
    out: set[str] = set()
    for f in files.values():
        if col is None or Path(f).suffix == ".h5":
            continue
        try:
            ids = pd.read_csv(f, sep="\t", usecols=[col], dtype=str)[col]
        except FILE_ERRORS:
            continue  # pytximport's own error names the file
        out.update(i for i in ids if i.split(".")[0] not in known)
    return sorted(out)


def missing_transcript_rows(missing: list[str]) -> pd.DataFrame:
    """Gene mapping report rows (``input_id, mapped_id, how, note``) of transcripts no gene received."""
    return pd.DataFrame({"input_id": missing, "mapped_id": [""] * len(missing),
                         "how": [HOW_NOT_IN_TX2GENE] * len(missing),
                         "note": ["transcript not in the tx2gene table: its reads are in no gene count"] * len(missing)})


def summarise_transcripts(files: Mapping[str, str | Path], data_type: str, t2g: pd.DataFrame,
                          counts_from_abundance: str | None):
    """pytximport's ``tximport`` (AnnData output) with its log said in ressig's words.

    Returns the AnnData and the transcripts missing from ``t2g`` (:func:`missing_transcripts`).
    The number missing is logged as a warning (with examples); pytximport's other warnings are
    relayed once each.
    """
    from pytximport import tximport

    source = f"{data_type} quantifications"
    with capture_root_records() as records:
        try:
            result = tximport([str(f) for f in files.values()], data_type=data_type, transcript_gene_map=t2g,
                              output_type="anndata", ignore_transcript_version=True,
                              counts_from_abundance=counts_from_abundance)
        except RessigError:
            raise
        except FILE_ERRORS as exc:  # pytximport raises a variety of types on malformed files
            raise input_error(", ".join(map(str, files.values())),
                              f"pytximport could not read the {data_type} files: {exc}") from None
    said = [r for r in records if _PYTXIMPORT_MISSING.search(r.getMessage())]
    missing = missing_transcripts(files, data_type, t2g) if said else []
    if said:
        n, total = map(int, _PYTXIMPORT_MISSING.search(said[0].getMessage()).groups())
        logger.warning("%s: %d of %d quantified transcripts are not in the tx2gene table (e.g. %s); their reads "
                       "are in no gene count (listed in the gene mapping report as %s)", source, n, total,
                       ", ".join(missing[:3]) or "ids in binary files", HOW_NOT_IN_TX2GENE)
    relay_records([r for r in records if r not in said], f"pytximport ({source})")
    return result, missing


def default_lengths_path(counts_path: str | Path) -> Path:
    """Where ``prepare`` puts transcript lengths without ``--out-lengths`` and ``de`` looks for them.

    ``<dir>/<counts name without .gz and its last suffix>.lengths.tsv``: ``counts.tsv`` →
    ``counts.lengths.tsv``.
    """
    p = Path(counts_path)
    name = p.name.removesuffix(".gz")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return p.with_name(f"{stem}.lengths.tsv")
