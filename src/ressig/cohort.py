"""Score patient cohorts with frozen signatures: bulk, microarray-style and single-cell ``.h5ad``.

Inputs (``kind``)
    ``bulk``        counts or normalised expression, TSV/CSV (optionally ``.gz``) or parquet,
                    ``genes-x-samples`` (default; first column = gene id) or ``samples-x-genes``
                    (first column = sample name), stated with ``orientation``. Empty/``NA``
                    cells are "not measured" (left out of that sample's ranking).
    ``microarray``  the same matrix with probe ids, plus ``probe_map`` (TSV/CSV: probe id, gene);
                    probes absent from the map or mapped to no gene are dropped, then probes of
                    one gene are collapsed by ``collapse`` (below).
    ``h5ad``        AnnData file, cells in ``obs``, genes in ``var``; ``X`` or a named ``layer``,
                    dense or sparse (CSR or CSC). Read with h5py + :func:`anndata.io.sparse_dataset`
                    in chunks of ``chunk_size`` cells, so memory is bounded by the chunk, never
                    the whole matrix. CSR is read by contiguous row slices; CSC is read column
                    block by column block for every chunk (bounded memory, but the time grows
                    with the number of chunks: store CSR for big files).
                    ``pseudobulk``: sum the cells of each ``obs[key]`` group (patient/sample)
                    and score the groups instead of cells.
    ``auto``        ``.h5ad`` → h5ad; a ``probe_map`` given → microarray; else bulk.

Gene ids (symbols, aliases, Ensembl with or without version) are mapped to official symbols
through the offline gene table (:func:`ressig.genes.load_gene_table`). Ids that end up
duplicated (several probes or aliases of one gene) are collapsed **within each sample**, so a
sample's value never depends on the other samples: ``mean`` (default), ``sum``, ``max``,
``first``, or ``error``. ``maxmean`` (keep the probe with the highest mean across the cohort —
the classic ``collapseRows`` rule) is offered for dense inputs, but is **cohort-dependent** and
logged as such.

Coverage (signature genes found / signature genes) is reported per signature; scoring is refused
when no signature gene is found at all or when a signature is below ``min_coverage`` (default:
the artefact's ``scoring.min_coverage``, 0.5 for plain GMT files).

Outputs: a TSV with one row per signature × sample (``SCORE_COLUMNS``): the scores, the
sample's measured genes and its per-sample ``pvalue``/``pvalue_low`` against ``null_draws`` random
same-size gene sets (:mod:`ressig.scoring`; cohort-independent), the **cohort-level**
``cohort_qvalue``/``cohort_qvalue_low``/``call`` (BH across the samples of this table,
:func:`ressig.scoring.cohort_calls`), and ``percentile``/``zscore`` against the artefact's
reference distribution (its frozen reference cohort if any, else the training samples; named in
``reference``; empty for GMT signatures); a coverage TSV, a plot of the cohort's score
distribution beside the reference scores with the random-gene-set null band and, for ``.h5ad``
input, a copy of the input file whose ``obs`` gains the same columns as
``ressig_<signature>_<column>`` (the file is copied byte for byte and only its ``obs`` group is rewritten: ``X`` is never loaded). Every file is written atomically and only
after all scoring succeeded; if writing one output fails, the outputs already written by the
call are removed, so a failure leaves no partial output.

Sharding: ``shard=(i, n)`` scores only the ``i``-th of ``n`` contiguous blocks of samples/cells
(:func:`shard_bounds`); :func:`gather_scores` concatenates shard tables into exactly the bytes
an unsharded run writes.
"""

from __future__ import annotations

import csv
import gzip
import io as _io
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._atomic import FLOAT_FORMAT, atomic_path, save_figure, write_table
from ._log import logger
from .errors import RessigError, input_error
from .genes import GeneTable, load_gene_table
from .io import delimiter_for
from .signature import FrozenSignature, load_signatures

INPUT_KINDS = ("auto", "bulk", "microarray", "h5ad")
ORIENTATIONS = ("genes-x-samples", "samples-x-genes")
COLLAPSE_RULES = ("mean", "sum", "max", "first", "maxmean", "error")
SCORE_COLUMNS = ["signature", "sample", "score", "up_score", "down_score", "dispersion",
                 "n_genes_used", "n_genes_missing", "n_genes_measured", "pvalue", "pvalue_low",
                 "cohort_qvalue", "cohort_qvalue_low", "call", "percentile", "zscore", "reference"]
OBS_COLUMNS = SCORE_COLUMNS[2:]
DEFAULT_MIN_COVERAGE = 0.5


@dataclass
class CohortOptions:
    """How to read and score a cohort (see the module docstring)."""

    kind: str = "auto"
    orientation: str = "genes-x-samples"
    layer: str | None = None
    probe_map: str | Path | None = None
    collapse: str = "mean"
    pseudobulk: str | None = None
    chunk_size: int = 10_000
    min_coverage: float | None = None
    gene_table: str | Path | None = None
    shard: tuple[int, int] = (0, 1)
    progress: bool = True
    null_draws: int = 1000  # = scoring.DEFAULT_NULL_DRAWS (not imported: keeps numba out of CLI start-up)
    null_seed: int = 20261130  # = scoring.DEFAULT_NULL_SEED
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise RessigError(f"unknown input kind {self.kind!r}; use one of {', '.join(INPUT_KINDS)}")
        if self.orientation not in ORIENTATIONS:
            raise RessigError(f"unknown orientation {self.orientation!r}; use one of {', '.join(ORIENTATIONS)}")
        if self.collapse not in COLLAPSE_RULES:
            raise RessigError(f"unknown collapse rule {self.collapse!r}; use one of {', '.join(COLLAPSE_RULES)}")
        if self.chunk_size < 1:
            raise RessigError(f"chunk_size must be >= 1, got {self.chunk_size}")
        if self.min_coverage is not None and not 0 <= self.min_coverage <= 1:
            raise RessigError(f"min_coverage must be in [0, 1], got {self.min_coverage}")
        if self.null_draws < 0:
            raise RessigError(f"null_draws must be >= 0 (0 = no p-values), got {self.null_draws}")
        if not 0 < self.alpha < 1:
            raise RessigError(f"alpha must be between 0 and 1, got {self.alpha}")
        i, n = self.shard
        if n < 1 or not 0 <= i < n:
            raise RessigError(f"shard {i + 1}/{n} is invalid; shards are numbered 1..N")


@dataclass
class CohortScores:
    """Scores (long table), coverage report and what was read."""

    scores: pd.DataFrame
    coverage: pd.DataFrame
    n_samples: int
    kind: str
    mapping: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# reading dense matrices
# ---------------------------------------------------------------------------------------------


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _header(path: Path, sep: str) -> list[str]:
    try:
        with _open_text(path) as fh:
            for line in fh:
                if line.strip() and not line.startswith("#"):
                    return next(csv.reader([line.rstrip("\r\n")], delimiter=sep))
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise input_error(path, f"cannot read ({type(exc).__name__}: {exc})", "Check the file is complete text") from None
    raise input_error(path, "is empty", "Provide a matrix with a header row")


def _numeric(df: pd.DataFrame, path: Path, row_what: str, col_what: str) -> pd.DataFrame:
    """Cells → float; empty/NA → NaN (not measured); anything else non-numeric is an error."""
    if all(pd.api.types.is_numeric_dtype(t) for t in df.dtypes):
        return df.astype(float)
    out = df.apply(pd.to_numeric, errors="coerce")
    raw = df.astype(str).map(lambda s: s.strip().upper())
    bad = out.isna().to_numpy() & ~raw.isin(["", "NA", "NAN", "NONE", "NULL"]).to_numpy()
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise input_error(path, f"non-numeric value {df.iat[r, c]!r} at {row_what} {df.index[r]!r}, "
                          f"{col_what} {df.columns[c]!r}", "Expression values must be numbers (empty/NA = not measured)")
    return out.astype(float)


def read_expression(path: str | Path, orientation: str = "genes-x-samples") -> pd.DataFrame:
    """Read a dense expression matrix as a **samples × ids** float DataFrame.

    Parameters
    ----------
    path
        TSV/CSV (optionally gzip-compressed) or parquet (``.parquet``/``.pq``).
    orientation
        ``genes-x-samples`` (first column = gene/probe id, other columns = samples) or
        ``samples-x-genes`` (first column = sample name, other columns = genes/probes).
    """
    path = Path(path)
    if not path.exists():
        raise input_error(path, "file not found", "Check the --input path")
    if orientation not in ORIENTATIONS:
        raise RessigError(f"unknown orientation {orientation!r}; use one of {', '.join(ORIENTATIONS)}")
    is_parquet = path.suffix in (".parquet", ".pq")
    if is_parquet:
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - any parquet failure is a user-facing problem
            raise input_error(path, f"cannot read parquet ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
                              "Check the file is a complete parquet file") from None
        if isinstance(df.index, pd.RangeIndex) and df.shape[1] and not pd.api.types.is_numeric_dtype(df.iloc[:, 0]):
            df = df.set_index(df.columns[0])
        df.columns = [str(c) for c in df.columns]
        header = list(df.columns)
    else:
        sep = delimiter_for(path)
        header = [h.strip() for h in _header(path, sep)][1:]
        try:
            with _open_text(path) as fh:
                df = pd.read_csv(fh, sep=sep, index_col=0, comment="#", low_memory=False,
                                 na_values=["", "NA", "NaN", "nan", "null", "NULL"], keep_default_na=False)
        except (pd.errors.ParserError, ValueError, OSError, EOFError) as exc:
            msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise input_error(path, f"cannot parse matrix: {msg}",
                              "Every row needs the same number of fields as the header") from None
    rows, cols = ("gene", "sample") if orientation == "genes-x-samples" else ("sample", "gene")
    dup = pd.Index(header)[pd.Index(header).duplicated()]
    if len(dup):
        raise input_error(path, f"duplicated {cols} name(s) in the header: {', '.join(map(str, dup.unique()[:5]))}",
                          f"{cols.capitalize()} names must be unique")
    if df.shape[1] == 0 or df.shape[0] == 0:
        raise input_error(path, "matrix has no data", f"Expected an id column and at least one {cols} column")
    df.index = pd.Index([str(i).strip() for i in df.index])
    if not is_parquet and len(header) == df.shape[1]:
        df.columns = header
    if orientation == "samples-x-genes":
        dup = df.index[df.index.duplicated()]
        if len(dup):
            raise input_error(path, f"duplicated sample name(s): {', '.join(map(str, dup.unique()[:5]))}",
                              "Sample names must be unique")
    df = _numeric(df, path, rows, cols)
    if not np.isfinite(df.to_numpy()[~np.isnan(df.to_numpy())]).all():
        raise input_error(path, "matrix holds infinite values", "Replace them (or leave the cell empty = not measured)")
    return df.T if orientation == "genes-x-samples" else df


def read_probe_map(path: str | Path) -> pd.Series:
    """Probe → gene map (TSV/CSV, first two columns, header row); probes with no gene dropped."""
    from .io import read_table

    path = Path(path)
    df = read_table(path, "probe map")
    if df.shape[1] < 2:
        raise input_error(path, "probe map needs two columns: probe id, gene", "e.g. probe_id<TAB>gene")
    m = df.iloc[:, :2].apply(lambda s: s.str.strip())
    m.columns = ["probe", "gene"]
    dup = m["probe"][m["probe"].duplicated()]
    if len(dup):
        raise input_error(path, f"probe(s) listed twice: {', '.join(dup.unique()[:5])}",
                          "Give each probe one gene (drop multi-gene probes)")
    m = m[m["gene"].ne("") & ~m["gene"].str.upper().isin(["NA", "---"])]
    return pd.Series(m["gene"].to_numpy(), index=m["probe"].to_numpy(), name="gene")


# ---------------------------------------------------------------------------------------------
# gene ids
# ---------------------------------------------------------------------------------------------


def _gene_table(opts: CohortOptions) -> GeneTable:
    return load_gene_table(opts.gene_table)


def map_signatures(sigs: Sequence[FrozenSignature], table: GeneTable):
    """Scoring signatures with genes mapped to official symbols (duplicates dropped)."""
    from .scoring import GeneSignature

    out = []
    for s in sigs:
        up = list(dict.fromkeys(table.lookup(g)[0] for g in s.up))
        down = [g for g in dict.fromkeys(table.lookup(g)[0] for g in s.down) if g not in up]
        out.append(GeneSignature(name=s.name, up=tuple(up), down=tuple(down)))
    return out


def _collapse_plan(ids: pd.Index) -> tuple[pd.Index, list[np.ndarray]]:
    """Unique ids (first-occurrence order) and, for each, the input column positions."""
    codes, uniques = pd.factorize(ids, sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    groups = [order[bounds[k]:bounds[k + 1]] for k in range(len(uniques))]
    return pd.Index(uniques), groups


def collapse_dense(df: pd.DataFrame, ids: pd.Index, rule: str, source: str | Path | None = None) -> pd.DataFrame:
    """Collapse columns of a samples × ids frame that share a mapped gene id (see module doc)."""
    uniq, groups = _collapse_plan(ids)
    if len(uniq) == len(ids):
        return df.set_axis(uniq, axis=1)
    dups = [str(uniq[k]) for k, g in enumerate(groups) if len(g) > 1]
    if rule == "error":
        raise input_error(source, f"{len(dups)} gene(s) occur more than once after id mapping (e.g. "
                          f"{', '.join(dups[:5])})", "Set --collapse mean|sum|max|first to combine them")
    X = df.to_numpy(dtype=float)
    out = np.empty((X.shape[0], len(uniq)))
    means = np.nanmean(X, axis=0) if rule == "maxmean" else None
    for k, g in enumerate(groups):
        if len(g) == 1:
            out[:, k] = X[:, g[0]]
            continue
        block = X[:, g]
        with np.errstate(all="ignore"), _quiet_nan():
            if rule == "mean":
                out[:, k] = np.nanmean(block, axis=1)
            elif rule == "sum":
                out[:, k] = np.where(np.isnan(block).all(axis=1), np.nan, np.nansum(block, axis=1))
            elif rule == "max":
                out[:, k] = np.nanmax(block, axis=1)
            elif rule == "first":
                out[:, k] = block[:, 0]
            else:  # maxmean: the probe with the highest cohort mean (cohort-dependent)
                m = np.where(np.isnan(means[g]), -np.inf, means[g])
                out[:, k] = block[:, int(np.argmax(m))]
    logger.info("%s: collapsed %d duplicated gene id(s) by %s (e.g. %s)%s", source, len(dups), rule,
                ", ".join(dups[:3]), " [cohort-dependent rule]" if rule == "maxmean" else "")
    return pd.DataFrame(out, index=df.index, columns=uniq)


class _quiet_nan:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


def _aggregation_matrix(n_in: int, groups: list[np.ndarray], rule: str) -> sp.csr_matrix:
    rows = np.concatenate(groups)
    cols = np.concatenate([np.full(len(g), k) for k, g in enumerate(groups)])
    if rule == "first":
        keep = np.concatenate([g[:1] for g in groups])
        return sp.csr_matrix((np.ones(len(groups)), (keep, np.arange(len(groups)))), shape=(n_in, len(groups)))
    w = np.concatenate([np.full(len(g), 1.0 / len(g) if rule == "mean" else 1.0) for g in groups])
    return sp.csr_matrix((w, (rows, cols)), shape=(n_in, len(groups)))


def coverage_report(sigs, genes: Sequence[str], min_coverage: float) -> pd.DataFrame:
    """Per signature: genes, found, coverage, min_coverage and the missing genes."""
    present = set(map(str, genes))
    rows = []
    for s in sigs:
        all_genes = [*s.up, *s.down]
        missing = [g for g in all_genes if g not in present]
        n = len(all_genes)
        rows.append({"signature": s.name, "n_genes": n, "n_found": n - len(missing),
                     "coverage": (n - len(missing)) / n if n else np.nan, "min_coverage": min_coverage,
                     "n_up_found": sum(g in present for g in s.up), "n_down_found": sum(g in present for g in s.down),
                     "missing_genes": ",".join(missing)})
    return pd.DataFrame(rows)


def check_coverage(cov: pd.DataFrame, ids: Sequence[str], source: str | Path | None) -> None:
    """Refuse no overlap at all, and any signature below its minimum coverage (one-line errors)."""
    if cov["n_found"].sum() == 0:
        example = ", ".join(map(str, list(ids)[:3]))
        raise input_error(source, f"no overlapping genes: none of the {int(cov['n_genes'].sum())} signature genes is "
                          f"among the {len(ids)} input gene ids (e.g. {example})",
                          "Check the gene-id column, --orientation, or the probe map")
    for r in cov.itertuples(index=False):
        logger.info("signature %s: %d/%d genes found (%.1f%%)", r.signature, r.n_found, r.n_genes, 100 * r.coverage)
        if r.coverage < r.min_coverage:
            raise input_error(source, f"signature {r.signature}: only {r.n_found} of {r.n_genes} genes "
                              f"({100 * r.coverage:.1f}%) found, below the minimum coverage "
                              f"{100 * r.min_coverage:.0f}%", "Check gene ids or lower --min-coverage")


# ---------------------------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------------------------


def shard_bounds(n: int, shard: tuple[int, int]) -> tuple[int, int]:
    """Contiguous ``[start, stop)`` of the ``shard[0]``-th of ``shard[1]`` blocks of ``n`` items."""
    i, k = shard
    edges = np.linspace(0, n, k + 1).round().astype(int) if k > 1 else np.array([0, n])
    return int(edges[i]), int(edges[i + 1])


def add_percentiles(scores: pd.DataFrame, sigs: Sequence[FrozenSignature]) -> pd.DataFrame:
    """Add ``percentile``, ``zscore`` and ``reference``: each score against the signature's reference
    distribution (:meth:`ressig.signature.FrozenSignature.reference_distribution`)."""
    from .signature import percentile_zscore

    pct = np.full(len(scores), np.nan)
    z = np.full(len(scores), np.nan)
    label = np.full(len(scores), "", dtype=object)
    for s in sigs:
        ref, name = s.reference_distribution()
        sel = (scores["signature"] == s.name).to_numpy()
        pct[sel], z[sel] = percentile_zscore(scores.loc[sel, "score"].to_numpy(dtype=float), ref)
        label[sel] = name
    return scores.assign(percentile=pct, zscore=z, reference=label)


def _min_coverage(sigs: Sequence[FrozenSignature], opts: CohortOptions) -> float:
    if opts.min_coverage is not None:
        return float(opts.min_coverage)
    return max(float(s.scoring.get("min_coverage", DEFAULT_MIN_COVERAGE)) for s in sigs)


def score_dense(data: pd.DataFrame, sigs: Sequence[FrozenSignature], opts: CohortOptions | None = None,
                source: str | Path | None = None, probe_map: pd.Series | None = None) -> CohortScores:
    """Score a samples × ids DataFrame (bulk or microarray-style) with frozen/GMT signatures."""
    from .scoring import score_matrix

    opts = opts or CohortOptions()
    ids = pd.Index(map(str, data.columns))
    if probe_map is not None:
        keep = ids.isin(probe_map.index)
        n_drop = int((~keep).sum())
        if keep.sum() == 0:
            raise input_error(source, "no probe id of the matrix is in the probe map", "Check --probe-map")
        if n_drop:
            logger.info("%s: dropped %d probe(s) absent from the probe map", source, n_drop)
        data = data.loc[:, keep]
        ids = pd.Index(probe_map.reindex(ids[keep]).to_numpy())
    table = _gene_table(opts)
    mapped, how = table.map_ids(ids)
    mapping = {k: int(v) for k, v in how.value_counts().sort_index().items()}
    logger.info("%s: gene ids mapped: %s", source, ", ".join(f"{k} {v}" for k, v in mapping.items()))
    dup_samples = data.index[data.index.duplicated()]
    if len(dup_samples):
        raise input_error(source, f"duplicated sample name(s): {', '.join(map(str, dup_samples.unique()[:5]))}",
                          "Sample names must be unique")
    data = collapse_dense(data, mapped, opts.collapse, source)
    scoring_sigs = map_signatures(sigs, table)
    min_cov = _min_coverage(sigs, opts)
    cov = coverage_report(scoring_sigs, data.columns, min_cov)
    check_coverage(cov, ids, source)
    lo, hi = shard_bounds(data.shape[0], opts.shard)
    part = data.iloc[lo:hi]
    scores = score_matrix(part.to_numpy(dtype=float), list(data.columns), list(map(str, part.index)),
                          scoring_sigs, min_coverage=0.0, null_draws=opts.null_draws, seed=opts.null_seed)
    return CohortScores(add_percentiles(scores, sigs), cov, data.shape[0], "dense", mapping)


# ---------------------------------------------------------------------------------------------
# .h5ad, backed and chunked
# ---------------------------------------------------------------------------------------------


def _h5_open(path: Path):
    import h5py

    if not path.exists():
        raise input_error(path, "file not found", "Check the --input path")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise input_error(path, f"corrupt or not an .h5ad (HDF5) file ({str(exc).splitlines()[0][:160]})",
                          "Re-create or re-copy the file") from None
    for key in ("obs", "var", "X"):
        if key not in f:
            f.close()
            raise input_error(path, f"not a valid .h5ad: no '{key}' element", "Write the file with anndata")
    return f


class _Matrix:
    """Row-sliceable handle on X or a layer of an open .h5ad (dense or sparse)."""

    def __init__(self, f, key: str, path: Path):
        import h5py
        from anndata.io import sparse_dataset

        if key not in f:
            raise input_error(path, f"layer {key.split('/')[-1]!r} not found "
                              f"(layers: {', '.join(f['layers'].keys()) if 'layers' in f else 'none'})",
                              "Check --layer")
        node = f[key]
        try:
            if isinstance(node, h5py.Group):
                self.ds = sparse_dataset(node)
                self.format = self.ds.format
                self.dtype = node["data"].dtype
            else:
                self.ds = node
                self.format = "dense"
                self.dtype = node.dtype
            self.shape = tuple(self.ds.shape)
        except Exception as exc:  # noqa: BLE001 - malformed sparse groups raise many types
            raise input_error(path, f"cannot read {key} ({type(exc).__name__}: {str(exc)[:160]})",
                              "Check the file is a complete AnnData .h5ad") from None
        if not np.issubdtype(self.dtype, np.number) or np.issubdtype(self.dtype, np.complexfloating):
            raise input_error(path, f"{key} holds non-numeric values (dtype {self.dtype})",
                              "Expression values must be numbers")
        if self.format == "csc":
            logger.warning("%s: %s is CSC; every chunk of cells scans the whole matrix column block by column "
                           "block (memory stays bounded, time grows with the number of chunks: store CSR for "
                           "large files)", path, key)
            self.group = node
        self.path = path

    def _csc_rows(self, start: int, stop: int, block_nnz: int = 4_000_000) -> sp.csr_matrix:
        """Rows ``start:stop`` of a CSC matrix on disk, reading ``block_nnz`` stored values at a time
        (anndata would load the whole matrix for a row slice of CSC)."""
        indptr = self.group["indptr"][...]
        n_genes = self.shape[1]
        rows, cols, vals = [], [], []
        lo_col = 0
        while lo_col < n_genes:
            hi_col = int(np.searchsorted(indptr, indptr[lo_col] + block_nnz, side="right")) - 1
            hi_col = min(n_genes, max(hi_col, lo_col + 1))
            a, b = int(indptr[lo_col]), int(indptr[hi_col])
            idx = self.group["indices"][a:b]
            keep = (idx >= start) & (idx < stop)
            if keep.any():
                col = np.repeat(np.arange(lo_col, hi_col), np.diff(indptr[lo_col:hi_col + 1]))
                rows.append(idx[keep] - start)
                cols.append(col[keep])
                vals.append(self.group["data"][a:b][keep])
            lo_col = hi_col
        if not rows:
            return sp.csr_matrix((stop - start, n_genes))
        return sp.csr_matrix((np.concatenate(vals).astype(float), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(stop - start, n_genes))

    def rows(self, start: int, stop: int):
        try:
            block = self._csc_rows(start, stop) if self.format == "csc" else self.ds[start:stop]
        except Exception as exc:  # noqa: BLE001 - truncated/corrupt datasets raise OSError/KeyError/...
            raise input_error(self.path, f"cannot read cells {start}-{stop} ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:160]})", "The file is corrupt or truncated") from None
        if sp.issparse(block):
            return sp.csr_matrix(block, dtype=float)
        return np.asarray(block, dtype=float)


def _read_elem(f, key: str, path: Path) -> pd.DataFrame:
    from anndata.io import read_elem

    try:
        return read_elem(f[key])
    except Exception as exc:  # noqa: BLE001
        raise input_error(path, f"cannot read {key} ({type(exc).__name__}: {str(exc)[:160]})",
                          "Check the file is a complete AnnData .h5ad") from None


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="cells", disable=not enabled or None, mininterval=2.0,
                leave=False, dynamic_ncols=True)


def score_h5ad(path: str | Path, sigs: Sequence[FrozenSignature], opts: CohortOptions | None = None) -> CohortScores:
    """Score the cells (or ``pseudobulk`` groups) of an ``.h5ad`` file, reading it in chunks."""
    from .scoring import score_matrix

    opts = opts or CohortOptions()
    path = Path(path)
    with _h5_open(path) as f:
        var = _read_elem(f, "var", path)
        obs = _read_elem(f, "obs", path)
        mat = _Matrix(f, "X" if opts.layer is None else f"layers/{opts.layer}", path)
        n_cells, n_vars = mat.shape
        if (n_cells, n_vars) != (len(obs), len(var)):
            raise input_error(path, f"matrix is {n_cells} x {n_vars} but obs/var have {len(obs)}/{len(var)} rows",
                              "The file is inconsistent; re-write it with anndata")
        ids = pd.Index(map(str, var.index))
        table = _gene_table(opts)
        mapped, how = table.map_ids(ids)
        mapping = {k: int(v) for k, v in how.value_counts().sort_index().items()}
        logger.info("%s: gene ids mapped: %s", path, ", ".join(f"{k} {v}" for k, v in mapping.items()))
        genes, groups = _collapse_plan(mapped)
        agg = None
        if len(genes) < len(ids):
            dups = [str(genes[k]) for k, g in enumerate(groups) if len(g) > 1]
            if opts.collapse not in ("mean", "sum", "first"):
                raise input_error(path, f"{len(dups)} gene(s) occur more than once after id mapping (e.g. "
                                  f"{', '.join(dups[:5])}); .h5ad input collapses them by mean, sum or first",
                                  "Set --collapse mean|sum|first")
            agg = _aggregation_matrix(len(ids), groups, opts.collapse)
            logger.info("%s: collapsing %d duplicated gene id(s) by %s", path, len(dups), opts.collapse)
        scoring_sigs = map_signatures(sigs, table)
        cov = coverage_report(scoring_sigs, genes, _min_coverage(sigs, opts))
        check_coverage(cov, ids, path)
        gene_list = list(map(str, genes))

        if opts.pseudobulk is None:
            names = pd.Index(map(str, obs.index))
            if names.has_duplicates:
                raise input_error(path, f"duplicated cell name(s) in obs: {', '.join(names[names.duplicated()][:5])}",
                                  "Make obs_names unique (adata.obs_names_make_unique())")
            lo, hi = shard_bounds(n_cells, opts.shard)
            parts = []
            with _progress(hi - lo, f"scoring {path.name}", opts.progress) as bar:
                for start in range(lo, hi, opts.chunk_size):
                    stop = min(hi, start + opts.chunk_size)
                    block = mat.rows(start, stop)
                    if agg is not None:
                        block = block @ agg
                    parts.append(score_matrix(block, gene_list, list(names[start:stop]), scoring_sigs,
                                              null_draws=opts.null_draws, seed=opts.null_seed))
                    bar.update(stop - start)
                    _log_progress(start - lo, stop - lo, hi - lo, path)
            scores = _merge_chunks(parts, [s.name for s in scoring_sigs])
            n = n_cells
        else:
            if opts.shard[1] > 1:
                raise RessigError("pseudobulk cohorts are scored in one job; set shards to 1 for this cohort")
            if opts.pseudobulk not in obs.columns:
                raise input_error(path, f"obs has no column {opts.pseudobulk!r} for pseudobulk "
                                  f"(columns: {', '.join(map(str, obs.columns[:10]))})", "Check --pseudobulk")
            key = obs[opts.pseudobulk].astype(str)
            levels = sorted(key.unique())
            codes = pd.Categorical(key, categories=levels).codes
            sums = np.zeros((len(levels), len(gene_list)))
            with _progress(n_cells, f"pseudobulk {path.name}", opts.progress) as bar:
                for start in range(0, n_cells, opts.chunk_size):
                    stop = min(n_cells, start + opts.chunk_size)
                    block = mat.rows(start, stop)
                    if agg is not None:
                        block = block @ agg
                    ind = sp.csr_matrix((np.ones(stop - start), (codes[start:stop], np.arange(stop - start))),
                                        shape=(len(levels), stop - start))
                    prod = ind @ block
                    sums += prod.toarray() if sp.issparse(prod) else prod
                    bar.update(stop - start)
                    _log_progress(start, stop, n_cells, path)
            logger.info("%s: pseudobulk of %d cells into %d %s groups", path, n_cells, len(levels), opts.pseudobulk)
            scores = score_matrix(sums, gene_list, levels, scoring_sigs, null_draws=opts.null_draws,
                                  seed=opts.null_seed)
            n = len(levels)
    return CohortScores(add_percentiles(scores, sigs), cov, n, "h5ad", mapping)


def _log_progress(prev: int, done: int, total: int, path: Path) -> None:
    """A log line at every 10% of a long run (the tqdm bar only shows on terminals)."""
    if total >= 50_000 and (10 * done) // total != (10 * prev) // total:
        logger.info("%s: scored %d/%d cells (%.0f%%)", path.name, done, total, 100 * done / total)


def _merge_chunks(parts: list[pd.DataFrame], order: list[str]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=SCORE_COLUMNS[:SCORE_COLUMNS.index("cohort_qvalue")])
    df = pd.concat(parts, ignore_index=True)
    rank = {n: i for i, n in enumerate(order)}
    return df.iloc[np.argsort(df["signature"].map(rank).to_numpy(), kind="stable")].reset_index(drop=True)


def read_and_score(input_path: str | Path, sigs: Sequence[FrozenSignature],
                   opts: CohortOptions | None = None) -> CohortScores:
    """Read any supported cohort input and score it (no files written)."""
    opts = opts or CohortOptions()
    input_path = Path(input_path)
    kind = opts.kind
    if kind == "auto":
        kind = "h5ad" if input_path.name.endswith(".h5ad") else ("microarray" if opts.probe_map else "bulk")
    if kind == "h5ad":
        return score_h5ad(input_path, sigs, opts)
    if opts.pseudobulk:
        raise RessigError("--pseudobulk applies to .h5ad input only")
    probe_map = None
    if kind == "microarray":
        if not opts.probe_map:
            raise RessigError("microarray input needs --probe-map (probe id -> gene table)")
        probe_map = read_probe_map(opts.probe_map)
    data = read_expression(input_path, opts.orientation)
    logger.info("%s: read %d samples x %d %s", input_path, data.shape[0], data.shape[1],
                "probes" if probe_map is not None else "genes")
    return score_dense(data, sigs, opts, source=input_path, probe_map=probe_map)


# ---------------------------------------------------------------------------------------------
# outputs
# ---------------------------------------------------------------------------------------------


def format_scores(scores: pd.DataFrame) -> str:
    """The exact TSV text of a score table (fixed float format, ``\\n`` line ends)."""
    buf = _io.StringIO()
    scores.reindex(columns=SCORE_COLUMNS).to_csv(buf, sep="\t", index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    return buf.getvalue()


def parse_scores(text: str) -> pd.DataFrame:
    """Read score-table text back (sample names as strings)."""
    return pd.read_csv(_io.StringIO(text), sep="\t", dtype={"signature": str, "sample": str, "call": str,
                                                            "reference": str},
                       keep_default_na=False, na_values=[""])


def add_calls_text(text: str, alpha: float) -> str:
    """Score-table text with the cohort-level columns (re)computed over all its rows.

    Sharded runs leave them empty; the gather (and an unsharded run) fills them from the whole
    table's text, so both give the same bytes.
    """
    from .scoring import cohort_calls

    return format_scores(cohort_calls(parse_scores(text), alpha))


def annotate_h5ad(input_path: str | Path, scores: pd.DataFrame, out_path: str | Path,
                  pseudobulk: str | None = None) -> Path:
    """Copy ``input_path`` to ``out_path`` and add the score columns to its ``obs``.

    The copy is byte for byte (``X``, layers, ``uns`` untouched, nothing loaded into memory);
    then only the ``obs`` group is replaced, with ``ressig_<signature>_<column>`` columns.
    With ``pseudobulk``, each cell gets its group's scores.
    """
    import h5py
    from anndata.io import read_elem, write_elem

    input_path, out_path = Path(input_path), Path(out_path)
    with atomic_path(out_path) as tmp:
        shutil.copyfile(input_path, tmp)
        with h5py.File(tmp, "r+") as f:
            obs = read_elem(f["obs"])
            keys = obs[pseudobulk].astype(str).to_numpy() if pseudobulk else obs.index.astype(str).to_numpy()
            for sig, sub in scores.groupby("signature", sort=False):
                sub = sub.set_index(sub["sample"].astype(str))
                for col in OBS_COLUMNS:
                    values = sub[col].reindex(keys)
                    if values.dtype == object:  # text columns (call, reference): no NaN in HDF5 strings
                        values = values.fillna("").astype(str)
                    obs[f"ressig_{sig}_{col}"] = values.to_numpy()
            del f["obs"]
            write_elem(f, "obs", obs)
    return out_path


def _band(scores: pd.DataFrame, s: FrozenSignature) -> np.ndarray:
    """2.5-97.5% of the random-gene-set null for a typical sample of ``scores`` (see scoring.null_band)."""
    from .scoring import null_band

    if "n_genes_measured" not in scores or scores["n_genes_measured"].isna().all() or not (s.up or s.down):
        return np.full(2, np.nan)
    used = float(scores["n_genes_used"].median())
    frac = used / (len(s.up) + len(s.down))
    n_up, n_down = int(round(len(s.up) * frac)), int(round(len(s.down) * frac))
    return null_band(n_up, n_down, int(scores["n_genes_measured"].median()))


CALL_COLOURS = {"high": "#C44E52", "low": "#4C72B0", "ns": "#333333", "": "#333333"}


def plot_score_distribution(scores: pd.DataFrame, sigs: Sequence[FrozenSignature], cohort: str = "cohort",
                            max_points: int = 3000):
    """One panel per signature: reference scores, the cohort's distribution coloured by ``call``, and
    the random-gene-set null band (2.5-97.5%, for the cohort's median gene counts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [s for s in sigs if s.name in set(scores["signature"])][:8]
    fig, axes = plt.subplots(1, max(1, len(shown)), figsize=(3.6 * max(1, len(shown)), 3.8), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, s in zip(axes[0], shown, strict=False):
        ref = s.reference_frame()
        groups = list(dict.fromkeys(ref["group"])) if len(ref) else []
        sub = scores.loc[scores["signature"] == s.name]
        keep = np.isfinite(sub["score"].to_numpy(dtype=float))
        v = sub["score"].to_numpy(dtype=float)[keep]
        calls = (sub["call"].fillna("").astype(str).to_numpy()[keep] if "call" in sub
                 else np.full(v.size, "", dtype=object))
        data, labels = [], []
        for g in groups:
            data.append(ref.loc[ref["group"] == g, "score"].to_numpy(dtype=float))
            labels.append(f"{g}\n(training)")
        if s.reference_cohort:
            data.append(np.asarray(s.reference_cohort["scores"], dtype=float))
            labels.append(f"reference\n(n={len(s.reference_cohort['scores'])})")
        n_ref = len(data)
        data.append(v)
        labels.append(f"{cohort}\n(n={len(v)})")
        colours = ["#4C72B0", "#C44E52", "#55A868", "#8172B2"]
        lo, hi = _band(sub, s)
        if np.isfinite(lo):
            ax.axhspan(lo, hi, color="#BBBBBB", alpha=0.35, lw=0, zorder=0, label="null 2.5-97.5%")
        for i in range(n_ref, len(data)) if len(v) > 2 else ():
            parts = ax.violinplot([data[i]], positions=[i], showextrema=False, widths=0.7)
            for b in parts["bodies"]:
                b.set_alpha(0.25)
                b.set_facecolor("#555555")
        for i, d in enumerate(data):
            pick = np.arange(len(d))
            if len(d) > max_points:
                pick = rng.choice(len(d), max_points, replace=False)
            x = i + rng.uniform(-0.12, 0.12, size=pick.size)
            if i < n_ref:
                ax.scatter(x, d[pick], s=12 if i < len(groups) else 5, alpha=0.9 if i < len(groups) else 0.5,
                           color=colours[i % len(colours)], zorder=3)
            else:
                ax.scatter(x, d[pick], s=5, alpha=0.6, zorder=3,
                           color=[CALL_COLOURS.get(c, "#333333") for c in calls[pick]])
        ax.set_xticks(range(len(data)), labels, fontsize=8)
        ax.set_ylabel("score (rank-based, -1..1)")
        ax.set_title(s.name, fontsize=9)
        ax.axhline(0, color="grey", lw=0.5, ls=":")
        if np.isfinite(lo):
            ax.legend(loc="upper left", fontsize=7, frameon=False)
    fig.suptitle(f"{cohort}: signature scores vs reference; red/blue = called high/low (cohort BH)", fontsize=9)
    fig.tight_layout()
    return fig


@dataclass
class ScoreOutputs:
    """Where :func:`write_outputs` puts things (``None`` = not written)."""

    scores: Path | None
    coverage: Path | None = None
    h5ad: Path | None = None
    plot: Path | None = None


def write_outputs(text: str, coverage: pd.DataFrame | None, sigs: Sequence[FrozenSignature], outputs: ScoreOutputs,
                  input_path: str | Path | None = None, pseudobulk: str | None = None,
                  cohort: str | None = None) -> list[Path]:
    """Write the score TSV (last) and the optional coverage table, ``.h5ad`` and plot.

    Everything is derived from ``text`` (the exact TSV), so sharded and unsharded runs give the
    same files. On any failure the files written so far are removed.
    """
    written: list[Path] = []
    try:
        scores = parse_scores(text)
        if outputs.h5ad is not None:
            if input_path is None or not str(input_path).endswith(".h5ad"):
                raise RessigError("--out-h5ad needs an .h5ad input")
            written.append(annotate_h5ad(input_path, scores, outputs.h5ad, pseudobulk))
        if outputs.plot is not None:
            fig = plot_score_distribution(scores, sigs, cohort or (Path(input_path).name if input_path else "cohort"))
            written.append(save_figure(fig, outputs.plot))
        if outputs.coverage is not None and coverage is not None:
            written.append(write_table(coverage, outputs.coverage, index=False))
        from ._atomic import write_text

        if outputs.scores is not None:
            written.append(write_text(text, outputs.scores))
    except BaseException:
        for p in written:
            Path(p).unlink(missing_ok=True)
        raise
    return written


def score_cohort(signature: str | Path, input_path: str | Path, out: str | Path, *,
                 opts: CohortOptions | None = None, coverage_out: str | Path | None = None,
                 h5ad_out: str | Path | None = None, plot_out: str | Path | None = None,
                 cohort: str | None = None) -> list[Path]:
    """Load the signature(s), score the cohort and write all outputs (the ``ressig score`` API).

    Parameters
    ----------
    signature
        Frozen ``*.ressig.json`` artefact or plain ``.gmt`` file.
    input_path
        Cohort file (see module docstring).
    out
        Score TSV. With ``opts.shard = (i, n)``, ``n > 1``, only shard ``i``'s rows are written
        (gather them with :func:`gather_scores`); the ``.h5ad`` and plot are then left to the gather.
    coverage_out, h5ad_out, plot_out
        Optional coverage table, annotated ``.h5ad`` copy and distribution plot.
    cohort
        Cohort name for the plot (default: input file name).
    """
    opts = opts or CohortOptions()
    sigs = load_signatures(signature)
    res = read_and_score(input_path, sigs, opts)
    text = format_scores(res.scores)
    sharded = opts.shard[1] > 1
    if not sharded:
        text = add_calls_text(text, opts.alpha)
    if sharded and (h5ad_out or plot_out):
        raise RessigError("with --shard, write the .h5ad and the plot when gathering (ressig score-gather)")
    return write_outputs(text, res.coverage, sigs, ScoreOutputs(Path(out), _p(coverage_out), _p(h5ad_out), _p(plot_out)),
                         input_path, opts.pseudobulk, cohort)


def _p(x: str | Path | None) -> Path | None:
    return Path(x) if x is not None else None


def gather_scores(shards: Sequence[str | Path], signature: str | Path, out: str | Path | None, *,
                  coverage: Sequence[str | Path] = (), coverage_out: str | Path | None = None,
                  input_path: str | Path | None = None, h5ad_out: str | Path | None = None,
                  plot_out: str | Path | None = None, pseudobulk: str | None = None,
                  cohort: str | None = None, alpha: float = 0.05) -> list[Path]:
    """Concatenate shard score tables (in the given order) into the unsharded table's exact bytes.

    Rows are regrouped by signature (signature order of the first shard, samples in shard
    order), the same layout an unsharded run writes, and the cohort-level calls are computed
    over all of them (``alpha`` as in the unsharded run). Coverage tables of the shards must agree.
    """
    if not shards:
        raise RessigError("no shard tables to gather")
    header = None
    by_sig: dict[str, list[str]] = {}
    for p in shards:
        p = Path(p)
        if not p.exists():
            raise input_error(p, "shard score table not found", "Run every shard before gathering")
        lines = p.read_text(encoding="utf-8").splitlines(keepends=True)
        if not lines:
            raise input_error(p, "shard score table is empty", "Re-run that shard")
        if header is None:
            header = lines[0]
        elif lines[0] != header:
            raise input_error(p, "shard header differs from the first shard's", "Re-run all shards with one version")
        for ln in lines[1:]:
            by_sig.setdefault(ln.split("\t", 1)[0], []).append(ln)
    text = add_calls_text(header + "".join(ln for rows in by_sig.values() for ln in rows), alpha)
    cov_df = None
    if coverage:
        texts = [Path(c).read_text(encoding="utf-8") for c in coverage]
        if any(t != texts[0] for t in texts[1:]):
            raise RessigError("shard coverage tables differ: shards were scored with different inputs or options")
        cov_df = pd.read_csv(_io.StringIO(texts[0]), sep="\t", keep_default_na=False, na_values=[""])
    sigs = load_signatures(signature)
    written = write_outputs(text, None, sigs, ScoreOutputs(_p(out), None, _p(h5ad_out), _p(plot_out)),
                            input_path, pseudobulk, cohort)
    if cov_df is not None and coverage_out is not None:
        from ._atomic import write_text

        written.append(write_text(Path(coverage[0]).read_text(encoding="utf-8"), coverage_out))
    return written
