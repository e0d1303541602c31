"""Drive the scoring engine over dense and ``.h5ad`` cohorts (sharding, per-sample p-values,
percentiles). The frames returned hold every column of a score table except the cohort-level
ones (:mod:`.calls`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._log import logger
from ..errors import RessigError, input_error
from ..genes import GeneTable
from ..scoring.nullbins import (
    COHORT_BINS,
    COHORT_RANK,
    MIN_BIN_GENES,
    NullPlan,
    cell_levels,
    level_rows,
    plan_null,
    rank_levels,
)
from ..signature.artefact import FrozenSignature
from .h5 import BackedMatrix, h5_open, read_h5_elem
from .idmap import (
    aggregation_matrix,
    check_coverage,
    collapse_dense,
    collapse_plan,
    coverage_report,
    gene_table_for,
    map_signatures,
    mapping_report,
    null_levels,
)
from .levels import (
    CohortIdentity,
    CohortLevels,
    cohort_identity,
    levels_record,
    resolve_cohort_null,
)
from .options import (
    CALL_COLUMNS,
    DEFAULT_MIN_COVERAGE,
    SCORE_COLUMNS,
    CohortOptions,
    CohortScores,
    null_draws_for,
)
from .plan import is_tenx_path, plan_scoring, resolve_kind
from .readers import read_expression, read_probe_map

# scoring
# ---------------------------------------------------------------------------------------------


def shard_bounds(n: int, shard: tuple[int, int]) -> tuple[int, int]:
    """Contiguous ``[start, stop)`` of the ``shard[0]``-th of ``shard[1]`` blocks of ``n`` items."""
    i, k = shard
    edges = np.linspace(0, n, k + 1).round().astype(int) if k > 1 else np.array([0, n])
    return int(edges[i]), int(edges[i + 1])


def add_percentiles(scores: pd.DataFrame, sigs: Sequence[FrozenSignature]) -> pd.DataFrame:
    """Add ``percentile``, ``zscore`` and ``reference``: each score against the signature's reference
    distribution (:meth:`ressig.signature.FrozenSignature.reference_distribution`: the frozen
    reference cohort if any, else the training samples)."""
    from ..stats import percentile_zscore

    pct = np.full(len(scores), np.nan)
    z = np.full(len(scores), np.nan)
    label = np.full(len(scores), "", dtype=object)
    rows = scores.groupby("signature", sort=False).indices  # one hash pass, not one scan per signature
    values = scores["score"].to_numpy(dtype=float)
    for s in sigs:
        sel = rows.get(s.name)
        if sel is None:
            continue
        ref, name = s.reference_distribution()
        pct[sel], z[sel] = percentile_zscore(values[sel], ref)
        label[sel] = name
    return scores.assign(percentile=pct, zscore=z, reference=label)


def _min_coverage(sigs: Sequence[FrozenSignature], opts: CohortOptions) -> float:
    if opts.min_coverage is not None:
        return float(opts.min_coverage)
    return max(float(s.scoring.get("min_coverage", DEFAULT_MIN_COVERAGE)) for s in sigs)


def null_plan(sigs: Sequence[FrozenSignature], table, opts: CohortOptions, draws: int) -> NullPlan:
    """The null of each signature (:mod:`ressig.scoring.nullbins`): frozen levels (artefact or
    ``--null-reference``) now, the cohort's own levels left ``pending`` until the data is read."""
    from ..scoring import DEFAULT_LEVEL_BINS

    names = [s.name for s in sigs]
    ref = opts.null_reference
    if draws and opts.null == "matched" and ref is not None and resolve_kind(ref, CohortOptions()) in ("h5ad", "10x"):
        levels = reference_cell_levels(ref, table, opts)
        n_bins = min(COHORT_BINS, len(levels) // MIN_BIN_GENES)
        if n_bins < 2:
            raise input_error(ref, f"the null reference holds {len(levels)} genes, too few for two expression-level "
                              f"bins of {MIN_BIN_GENES}", "Give a reference with the cohort's genes, or --null uniform")
        return plan_null(names, dict.fromkeys(names, levels), null=opts.null, draws=draws, reference=True,
                         n_bins=n_bins)
    return plan_null(names, null_levels(sigs, table, opts, draws), null=opts.null, draws=draws,
                     reference=ref is not None, n_bins=DEFAULT_LEVEL_BINS)


def reference_cell_levels(path: str | Path, table, opts: CohortOptions) -> dict[str, float]:
    """Mean expression of each gene over the cells of a single-cell ``--null-reference`` (``.h5ad``
    ``X`` or 10x output; ids mapped and duplicates collapsed by ``opts.collapse`` mean/sum/first):
    :func:`ressig.scoring.nullbins.cell_levels`, frozen for every shard and cohort scored with it."""
    path = Path(path)
    if not path.exists():
        raise input_error(path, "null reference file not found",
                          "Check the --null-reference path (workflow: the cohort's null_reference)")
    with open_cells(path, CohortOptions(progress=False)) as ref:
        mapped, _ = table.map_ids(pd.Index(map(str, ref.var_names)))
        genes, groups = collapse_plan(mapped)
        agg = None
        if len(genes) < len(mapped):
            agg = aggregation_matrix(len(mapped), groups, opts.collapse if opts.collapse in ("sum", "first") else "mean")
        logger.info("%s: null reference of %d cells", path, ref.n_cells)
        return cell_levels(ref.rows, ref.n_cells, list(map(str, genes)), agg)


def with_null_method(scores: pd.DataFrame, plan: NullPlan, names: Sequence[str]) -> pd.DataFrame:
    """Add the ``null_method`` column to a signature-major score frame of ``names`` (in place: the
    engine's fresh frame, not copied once more per chunk); returns it."""
    scores["null_method"] = plan.column(names, len(scores) // max(1, len(names)))
    return scores


def prepare_dense(data: pd.DataFrame, opts: CohortOptions, source: str | Path | None = None,
                  probe_map: pd.Series | None = None) -> DenseInput:
    """A samples × ids matrix as scored: probes mapped to genes (``probe_map``), gene ids mapped
    through the gene table, duplicated sample names refused, duplicated ids collapsed (``opts.collapse``)."""
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
    table = gene_table_for(opts)
    mapped, how = table.map_ids(ids)
    mapping = {k: int(v) for k, v in how.value_counts().sort_index().items()}
    logger.info("%s: gene ids mapped: %s", source, ", ".join(f"{k} {v}" for k, v in mapping.items()))
    dup_samples = data.index[data.index.duplicated()]
    if len(dup_samples):
        raise input_error(source, f"duplicated sample name(s): {', '.join(map(str, dup_samples.unique()[:5]))}",
                          "Sample names must be unique")
    n_ids = data.shape[1]
    data = collapse_dense(data, mapped, opts.collapse, source)
    identity = cohort_identity(list(map(str, data.columns)), list(map(str, data.index)), "samples",
                               collapse=opts.collapse if data.shape[1] < n_ids else None)
    return DenseInput(data, ids, table, mapping, mapping_report(ids, mapped, how, source), identity)


@dataclass
class DenseInput:
    """A dense cohort as scored (:func:`prepare_dense`)."""

    data: pd.DataFrame  # samples x genes, ids mapped and collapsed
    ids: pd.Index  # the input's ids (probes mapped to genes)
    table: GeneTable
    mapping: dict[str, int]
    report: pd.DataFrame
    identity: CohortIdentity

    def levels(self) -> dict[str, float]:
        """The cohort's own levels (``matched:cohort-rank``): mean rank fractions of :func:`level_rows`."""
        rows = level_rows(list(map(str, self.data.index)))
        return rank_levels(self.data.to_numpy(dtype=float)[rows], list(self.data.columns))


def score_dense(data: pd.DataFrame, sigs: Sequence[FrozenSignature], opts: CohortOptions | None = None,
                source: str | Path | None = None, probe_map: pd.Series | None = None) -> CohortScores:
    """Score a samples × ids DataFrame (bulk or microarray-style) with frozen/GMT signatures."""
    from ..scoring import score_matrix

    opts = opts or CohortOptions()
    dense = prepare_dense(data, opts, source, probe_map)
    data, ids, table = dense.data, dense.ids, dense.table
    scoring_sigs = map_signatures(sigs, table)
    draws = null_draws_for(opts, cells=False)
    # the whole cohort's levels (every shard computes the same), or those of opts.null_levels
    nulls = resolve_cohort_null(null_plan(sigs, table, opts, draws), opts, dense.identity, dense.levels)
    min_cov = _min_coverage(sigs, opts)
    cov = coverage_report(scoring_sigs, data.columns, min_cov)
    check_coverage(cov, ids, source)
    lo, hi = shard_bounds(data.shape[0], opts.shard)
    part = data.iloc[lo:hi]
    scores = score_matrix(part.to_numpy(dtype=float), list(data.columns), list(map(str, part.index)),
                          scoring_sigs, min_coverage=0.0, null_draws=draws, seed=opts.null_seed,
                          gene_levels=nulls.levels, level_bins=nulls.bins)
    scores = with_null_method(scores, nulls, [s.name for s in scoring_sigs])
    return CohortScores(add_percentiles(scores, sigs), cov, data.shape[0], "dense", dense.mapping, dense.report)


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="cells", disable=not enabled or None, mininterval=2.0,
                leave=False, dynamic_ncols=True)


# ---------------------------------------------------------------------------------------------
# cells: .h5ad (backed), 10x, in-memory AnnData
# ---------------------------------------------------------------------------------------------


@dataclass
class GenePlan:
    """How the input's genes become scoring genes: ids mapped, duplicates collapsed, coverage."""

    genes: list[str]
    agg: sp.csr_matrix | None
    scoring_sigs: list
    coverage: pd.DataFrame
    mapping: dict[str, int]
    report: pd.DataFrame
    null_levels: dict[str, dict[str, float]]
    null: NullPlan


def plan_genes(var_names: Sequence[str], sigs: Sequence[FrozenSignature], opts: CohortOptions,
               source: str | Path | None, cells: Cells | None = None) -> GenePlan:
    """Map the input's gene ids, plan the collapse of duplicates (mean, sum or first, applied to
    each chunk as a sparse product) and check the signatures' coverage. With ``cells`` (scored as
    cells, not pseudobulk), signatures without frozen levels get the matched null of the cohort's
    mean expression (a first pass over all cells, whatever the shard: :mod:`ressig.scoring.nullbins`),
    or the levels of ``opts.null_levels`` (made once by ``ressig null-levels``: :mod:`.levels`)."""
    ids = pd.Index(map(str, var_names))
    table = gene_table_for(opts)
    mapped, how = table.map_ids(ids)
    mapping = {k: int(v) for k, v in how.value_counts().sort_index().items()}
    logger.info("%s: gene ids mapped: %s", source, ", ".join(f"{k} {v}" for k, v in mapping.items()))
    genes, groups = collapse_plan(mapped)
    agg = None
    if len(genes) < len(ids):
        dups = [str(genes[k]) for k, g in enumerate(groups) if len(g) > 1]
        if opts.collapse not in ("mean", "sum", "first"):
            raise input_error(source, f"{len(dups)} gene(s) occur more than once after id mapping (e.g. "
                              f"{', '.join(dups[:5])}); .h5ad input collapses them by mean, sum or first",
                              "Set --collapse mean|sum|first")
        agg = aggregation_matrix(len(ids), groups, opts.collapse)
        logger.info("%s: collapsing %d duplicated gene id(s) by %s", source, len(dups), opts.collapse)
    scoring_sigs = map_signatures(sigs, table)
    cov = coverage_report(scoring_sigs, genes, _min_coverage(sigs, opts))
    check_coverage(cov, ids, source)
    draws = null_draws_for(opts, cells=opts.pseudobulk is None)  # what iter_cell_scores / pseudobulk draw
    genes = list(map(str, genes))
    nulls = null_plan(sigs, table, opts, draws)
    if cells is not None and opts.pseudobulk is None and (nulls.pending or opts.null_levels is not None):
        # the cohort's own levels: a first pass, or opts.null_levels (checked even when not needed)
        identity, first_pass = cell_cohort(cells, genes, agg, opts)
        nulls = resolve_cohort_null(nulls, opts, identity, first_pass)
    return GenePlan(genes, agg, scoring_sigs, cov, mapping, mapping_report(ids, mapped, how, source), nulls.levels,
                    nulls)


def cell_cohort(cells: Cells, genes: list[str], agg: sp.csr_matrix | None,
                opts: CohortOptions) -> tuple[CohortIdentity, Callable[[], dict[str, float]]]:
    """The identity of a cell cohort (:func:`ressig.cohort.levels.cohort_identity`) and the first
    pass computing its own levels (``matched:cohort-mean``: :func:`ressig.scoring.nullbins.cell_levels`)."""
    identity = cohort_identity(genes, list(cells.names), "cells", layer=opts.layer,
                               collapse=opts.collapse if agg is not None else None)
    return identity, lambda: cell_levels(cells.rows, cells.n_cells, genes, agg)


@dataclass
class Cells:
    """Row-sliceable cells of an AnnData-like input (bounded memory when backed)."""

    rows: Callable[[int, int], object]  # (start, stop) -> float CSR or ndarray, cells x genes
    n_cells: int
    var_names: pd.Index
    obs: pd.DataFrame
    source: str | Path
    matrix: str  # "X" or "layers/<name>" (for messages)
    layers: list[str]

    @property
    def names(self) -> pd.Index:
        return pd.Index(map(str, self.obs.index))


def _as_float_rows(block):
    if sp.issparse(block):
        return sp.csr_matrix(block, dtype=float)
    return np.asarray(block, dtype=float)


def cells_from_adata(adata, layer: str | None = None, source: str = "AnnData") -> Cells:
    """:class:`Cells` over an in-memory or backed :class:`anndata.AnnData` (``X`` or ``layer``)."""
    if layer is not None and layer not in adata.layers:
        raise RessigError(f"{source}: layer {layer!r} not found (layers: {', '.join(adata.layers) or 'none'}); "
                          "check layer=")
    X = adata.X if layer is None else adata.layers[layer]
    if X is None:
        raise RessigError(f"{source}: X is empty; pass layer=")
    return Cells(lambda a, b: _as_float_rows(X[a:b]), adata.n_obs, pd.Index(map(str, adata.var_names)), adata.obs,
                 source, "X" if layer is None else f"layers/{layer}", list(adata.layers))


def read_10x(path: str | Path):
    """Read Cell Ranger output with scanpy: ``filtered_feature_bc_matrix.h5`` or the ``matrix.mtx``
    directory (gene symbols as var names, made unique later by the id mapping's collapse)."""
    import scanpy as sc

    path = Path(path)
    if not path.exists():
        raise input_error(path, "file not found", "Check the --input path")
    try:
        if path.is_dir():
            adata = sc.read_10x_mtx(path, var_names="gene_symbols", make_unique=False, cache=False)
        else:
            adata = sc.read_10x_h5(path)
    except (OSError, KeyError, ValueError, IndexError) as exc:
        raise input_error(path, f"cannot read 10x Genomics output ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:160] if str(exc) else ''})",
                          "Give a Cell Ranger filtered_feature_bc_matrix.h5 or its matrix.mtx directory") from None
    return adata


@contextlib.contextmanager
def open_cells(path: str | Path, opts: CohortOptions) -> Iterator[Cells]:
    """Cells of an ``.h5ad`` (backed, read chunk by chunk) or a 10x output (in memory)."""
    path = Path(path)
    if is_tenx_path(path):
        adata = read_10x(path)
        logger.info("%s: read 10x output, %d cells x %d genes", path, adata.n_obs, adata.n_vars)
        yield cells_from_adata(adata, opts.layer, str(path))
        return
    with h5_open(path) as f:
        var = read_h5_elem(f, "var", path)
        obs = read_h5_elem(f, "obs", path)
        key = "X" if opts.layer is None else f"layers/{opts.layer}"
        mat = BackedMatrix(f, key, path)
        n_cells, n_vars = mat.shape
        if (n_cells, n_vars) != (len(obs), len(var)):
            raise input_error(path, f"matrix is {n_cells} x {n_vars} but obs/var have {len(obs)}/{len(var)} rows",
                              "The file is inconsistent; re-write it with anndata")
        layers = list(f["layers"].keys()) if "layers" in f else []
        yield Cells(mat.rows, n_cells, pd.Index(map(str, var.index)), obs, path, key, layers)


def iter_cell_scores(cells: Cells, plan: GenePlan, sigs: Sequence[FrozenSignature], opts: CohortOptions, *,
                     dispersion: bool = True) -> Iterator[pd.DataFrame]:
    """Score the cells of ``opts.shard`` chunk by chunk; yields one long table per chunk
    (signature-major, percentiles added). Memory is bounded by ``opts.chunk_size``."""
    from ..scoring import score_matrix

    names = cells.names
    if names.has_duplicates:
        raise input_error(cells.source, f"duplicated cell name(s) in obs: {', '.join(names[names.duplicated()][:5])}",
                          "Make obs_names unique (adata.obs_names_make_unique())")
    lo, hi = shard_bounds(cells.n_cells, opts.shard)
    label = Path(str(cells.source)).name
    sig_names = [s.name for s in plan.scoring_sigs]
    with _progress(hi - lo, f"scoring {label}", opts.progress) as bar:
        for start in range(lo, hi, opts.chunk_size):
            stop = min(hi, start + opts.chunk_size)
            block = cells.rows(start, stop)
            if plan.agg is not None:
                block = block @ plan.agg
            chunk = score_matrix(block, plan.genes, list(names[start:stop]), plan.scoring_sigs, dispersion=dispersion,
                                 null_draws=null_draws_for(opts, cells=True), seed=opts.null_seed,
                                 gene_levels=plan.null.levels, level_bins=plan.null.bins)
            yield add_percentiles(with_null_method(chunk, plan.null, sig_names), sigs)
            bar.update(stop - start)
            _log_progress(start - lo, stop - lo, hi - lo, label)


def _check_counts(block, cells: Cells, start: int) -> None:
    """Pseudobulk sums raw counts: refuse negative or non-integer values, naming what to use."""
    vals = block.data if sp.issparse(block) else np.asarray(block).ravel()
    bad = (vals < 0) | (vals != np.round(vals)) | ~np.isfinite(vals)
    if not bad.any():
        return
    v = vals[np.argmax(bad)]
    counts_like = [x for x in cells.layers if "count" in x.lower() or x.lower() == "raw"]
    fix = (f"Pass --layer {counts_like[0]} (a layer of raw counts)" if counts_like else
           "Store raw counts in a layer (adata.layers['counts'] = counts) and pass --layer counts")
    raise input_error(cells.source, f"pseudobulk needs raw counts but {cells.matrix} holds "
                      f"{'negative' if v < 0 else 'non-integer'} values (e.g. {v:.6g} in cells "
                      f"{start}-{start + block.shape[0]}), e.g. log-normalised data", fix)


def pseudobulk_matrix(cells: Cells, plan: GenePlan, key: str, opts: CohortOptions) -> tuple[np.ndarray, list[str]]:
    """Sum the raw counts of the cells of each ``obs[key]`` group, chunk by chunk, with
    :func:`scanpy.get.aggregate`. Cells with a missing label are left out, counted and logged."""
    import anndata as ad
    import scanpy as sc

    if key not in cells.obs.columns:
        raise input_error(cells.source, f"obs has no column {key!r} for pseudobulk "
                          f"(columns: {', '.join(map(str, cells.obs.columns[:10]))})", "Check --pseudobulk")
    raw = cells.obs[key]
    missing = raw.isna().to_numpy() | raw.astype(str).str.strip().isin(["", "nan", "NaN", "None"]).to_numpy()
    labels = raw.astype(str).to_numpy()
    levels = sorted(set(labels[~missing]))
    if not levels:
        raise input_error(cells.source, f"obs[{key!r}] has no label at all", "Check --pseudobulk")
    if missing.any():
        logger.warning("%s: %d cell(s) with a missing %r label left out of the pseudobulk", cells.source,
                       int(missing.sum()), key)
    sums = np.zeros((len(levels), len(plan.genes)))
    label = Path(str(cells.source)).name
    with _progress(cells.n_cells, f"pseudobulk {label}", opts.progress) as bar:
        for start in range(0, cells.n_cells, opts.chunk_size):
            stop = min(cells.n_cells, start + opts.chunk_size)
            block = cells.rows(start, stop)
            _check_counts(block, cells, start)
            if plan.agg is not None:
                block = block @ plan.agg
            keep = ~missing[start:stop]
            if keep.any():
                groups = pd.Categorical(labels[start:stop][keep], categories=levels)
                part = ad.AnnData(X=block[np.flatnonzero(keep)], obs=pd.DataFrame({"g": groups},
                                  index=pd.RangeIndex(int(keep.sum())).astype(str)))
                agg = sc.get.aggregate(part, by="g", func="sum")
                s = agg.layers["sum"]
                pos = pd.Index(levels).get_indexer(agg.obs_names)
                sums[pos] += s.toarray() if sp.issparse(s) else np.asarray(s)
            bar.update(stop - start)
            _log_progress(start, stop, cells.n_cells, label)
    logger.info("%s: pseudobulk of %d cells into %d %s groups (%d cells without a label left out)", cells.source,
                int((~missing).sum()), len(levels), key, int(missing.sum()))
    return sums, levels


def score_cells(cells: Cells, sigs: Sequence[FrozenSignature], opts: CohortOptions) -> CohortScores:
    """Score all cells (concatenated long table) or, with ``opts.pseudobulk``, the groups."""
    from ..scoring import score_matrix

    plan = plan_genes(cells.var_names, sigs, opts, cells.source, cells)
    if opts.pseudobulk is None:
        scores = _merge_chunks(list(iter_cell_scores(cells, plan, sigs, opts)), [s.name for s in plan.scoring_sigs])
        n = cells.n_cells
    else:
        if opts.shard[1] > 1:
            raise RessigError("pseudobulk cohorts are scored in one job; set shards to 1 for this cohort")
        sums, levels = pseudobulk_matrix(cells, plan, opts.pseudobulk, opts)
        nulls = (plan.null.resolve(rank_levels(sums[level_rows(levels)], plan.genes), COHORT_RANK, len(levels))
                 if plan.null.pending else plan.null)
        scores = score_matrix(sums, plan.genes, levels, plan.scoring_sigs, null_draws=null_draws_for(opts, cells=False),
                              seed=opts.null_seed, gene_levels=nulls.levels, level_bins=nulls.bins)
        scores = add_percentiles(with_null_method(scores, nulls, [s.name for s in plan.scoring_sigs]), sigs)
        n = len(levels)
    return CohortScores(scores, plan.coverage, n, "h5ad", plan.mapping, plan.report)


def score_h5ad(path: str | Path, sigs: Sequence[FrozenSignature], opts: CohortOptions | None = None) -> CohortScores:
    """Score the cells (or ``pseudobulk`` groups) of an ``.h5ad`` file (or 10x output), reading
    it in chunks. The cells' long table is held in memory: use :func:`ressig.cohort.score_cohort`
    (streamed to disk) for large files."""
    opts = opts or CohortOptions()
    with open_cells(path, opts) as cells:
        return score_cells(cells, sigs, opts)


def _log_progress(prev: int, done: int, total: int, label: str) -> None:
    """A log line at every 10% of a long run (the tqdm bar only shows on terminals)."""
    if total >= 50_000 and (10 * done) // total != (10 * prev) // total:
        logger.info("%s: scored %d/%d cells (%.0f%%)", label, done, total, 100 * done / total)


def _merge_chunks(parts: list[pd.DataFrame], order: list[str]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=[c for c in SCORE_COLUMNS if c not in CALL_COLUMNS])
    df = pd.concat(parts, ignore_index=True)
    rank = {n: i for i, n in enumerate(order)}
    return df.iloc[np.argsort(df["signature"].map(rank).to_numpy(), kind="stable")].reset_index(drop=True)


def read_dense(input_path: Path, kind: str, opts: CohortOptions) -> tuple[pd.DataFrame, pd.Series | None]:
    """The samples × ids matrix of a ``bulk``/``microarray`` input and, for microarrays, its probe map."""
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
    return data, probe_map


def read_and_score(input_path: str | Path, sigs: Sequence[FrozenSignature],
                   opts: CohortOptions | None = None, kind: str | None = None) -> CohortScores:
    """Read any supported cohort input and score it (no files written); ``kind`` as planned, else
    resolved from the path (:func:`ressig.cohort.plan.resolve_kind`)."""
    opts = opts or CohortOptions()
    input_path = Path(input_path)
    kind = kind or resolve_kind(input_path, opts)
    if kind in ("h5ad", "10x"):
        return score_h5ad(input_path, sigs, opts)
    data, probe_map = read_dense(input_path, kind, opts)
    return score_dense(data, sigs, opts, source=input_path, probe_map=probe_map)


def cohort_levels(signature: str | Path, input_path: str | Path, opts: CohortOptions | None = None) -> CohortLevels:
    """The cohort's own gene levels of the matched null, as a scoring run computes them (the
    ``ressig null-levels`` API; write them with :func:`ressig.cohort.levels.write_levels`).

    Cells: the first pass over all cells (mean expression); bulk/microarray: the mean rank
    fractions of :func:`ressig.scoring.nullbins.level_rows`. When no signature needs them (frozen
    artefact levels, ``null_reference``, ``null="uniform"``, no random sets drawn), the record
    holds no levels and says why. ``opts.shard`` and ``opts.null_levels`` are ignored.
    """
    from ..signature.artefact import load_signatures

    opts = replace(opts or CohortOptions(), null_levels=None, shard=(0, 1))
    if opts.pseudobulk is not None:
        raise RessigError("pseudobulk cohorts are scored in one job and compute their levels themselves; "
                          "ressig null-levels is for cells and bulk samples")
    input_path = Path(input_path)
    sigs = load_signatures(signature)
    plan = plan_scoring(input_path, opts)
    opts = plan.opts
    if plan.cells:
        with open_cells(input_path, opts) as cells:
            genes = plan_genes(cells.var_names, sigs, opts, input_path)  # no first pass here ...
            identity, first_pass = cell_cohort(cells, genes.genes, genes.agg, opts)
            return levels_record(genes.null, identity, first_pass)  # ... but here, if needed
    data, probe_map = read_dense(input_path, plan.kind, opts)
    dense = prepare_dense(data, opts, input_path, probe_map)
    nulls = null_plan(sigs, dense.table, opts, null_draws_for(opts, cells=False))
    return levels_record(nulls, dense.identity, dense.levels)


# ---------------------------------------------------------------------------------------------
# outputs
