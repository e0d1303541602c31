"""Single-sample, rank-based gene-signature scores (singscore-style).

The score of a sample depends on that sample alone: genes are ranked *within* the sample, so a
patient's score is the same whether it is scored alone or inside any cohort, and it is unchanged
by any strictly increasing transform of its expression values (log, scaling, normalisation by a
per-sample factor). This follows singscore (Foroutan et al. 2018, BMC Bioinformatics 19:404):

* within-sample ranks, ascending (1 = lowest expression), ties get their average rank; genes not
  measured in a sample (``NaN``) are left out of that sample's ranking (``N`` = measured genes);
* ``up_score`` = mean rank of the ``n`` measured up genes, normalised by its theoretical minimum
  ``(n + 1) / 2`` and maximum ``(2N - n + 1) / 2`` to [0, 1], then centred (−0.5 … 0.5);
* ``down_score`` = the same on reversed ranks ``N + 1 - rank`` of the down genes;
* ``score`` = ``up_score + down_score`` (or the one part a signature has): −1 … 1 with both;
* ``dispersion`` = median absolute deviation (scaled by 1.4826, as R's ``mad``) of the ranks of
  the up genes plus that of the down genes (singscore's ``TotalDispersion``).

Implementation: samples are processed in row blocks; each block is ranked in one pass (NumPy
``argsort``, then a compiled numba walk that averages tie groups and scatters ranks back) and the per-signature rank sums and gene counts come from a
sparse gene × signature-part membership product. Sparse input (CSR/CSC) is ranked without
densifying: implicit zeros are real zeros, all tied, and their shared rank is computed
analytically from the number of negative, zero and stored values of the row.

P-values against random gene sets: :mod:`ressig.scoring.null`; cohort-dependent ssGSEA:
:mod:`ressig.scoring.ssgsea`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._log import logger
from ..errors import RessigError
from .celldraws import CellNull
from .dispersion import part_mads
from .kernels import gather_sparse, normalise, rank_dense, rank_sparse, sparse_part_sums
from .null import GeneOrder, LevelBins, Matched, PosBins, RankBlock, null_pvalues
from .types import (
    BLOCK_CELLS,
    DEFAULT_LEVEL_BINS,
    DEFAULT_NULL_SEED,
    SCORE_COLUMNS,
    GeneSignature,
)

# ----------------------------------------------------------------------------------------------
# ranking


# ----------------------------------------------------------------------------------------------
# signatures -> membership


@dataclass
class _Parts:
    """Signature parts (up / down) as columns of a sparse membership matrix over gathered genes."""

    cols: np.ndarray  # matrix column of each gathered gene (union of all signature genes present)
    membership: sp.csc_matrix  # gathered genes × parts
    part_genes: list[np.ndarray]  # per part: positions into ``cols``
    up_part: list[int | None]  # per signature: part index of its up genes (None if empty)
    down_part: list[int | None]
    total: np.ndarray  # per signature: number of distinct genes (up + down), present or not
    present: np.ndarray  # per signature: genes present in the matrix's gene list


def _check_inputs(X, genes: Sequence[str], samples: Sequence[str], signatures: Sequence[GeneSignature],
                  min_coverage: float) -> tuple[list[str], list[str]]:
    if X.ndim != 2:
        raise RessigError(f"expression matrix must be 2-D (samples x genes), got {X.ndim}-D")
    genes = [str(g) for g in genes]
    samples = [str(s) for s in samples]
    if X.shape != (len(samples), len(genes)):
        raise RessigError(f"expression matrix is {X.shape[0]} x {X.shape[1]} but {len(samples)} sample and "
                          f"{len(genes)} gene names were given; X must be samples x genes")
    if len(set(genes)) < len(genes):
        dup = pd.Index(genes)[pd.Index(genes).duplicated()][0]
        raise RessigError(f"gene {dup!r} appears more than once in the expression matrix; make gene ids unique "
                          "(e.g. sum duplicates) before scoring")
    if len(set(samples)) < len(samples):
        dup = pd.Index(samples)[pd.Index(samples).duplicated()][0]
        raise RessigError(f"sample {dup!r} appears more than once; sample names must be unique")
    if not signatures:
        raise RessigError("no signatures to score")
    if not 0.0 <= float(min_coverage) <= 1.0:
        raise RessigError(f"min_coverage must be between 0 and 1, got {min_coverage}")
    names = [s.name for s in signatures]
    if len(set(names)) < len(names):
        dup = pd.Index(names)[pd.Index(names).duplicated()][0]
        raise RessigError(f"signature name {dup!r} is used twice; signature names must be unique")
    for s in signatures:
        if not isinstance(s, GeneSignature):
            raise RessigError(f"expected GeneSignature objects, got {type(s).__name__}")
        if not s.up and not s.down:
            raise RessigError(f"signature {s.name!r} has no genes")
        both = sorted(set(map(str, s.up)) & set(map(str, s.down)))
        if both:
            raise RessigError(f"signature {s.name!r} lists {', '.join(both[:5])} as both up and down; a gene can "
                              "only be in one direction")
    return genes, samples


def _build_parts(genes: list[str], signatures: Sequence[GeneSignature]) -> _Parts:
    index = {g: i for i, g in enumerate(genes)}
    part_cols: list[list[int]] = []
    up_part: list[int | None] = []
    down_part: list[int | None] = []
    total = np.zeros(len(signatures), dtype=np.int64)
    present = np.zeros(len(signatures), dtype=np.int64)
    for k, s in enumerate(signatures):
        up = list(dict.fromkeys(map(str, s.up)))
        down = list(dict.fromkeys(map(str, s.down)))
        total[k] = len(up) + len(down)
        for genes_part, slot in ((up, up_part), (down, down_part)):
            if not genes_part:
                slot.append(None)
                continue
            cols = [index[g] for g in genes_part if g in index]
            present[k] += len(cols)
            slot.append(len(part_cols))
            part_cols.append(cols)
    union = np.unique(np.concatenate([np.asarray(c, dtype=np.int64) for c in part_cols]
                                     + [np.empty(0, dtype=np.int64)]))
    where = {c: i for i, c in enumerate(union.tolist())}
    part_genes = [np.asarray([where[c] for c in cols], dtype=np.int64) for cols in part_cols]
    rows = np.concatenate([pg for pg in part_genes] + [np.empty(0, dtype=np.int64)])
    colidx = np.concatenate([np.full(len(pg), j, dtype=np.int64) for j, pg in enumerate(part_genes)]
                            + [np.empty(0, dtype=np.int64)])
    membership = sp.csc_matrix((np.ones(rows.size), (rows, colidx)), shape=(union.size, len(part_cols)))
    return _Parts(cols=union, membership=membership, part_genes=part_genes, up_part=up_part,
                  down_part=down_part, total=total, present=present)


def _part_scores(gathered: np.ndarray, n_measured: np.ndarray, parts: _Parts, dispersion: bool = True):
    """Per part: normalised centred mean rank (ascending), used-gene count and MAD of ranks
    (NaN when ``dispersion`` is False: the medians are most of the cost with many signatures)."""
    measured = ~np.isnan(gathered)
    filled = np.where(measured, gathered, 0.0)
    mt = parts.membership.T.tocsr()  # parts × gathered genes
    sums = np.asarray(mt @ filled.T).T  # samples × parts
    used = np.asarray(mt @ measured.T.astype(float)).T
    up, down = normalise(sums, used, n_measured.reshape(-1, 1))
    if not dispersion:
        mad = np.full((gathered.shape[0], len(parts.part_genes)), np.nan)
    else:
        mad = part_mads(gathered, parts.part_genes)
    return up, down, used, mad


def _sparse_part_sums(ranks: sp.csr_matrix, is_nan: np.ndarray, zero_rank: np.ndarray,
                      full_membership: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Rank sums and measured-gene counts per part straight from a ranked CSR block, without a
    dense samples × genes array: stored ranks in one compiled walk (:func:`.kernels.sparse_part_sums`),
    the implicit zeros as ``zero_rank × (part size − stored genes of the part)``."""
    rank_sum, n_stored, n_nan = sparse_part_sums(ranks, is_nan, full_membership)  # stored NaN carry rank 0
    size = np.asarray(full_membership.sum(axis=0), dtype=float).reshape(1, -1)
    used = size - n_nan
    sums = rank_sum + zero_rank.reshape(-1, 1) * (size - n_stored - n_nan)
    return sums, used


# ----------------------------------------------------------------------------------------------
# null distribution of random gene sets (per-sample p-values)


def block_rows(n_rows: int, n_genes: int) -> int:
    """Rows ranked at once: about :data:`BLOCK_CELLS` matrix cells per block, at least one row."""
    return int(max(1, min(n_rows, BLOCK_CELLS // max(1, n_genes))))


def score_matrix(X, genes: Sequence[str], samples: Sequence[str], signatures: Sequence[GeneSignature], *,
                 min_coverage: float = 0.0, dispersion: bool = True, null_draws: int = 0,
                 seed: int = DEFAULT_NULL_SEED, gene_levels: Mapping[str, Mapping[str, float]] | None = None,
                 level_bins: int | Mapping[str, int] = DEFAULT_LEVEL_BINS) -> pd.DataFrame:
    """Score every sample against every signature (single-sample, rank-based).

    Parameters
    ----------
    X
        Samples × genes expression: a float ``numpy`` array (``NaN`` = gene not measured in that
        sample) or a ``scipy.sparse`` CSR/CSC matrix (implicit zeros are real zeros; stored NaN =
        not measured). Any monotone scale works (counts, CPM, log): only within-sample ranks matter.
    genes
        Gene ids of the columns of ``X`` (unique).
    samples
        Sample names of the rows of ``X`` (unique).
    signatures
        Signatures to score; genes absent from ``genes`` are reported as missing.
    min_coverage
        Refuse (``RessigError`` naming the signature) when a signature's genes used / total is below
        this fraction in any sample.
    dispersion
        Compute ``dispersion`` (median absolute deviation of ranks); ``False`` leaves it NaN and
        saves most of the time when many signatures are scored (wide single-cell outputs that
        do not ask for it).
    null_draws
        Random gene sets per null distribution; ``0`` (default) computes no p-values, otherwise
        the columns ``n_genes_measured``, ``pvalue`` and ``pvalue_low`` are added (see the module
        docstring).
    seed
        Seed of the random gene sets (the same seed and sizes give the same sets in any call).
    gene_levels
        Optional ``{signature name: {gene: reference level}}``: those signatures' p-values use the
        **matched** null (random sets with the signature's profile over ``level_bins`` quantile
        bins of the reference level, :class:`LevelBins`); the others the uniform null.
    level_bins
        Number of level bins of the matched null, or ``{signature name: bins}``
        (:data:`DEFAULT_LEVEL_BINS` for signatures it does not name).

    Returns
    -------
    DataFrame
        One row per (signature, sample), signatures in input order, samples in input order, with
        columns ``signature, sample, score, up_score, down_score, dispersion, n_genes_used,
        n_genes_missing`` (+ ``n_genes_measured, pvalue, pvalue_low`` with ``null_draws``).
        ``down_score`` is NaN for up-only signatures (and ``up_score`` for down-only ones); scores
        (and p-values) are NaN when a part has no measured gene in the sample.
    """
    is_sparse = sp.issparse(X)
    if is_sparse:
        X = sp.csr_matrix(X)
        if not np.issubdtype(X.dtype, np.number):
            raise RessigError("sparse expression matrix must be numeric")
    else:
        try:
            X = np.asarray(X, dtype=float)
        except (TypeError, ValueError):
            raise RessigError("expression matrix must be numeric (samples x genes)") from None
    genes, samples = _check_inputs(X, genes, samples, signatures, min_coverage)
    if int(null_draws) < 0:
        raise RessigError(f"null_draws must be >= 0, got {null_draws}")
    null_draws = int(null_draws)
    values = X.data if is_sparse else X
    with np.errstate(all="ignore"):
        suspect = not np.isfinite(values.sum())  # one pass; NaN (not measured) also lands here, then checked
    if suspect and np.isinf(values).any():
        raise RessigError("expression matrix contains infinite values; replace them, or set them to NaN "
                          "(= not measured)")
    parts = _build_parts(genes, signatures)
    n_sig, n_samp = len(signatures), len(samples)
    universe_cov = parts.present / parts.total
    for k, s in enumerate(signatures):
        if universe_cov[k] < min_coverage:
            raise RessigError(f"signature {s.name!r}: only {parts.present[k]} of {parts.total[k]} genes "
                              f"({100 * universe_cov[k]:.0f}%) are in the expression data, below min_coverage "
                              f"{100 * min_coverage:.0f}%; check gene ids (symbols vs Ensembl) or lower min_coverage")
        if parts.present[k] < parts.total[k]:
            logger.info("signature %s: %d of %d genes present in the expression data", s.name,
                        parts.present[k], parts.total[k])

    n_parts = len(parts.part_genes)
    up_all = np.full((n_samp, n_parts), np.nan)
    down_all = np.full((n_samp, n_parts), np.nan)
    used_all = np.zeros((n_samp, n_parts))
    mad_all = np.full((n_samp, n_parts), np.nan)
    pvals = np.full((2, n_sig, n_samp), np.nan)
    n_measured_all = np.zeros(n_samp, dtype=np.int64)
    gene_order = GeneOrder(genes) if null_draws else None
    matched = (_matched_nulls(genes, signatures, parts, gene_levels, level_bins, gene_order) if null_draws
               else [None] * n_sig)
    step = block_rows(n_samp, len(genes))
    if is_sparse and not dispersion and X.nnz and not np.isnan(X.data).any():
        # no dense rows x genes block is ever made: bound the ranking's padded rows x longest-row array
        # instead (far more rows per block: the per-block, per-signature work of the null is paid less often)
        step = block_rows(n_samp, int(np.diff(X.indptr).max()))
    full_membership = None
    if is_sparse and not dispersion:  # membership over all genes of X (genes × parts)
        m = parts.membership.tocoo()
        full_membership = sp.csr_matrix((m.data, (parts.cols[m.row], m.col)), shape=(len(genes), m.shape[1]))
    cell_null = None  # sparse cells measuring every gene: all signatures' draws in one walk per cell (celldraws)
    if null_draws and is_sparse and not dispersion:
        cell_null = CellNull(len(genes), [tuple(None if p is None else len(parts.part_genes[p]) for p in
                                                (parts.up_part[k], parts.down_part[k])) for k in range(n_sig)],
                             matched, gene_order, null_draws, int(seed))
    n_blocks = (n_samp + step - 1) // step
    for b, lo in enumerate(range(0, n_samp, step)):
        hi = min(n_samp, lo + step)
        if is_sparse and not dispersion:  # no dense gathered ranks needed
            ranks, is_nan, zero_rank, n_measured = rank_sparse(X[lo:hi])
            sums, used = _sparse_part_sums(ranks, is_nan, zero_rank, full_membership)
            up, down = normalise(sums, used, n_measured.reshape(-1, 1))
            mad = np.full(up.shape, np.nan)
            block = RankBlock(None, n_measured, gene_order, (ranks, is_nan, zero_rank))
        else:
            if is_sparse:
                ranks, is_nan, zero_rank, n_measured = rank_sparse(X[lo:hi])
                gathered = gather_sparse(ranks, is_nan, zero_rank, parts.cols)
                block = RankBlock(None, n_measured, gene_order, (ranks, is_nan, zero_rank))
            else:
                ranks, n_measured = rank_dense(X[lo:hi])
                gathered = ranks[:, parts.cols]
                block = RankBlock(ranks, n_measured, gene_order)
            up, down, used, mad = _part_scores(gathered, n_measured, parts, dispersion)
        up_all[lo:hi], down_all[lo:hi], used_all[lo:hi], mad_all[lo:hi] = up, down, used, mad
        n_measured_all[lo:hi] = n_measured
        full = n_measured == len(genes) if cell_null is not None else None
        cell_obs = np.full((hi - lo, n_sig), np.nan) if cell_null is not None and full.any() else None
        for k in range(n_sig if null_draws else 0):
            pu, pd_ = parts.up_part[k], parts.down_part[k]
            observed = np.zeros(hi - lo)
            n_up, n_down = np.zeros(hi - lo), np.zeros(hi - lo)
            if pu is not None:
                observed, n_up = observed + up[:, pu], used[:, pu]
            if pd_ is not None:
                observed, n_down = observed + down[:, pd_], used[:, pd_]
            if cell_obs is not None and cell_null.covers[k]:  # full rows to the one walk, the rest below
                cell_obs[:, k] = np.where(full, observed, np.nan)
                observed = np.where(full, np.nan, observed)
            pvals[:, k, lo:hi] = null_pvalues(block, observed, n_up, n_down, pu is not None, pd_ is not None,
                                               null_draws, int(seed), matched[k])
        if cell_obs is not None:
            pvals[:, :, lo:hi] = np.where(np.outer(cell_null.covers, full),
                                          cell_null.pvalues(ranks, zero_rank, cell_obs).transpose(0, 2, 1),
                                          pvals[:, :, lo:hi])
        if n_blocks > 4 and (b + 1) % max(1, n_blocks // 4) == 0:
            logger.info("scored %d/%d samples", hi, n_samp)

    score = np.full((n_sig, n_samp), np.nan)
    up_score = np.full((n_sig, n_samp), np.nan)
    down_score = np.full((n_sig, n_samp), np.nan)
    dispersion = np.zeros((n_sig, n_samp))
    n_used = np.zeros((n_sig, n_samp))
    for k in range(n_sig):  # loop over signatures (not samples): column picks only
        total = np.zeros(n_samp)
        pu, pd_ = parts.up_part[k], parts.down_part[k]
        if pu is not None:
            up_score[k] = up_all[:, pu]
            total += up_score[k]
            dispersion[k] += mad_all[:, pu]
            n_used[k] += used_all[:, pu]
        if pd_ is not None:
            down_score[k] = down_all[:, pd_]
            total += down_score[k]
            dispersion[k] += mad_all[:, pd_]
            n_used[k] += used_all[:, pd_]
        score[k] = total
        cov = n_used[k] / parts.total[k]
        if min_coverage > 0 and (cov < min_coverage).any():
            j = int(np.argmin(cov))
            raise RessigError(f"signature {signatures[k].name!r}: only {int(n_used[k, j])} of {parts.total[k]} "
                              f"genes measured in sample {samples[j]!r} ({100 * cov[j]:.0f}%), below "
                              f"min_coverage {100 * min_coverage:.0f}%; lower min_coverage or drop that sample")
    used_int = n_used.astype(np.int64)
    out = pd.DataFrame({
        "signature": np.repeat([s.name for s in signatures], n_samp),
        "sample": np.tile(np.asarray(samples, dtype=object), n_sig),
        "score": score.ravel(),
        "up_score": up_score.ravel(),
        "down_score": down_score.ravel(),
        "dispersion": dispersion.ravel(),
        "n_genes_used": used_int.ravel(),
        "n_genes_missing": (parts.total.reshape(-1, 1) - used_int).ravel(),
    }, columns=SCORE_COLUMNS)
    if null_draws:
        out["n_genes_measured"] = np.tile(n_measured_all, n_sig)
        out["pvalue"], out["pvalue_low"] = pvals[0].ravel(), pvals[1].ravel()
    return out


def reference_levels(data: pd.DataFrame, decimals: int = 4) -> dict[str, float]:
    """Reference expression level of each gene: its mean within-sample rank fraction.

    ``data`` is genes × samples (any monotone scale: counts, CPM, log, microarray). Each sample's
    genes are ranked (ties averaged, NaN left out) and divided by its number of measured genes;
    a gene's level is the mean over the samples measuring it, rounded to ``decimals`` (a compact,
    scale-free summary used only to stratify the matched null, :class:`LevelBins`).
    """
    ranks, n_measured = rank_dense(data.to_numpy(dtype=float).T)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = ranks / n_measured.reshape(-1, 1)
    counts = (~np.isnan(frac)).sum(axis=0)
    mean = np.where(counts > 0, np.nansum(frac, axis=0) / np.maximum(counts, 1), np.nan)
    return {str(g): round(float(v), decimals) for g, v in zip(data.index, mean, strict=True) if np.isfinite(v)}


def _matched_nulls(genes: list[str], signatures: Sequence[GeneSignature], parts: _Parts,
                   gene_levels: Mapping[str, Mapping[str, float]] | None, level_bins: int | Mapping[str, int],
                   gene_order: GeneOrder) -> list[Matched | None]:
    """Per signature, what its matched null needs (``None``: uniform null)."""
    out: list[Matched | None] = []
    bins_of: dict[tuple[int, int], tuple[LevelBins, PosBins]] = {}  # one binning per levels mapping and bins
    empty = np.empty(0, dtype=np.int64)
    for k, s in enumerate(signatures):
        levels = (gene_levels or {}).get(s.name)
        if not levels:
            out.append(None)
            continue
        n_bins = (int(level_bins.get(s.name, DEFAULT_LEVEL_BINS)) if isinstance(level_bins, Mapping)
                  else int(level_bins))
        if (id(levels), n_bins) not in bins_of:
            lb = LevelBins(genes, levels, n_bins)
            bins_of[id(levels), n_bins] = lb, PosBins(lb.by_column[gene_order.order], lb.n_bins)
        lb, full = bins_of[id(levels), n_bins]
        cols = [parts.cols[parts.part_genes[p]] if p is not None else empty
                for p in (parts.up_part[k], parts.down_part[k])]
        out.append(Matched(lb.by_column, lb.n_bins, *cols, full))
    return out


def score_frame(data: pd.DataFrame, signatures: Sequence[GeneSignature], *, min_coverage: float = 0.0,
                null_draws: int = 0, seed: int = DEFAULT_NULL_SEED,
                gene_levels: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """:func:`score_matrix` for a genes × samples DataFrame (index = gene ids, columns = samples)."""
    try:
        X = data.to_numpy(dtype=float).T
    except (TypeError, ValueError):
        bad = next((c for c in data.columns if not pd.api.types.is_numeric_dtype(data[c])), data.columns[0])
        raise RessigError(f"expression column {bad!r} is not numeric") from None
    return score_matrix(X, list(map(str, data.index)), list(map(str, data.columns)), signatures,
                        min_coverage=min_coverage, null_draws=null_draws, seed=seed, gene_levels=gene_levels)


