"""Drive the scoring engine over dense and ``.h5ad`` cohorts (sharding, percentiles)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._log import logger
from ..errors import RessigError, input_error
from ..signature import FrozenSignature
from .h5 import _h5_open, _Matrix, _read_elem
from .idmap import (
    _aggregation_matrix,
    _collapse_plan,
    _gene_table,
    check_coverage,
    collapse_dense,
    coverage_report,
    map_signatures,
)
from .options import DEFAULT_MIN_COVERAGE, SCORE_COLUMNS, CohortOptions, CohortScores
from .readers import read_expression, read_probe_map

# scoring
# ---------------------------------------------------------------------------------------------


def shard_bounds(n: int, shard: tuple[int, int]) -> tuple[int, int]:
    """Contiguous ``[start, stop)`` of the ``shard[0]``-th of ``shard[1]`` blocks of ``n`` items."""
    i, k = shard
    edges = np.linspace(0, n, k + 1).round().astype(int) if k > 1 else np.array([0, n])
    return int(edges[i]), int(edges[i + 1])


def add_percentiles(scores: pd.DataFrame, sigs: Sequence[FrozenSignature]) -> pd.DataFrame:
    """Add ``percentile``: mid-rank percentile of each score among the signature's training samples."""
    pct = np.full(len(scores), np.nan)
    for s in sigs:
        ref = np.array([r.get("score") for r in s.reference if r.get("score") is not None], dtype=float)
        if not ref.size:
            continue
        ref.sort()
        sel = (scores["signature"] == s.name).to_numpy()
        v = scores.loc[sel, "score"].to_numpy(dtype=float)
        below = np.searchsorted(ref, v, side="left")
        upto = np.searchsorted(ref, v, side="right")
        p = 100.0 * (below + 0.5 * (upto - below)) / ref.size
        pct[sel] = np.where(np.isnan(v), np.nan, p)
    return scores.assign(percentile=pct)


def _min_coverage(sigs: Sequence[FrozenSignature], opts: CohortOptions) -> float:
    if opts.min_coverage is not None:
        return float(opts.min_coverage)
    return max(float(s.scoring.get("min_coverage", DEFAULT_MIN_COVERAGE)) for s in sigs)


def score_dense(data: pd.DataFrame, sigs: Sequence[FrozenSignature], opts: CohortOptions | None = None,
                source: str | Path | None = None, probe_map: pd.Series | None = None) -> CohortScores:
    """Score a samples × ids DataFrame (bulk or microarray-style) with frozen/GMT signatures."""
    from ..scoring import score_matrix

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
                          scoring_sigs, min_coverage=0.0)
    return CohortScores(add_percentiles(scores, sigs), cov, data.shape[0], "dense", mapping)



def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="cells", disable=not enabled or None, mininterval=2.0,
                leave=False, dynamic_ncols=True)



def score_h5ad(path: str | Path, sigs: Sequence[FrozenSignature], opts: CohortOptions | None = None) -> CohortScores:
    """Score the cells (or ``pseudobulk`` groups) of an ``.h5ad`` file, reading it in chunks."""
    from ..scoring import score_matrix

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
                    parts.append(score_matrix(block, gene_list, list(names[start:stop]), scoring_sigs))
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
            scores = score_matrix(sums, gene_list, levels, scoring_sigs)
            n = len(levels)
    return CohortScores(add_percentiles(scores, sigs), cov, n, "h5ad", mapping)


def _log_progress(prev: int, done: int, total: int, path: Path) -> None:
    """A log line at every 10% of a long run (the tqdm bar only shows on terminals)."""
    if total >= 50_000 and (10 * done) // total != (10 * prev) // total:
        logger.info("%s: scored %d/%d cells (%.0f%%)", path.name, done, total, 100 * done / total)


def _merge_chunks(parts: list[pd.DataFrame], order: list[str]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=SCORE_COLUMNS[:-1])
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
