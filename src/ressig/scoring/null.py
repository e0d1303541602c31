"""Random-gene-set null of the single-sample score: per-sample p-values, matched nulls, the plot band.

Per-sample p-values (``null_draws > 0``; singscore's ``generateNull``/``getPvals`` idea): for
each sample and signature, the score is compared with the scores of ``null_draws`` random gene
sets of the same size and up/down split, drawn among the genes **measured in that sample**:

* ``n_up``/``n_down`` are the sample's used (measured) up/down genes and ``N`` its measured genes;
  a draw picks ``n_up + n_down`` distinct positions among the ``N`` measured genes sorted by gene
  id (Floyd's algorithm, then a shuffle assigns the first ``n_up`` to the up part). The draws
  depend only on ``(seed, n_up, n_down, N)``, so every sample with the same sizes shares them (one
  sparse position × draw membership matrix multiplied with the sample block's ranks) and a
  sample's p-value depends neither on the other samples scored with it, nor on block/chunk
  sizes, nor on the column order of its file;
* ``pvalue = (k + 1) / (n + 1)`` with ``k`` = draws scoring **at least** the sample's score
  (one-sided, "higher than random"), ``pvalue_low`` the same for "at most" (lower than random);
  ties count against the sample (conservative), which matters for sparse single-cell rows where
  many genes share the zero rank;
* random sets are exchangeable with signature genes only if genes were independent: co-expressed
  signature genes (a real pathway) give small p-values because they *are* coherent, which is the
  point; the p-value is exact for the "random gene set" null, not for a "random sample" null
  (that needs a reference cohort: :mod:`ressig.signature`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import RessigError
from .drawsums import draw_rank_sums, half_units
from .kernels import draw_positions, gather_sparse, normalise, normalise_part, sparse_draw_sums
from .types import DEFAULT_LEVEL_BINS, DEFAULT_NULL_DRAWS, DEFAULT_NULL_SEED

#: Null scores within this distance of the observed score count as ties (scores lie in -1..1).
TIE_TOL = 1e-12


def null_draws(n_up: int, n_down: int, n_pop: int, draws: int, seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Random gene sets as sparse position × draw membership matrices (up part, down part).

    Parameters
    ----------
    n_up, n_down
        Sizes of the up and down parts (a draw holds ``n_up + n_down`` distinct positions).
    n_pop
        Number of positions to draw from (the sample's measured genes).
    draws
        Number of random sets.
    seed
        Base seed; the draws are a pure function of ``(seed, n_up, n_down, n_pop, draws)``.

    Returns
    -------
    (csr_matrix, csr_matrix)
        ``n_pop × draws`` 0/1 matrices; treat them as read-only (they are cached).
    """
    up, down = draw_sets(n_up, n_down, n_pop, draws, seed)
    return up.membership(), down.membership()


class DrawSet:
    """One part (up or down) of ``draws`` random gene sets: the draws × n drawn positions (distinct
    within a draw) and, built when first asked for, the ``n_pop × draws`` 0/1 membership matrix."""

    def __init__(self, positions: np.ndarray, n_pop: int):
        self.positions = positions
        self.n_pop = int(n_pop)
        self._member: sp.csr_matrix | None = None

    @property
    def n_draws(self) -> int:
        return self.positions.shape[0]

    def membership(self) -> sp.csr_matrix:
        """``n_pop × draws`` 0/1 matrix (cached: treat it as read-only)."""
        if self._member is None:
            self._member = _membership(self.positions, self.n_pop)
        return self._member


@lru_cache(maxsize=128)  # one entry per (sizes, N): signatures of a chunk rarely have more
def draw_sets(n_up: int, n_down: int, n_pop: int, draws: int, seed: int) -> tuple[DrawSet, DrawSet]:
    """The random gene sets of :func:`null_draws` as :class:`DrawSet` (up part, down part)."""
    n = n_up + n_down
    if n > n_pop or n < 1:
        raise RessigError(f"cannot draw {n} genes among {n_pop} measured genes")
    rng = np.random.default_rng([int(seed), int(n_up), int(n_down), int(n_pop)])
    pos = np.empty((draws, n), dtype=np.int64)
    draw_positions(rng.random((draws, 2 * n)), int(n_pop), pos)
    return DrawSet(pos[:, :n_up], n_pop), DrawSet(pos[:, n_up:], n_pop)


def _membership(pos: np.ndarray, n_pop: int) -> sp.csr_matrix:
    """``n_pop × draws`` 0/1 matrix from a draws × n array of positions."""
    draws, n = pos.shape  # a draw's positions are distinct: one column each, built as CSC (no COO sort)
    member = sp.csc_matrix((np.ones(pos.size), np.sort(pos, axis=1).ravel(), np.arange(draws + 1) * n),
                           shape=(n_pop, draws))
    return member.tocsr()


class LevelBins:
    """Expression-level bin of every gene of a scoring call: the strata of the **matched** null.

    Genes are cut into ``n_bins`` quantile bins of a *reference* level (e.g. the mean log
    expression of the signature's training samples, frozen in its artefact); genes of the data
    without a reference level join the bin of the median level. The bins depend on the gene
    columns of the data and the frozen levels only, never on the samples scored.
    """

    def __init__(self, genes: Sequence[str], levels: Mapping[str, float], n_bins: int = DEFAULT_LEVEL_BINS):
        if int(n_bins) < 1:
            raise RessigError(f"level bins must be >= 1, got {n_bins}")
        lv = pd.Series(levels, dtype=float).reindex(pd.Index(list(genes))).to_numpy()
        known = np.isfinite(lv)
        if known.sum() < 2 * int(n_bins):
            raise RessigError(f"only {int(known.sum())} genes of the data have a reference expression level: too few "
                              f"for a matched null with {n_bins} bins; use the uniform null (--null uniform)")
        edges = np.quantile(lv[known], np.linspace(0, 1, int(n_bins) + 1)[1:-1])
        bins = np.searchsorted(edges, lv, side="right")
        bins[~known] = np.searchsorted(edges, np.median(lv[known]), side="right")
        self.by_column = bins.astype(np.int64)
        self.n_bins = int(n_bins)


class PosBins:
    """Bins of the positions a null draws from (measured genes in gene-id order), hashable by content."""

    def __init__(self, bins: np.ndarray, n_bins: int):
        self.bins = np.ascontiguousarray(bins, dtype=np.int64)
        self.n_bins = n_bins
        self.digest = hashlib.blake2b(self.bins.tobytes(), digest_size=8).digest()
        self.pools = [np.flatnonzero(self.bins == b) for b in range(n_bins)]

    def __hash__(self) -> int:
        return hash(self.digest)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PosBins) and self.digest == other.digest


def matched_null_draws(up_counts: tuple[int, ...], down_counts: tuple[int, ...], pos_bins: PosBins, draws: int,
                       seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Random gene sets matched to a signature's expression levels (see :func:`null_draws`).

    ``up_counts[b]``/``down_counts[b]`` genes of the up/down part lie in level bin ``b``; every
    draw takes that many distinct positions from the positions of bin ``b`` (Floyd + shuffle per
    bin, as :func:`null_draws`), so a random set has the signature's level profile. The draws are
    a pure function of the counts, the positions' bins, ``draws`` and ``seed``.
    """
    up, down = matched_draw_sets(up_counts, down_counts, pos_bins, draws, seed)
    return up.membership(), down.membership()


@lru_cache(maxsize=128)
def matched_draw_sets(up_counts: tuple[int, ...], down_counts: tuple[int, ...], pos_bins: PosBins, draws: int,
                      seed: int) -> tuple[DrawSet, DrawSet]:
    """The random gene sets of :func:`matched_null_draws` as :class:`DrawSet` (up part, down part)."""
    ku, kd = np.asarray(up_counts, dtype=np.int64), np.asarray(down_counts, dtype=np.int64)
    n_pop = pos_bins.bins.size
    rng = np.random.default_rng([int(seed), int(n_pop), int.from_bytes(pos_bins.digest, "little"), *ku.tolist(),
                                 *kd.tolist()])
    up = np.empty((draws, int(ku.sum())), dtype=np.int64)
    down = np.empty((draws, int(kd.sum())), dtype=np.int64)
    iu = idn = 0
    for b in np.flatnonzero(ku + kd):
        pool, nu, nd = pos_bins.pools[b], int(ku[b]), int(kd[b])
        if nu + nd > pool.size:
            raise RessigError(f"cannot draw {nu + nd} genes among the {pool.size} of level bin {b}")
        out = np.empty((draws, nu + nd), dtype=np.int64)
        draw_positions(rng.random((draws, 2 * (nu + nd))), int(pool.size), out)
        out = pool[out]
        up[:, iu:iu + nu], down[:, idn:idn + nd] = out[:, :nu], out[:, nu:]
        iu, idn = iu + nu, idn + nd
    return DrawSet(up, n_pop), DrawSet(down, n_pop)


class GeneOrder:
    """Draw positions index the measured genes **sorted by gene id**, not the input's column order.

    So a sample's p-value depends neither on the other samples nor on how the columns of its
    file are ordered. Holds the permutation and the column-order membership matrices of one call.
    """

    def __init__(self, genes: Sequence[str]):
        self.order = np.argsort(np.asarray(genes, dtype=object), kind="stable")  # position -> column
        self.position = np.empty(len(genes), dtype=np.int64)
        self.position[self.order] = np.arange(len(genes))  # column -> position
        self._by_column: dict[tuple, sp.csr_matrix] = {}  # (key, dtype) -> membership

    def by_column(self, key: tuple, member: DrawSet, dtype=np.float64) -> sp.csr_matrix:
        """``member``'s membership (positions × draws, all genes measured) re-indexed by input column."""
        if (key, dtype) not in self._by_column:
            self._by_column[key, dtype] = member.membership()[self.position].astype(dtype)
        return self._by_column[key, dtype]

    def draws_by_column(self, key: tuple, member: DrawSet) -> tuple[np.ndarray, np.ndarray]:
        """``(indptr, columns)`` of every draw of ``member`` (all genes measured), by input column,
        straight from the drawn positions (the membership matrix is not needed)."""
        if (key, "draws") not in self._by_column:
            cols = self.order[member.positions].astype(np.int32)
            cols.sort(axis=1)
            n = cols.shape[1]
            self._by_column[key, "draws"] = (np.arange(cols.shape[0] + 1, dtype=np.int64) * n, cols.ravel())
        return self._by_column[key, "draws"]


class RankBlock:
    """Ranks of one block of samples, in the forms the null computation needs (built lazily)."""

    def __init__(self, dense: np.ndarray | None, n_measured: np.ndarray, gene_order: GeneOrder, sparse=None):
        self.dense = dense  # samples × genes ranks (NaN = not measured), or None for sparse input
        self.sparse = sparse  # (ranks CSR, is_nan, zero_rank) for sparse input
        self.n_measured = n_measured
        self.gene_order = gene_order
        self._stored = None
        self._dense_t: dict = {}  # dtype -> genes x rows ranks
        self.null_cache: dict[tuple, np.ndarray] = {}  # (sizes, parts, rows) -> null scores, shared by signatures

    def _dense(self) -> np.ndarray:
        if self.dense is None:
            ranks, is_nan, zero_rank = self.sparse
            self.dense = gather_sparse(ranks, is_nan, zero_rank, np.arange(ranks.shape[1]))
        return self.dense

    def rank_sums(self, rows: np.ndarray, member: DrawSet, n_part: int, key: tuple) -> np.ndarray:
        """rows × draws sums of the ranks at the drawn positions (positions among measured genes)."""
        if n_part == 0:
            return np.zeros((rows.size, member.n_draws))
        n_genes = (self.dense if self.dense is not None else self.sparse[0]).shape[1]
        if (self.n_measured[rows] == n_genes).all():  # every gene measured: permute the draws, not the ranks
            if self.sparse is not None and self.dense is None:
                by_col = self.gene_order.by_column(key, member)
                ranks, _, zero_rank = self.sparse
                if self._stored is None:  # stored ranks relative to the row's zero rank: implicit zeros add 0
                    row = np.repeat(np.arange(ranks.shape[0]), np.diff(ranks.indptr))
                    self._stored = sp.csr_matrix((ranks.data - zero_rank[row], ranks.indices, ranks.indptr),
                                                 shape=ranks.shape)
                sub = self._stored if rows.size == ranks.shape[0] else self._stored[rows]  # rows: sorted, unique
                out = np.zeros((rows.size, member.n_draws))
                sparse_draw_sums(sub.indptr, sub.indices, sub.data, by_col.indptr, by_col.indices, out)
                return out + zero_rank[rows].reshape(-1, 1) * n_part
            if rows.size == self.dense.shape[0]:  # exact integer sums of uint16 half-units (drawsums)
                if "half" not in self._dense_t:
                    self._dense_t["half"] = half_units(self.dense)
                if self._dense_t["half"] is not None:
                    out = draw_rank_sums(self._dense_t["half"], self.gene_order.draws_by_column(key, member), n_part)
                    if out is not None:
                        return out
            # ranks are half-integers <= n_genes: while 2 * n_part * n_genes <= 2**24 every partial sum is exact
            # in float32, so the float32 product gives the float64 sums bit for bit at half the memory traffic
            dtype = np.float32 if 2 * n_part * n_genes <= 1 << 24 else np.float64
            by_col = self.gene_order.by_column(key, member, dtype)
            if rows.size == self.dense.shape[0]:  # genes x rows, C-contiguous: made once per block, not per product
                if dtype not in self._dense_t:
                    self._dense_t[dtype] = np.ascontiguousarray(self.dense.T, dtype=dtype)
                dense_t = self._dense_t[dtype]
            else:
                dense_t = np.ascontiguousarray(self.dense[rows].T, dtype=dtype)
            return np.asarray(by_col.T @ dense_t, dtype=float).T
        # rows with unmeasured genes: their measured genes in gene-id order
        block = self._dense()[rows][:, self.gene_order.order]
        block = block[~np.isnan(block)].reshape(rows.size, member.n_pop)
        return np.asarray(member.membership().T @ block.T).T


@dataclass(frozen=True)
class Matched:
    """What a matched null needs of one signature: level bin of every column, the parts' columns,
    and the bins of all positions (every gene measured), shared by the signatures of one binning."""

    col_bins: np.ndarray
    n_bins: int
    up_cols: np.ndarray
    down_cols: np.ndarray
    full: PosBins


def _matched_groups(ranks: RankBlock, matched: Matched, ok: np.ndarray):
    """Rows of ``ok`` grouped by measured-gene pattern, with each group's draw key and positions' bins.

    Rows measuring every gene form one group; rows with unmeasured genes are grouped by their
    pattern (their positions are their own measured genes in gene-id order)."""
    n_genes = matched.col_bins.size
    idx = np.flatnonzero(ok)
    full = ranks.n_measured[idx] == n_genes
    order = ranks.gene_order.order
    groups = []
    if full.any():
        measured = np.ones(n_genes, dtype=bool)
        groups.append((idx[full], measured))
    if (~full).any():
        masks = ~np.isnan(ranks._dense()[idx[~full]])
        uniq, inv = np.unique(masks, axis=0, return_inverse=True)
        for g in range(uniq.shape[0]):
            groups.append((idx[~full][inv.ravel() == g], uniq[g]))
    for rows, measured in groups:
        pos_bins = matched.full if measured.all() else PosBins(matched.col_bins[order][measured[order]],
                                                                matched.n_bins)
        ku = np.bincount(matched.col_bins[matched.up_cols[measured[matched.up_cols]]], minlength=matched.n_bins)
        kd = np.bincount(matched.col_bins[matched.down_cols[measured[matched.down_cols]]], minlength=matched.n_bins)
        yield rows, pos_bins, tuple(ku.tolist()), tuple(kd.tolist())


def empirical_pvalue(k, draws: int):
    """``(k + 1) / (draws + 1)``: the p-value of ``k`` of ``draws`` random sets scoring at least as far
    out as the sample (the sample counted as one of the draws, so never 0)."""
    return (k + 1.0) / (draws + 1.0)


def null_pvalues(ranks: RankBlock, observed: np.ndarray, n_up: np.ndarray, n_down: np.ndarray,
                  has_up: bool, has_down: bool, draws: int, seed: int,
                  matched: Matched | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-row one-sided empirical p-values (high, low) of ``observed`` against random gene sets
    (uniform over the measured genes, or ``matched`` to the signature's expression-level bins)."""
    m = observed.size
    p_high = np.full(m, np.nan)
    p_low = np.full(m, np.nan)
    ok = np.isfinite(observed)
    if not ok.any():
        return p_high, p_low
    if matched is None:
        keys = np.column_stack([ranks.n_measured, n_up, n_down]).astype(np.int64)
        uniq, inverse = np.unique(keys[ok], axis=0, return_inverse=True)
        idx_ok = np.flatnonzero(ok)
        plan = [(idx_ok[inverse.ravel() == g], (int(big_n), int(nu), int(nd)))
                for g, (big_n, nu, nd) in enumerate(uniq)]
    else:
        plan = [(rows, (pos_bins, ku, kd)) for rows, pos_bins, ku, kd in _matched_groups(ranks, matched, ok)]
    for rows, sizes in plan:
        key = (*sizes, has_up, has_down, rows.tobytes())
        null = ranks.null_cache.get(key)
        if null is None:  # signatures of the same sizes (level profile) share the draws and the null scores
            if matched is None:
                big_n, nu, nd = sizes
                up_m, down_m = draw_sets(nu, nd, big_n, draws, seed)
            else:
                pos_bins, ku, kd = sizes
                big_n, nu, nd = pos_bins.bins.size, sum(ku), sum(kd)
                up_m, down_m = matched_draw_sets(ku, kd, pos_bins, draws, seed)
            null = None
            if has_up:
                null = normalise_part(ranks.rank_sums(rows, up_m, nu, (*sizes, "up")), nu, big_n, True)
            if has_down:
                down = normalise_part(ranks.rank_sums(rows, down_m, nd, (*sizes, "down")), nd, big_n, False)
                null = down if null is None else np.add(null, down, out=null)
            ranks.null_cache[key] = null
        obs = observed[rows].reshape(-1, 1)
        p_high[rows] = empirical_pvalue((null >= obs - TIE_TOL).sum(axis=1), draws)
        p_low[rows] = empirical_pvalue((null <= obs + TIE_TOL).sum(axis=1), draws)
    return p_high, p_low


def null_band(n_up: int, n_down: int, n_pop: int, draws: int = DEFAULT_NULL_DRAWS, seed: int = DEFAULT_NULL_SEED,
              quantiles: Sequence[float] = (0.025, 0.975)) -> np.ndarray:
    """Quantiles of the random-gene-set null for a sample whose ``n_pop`` measured genes are untied.

    Without ties a sample's ranks are ``1..N`` whatever its values, so this *is* the null of every
    untied sample with these sizes (the same draws as :func:`score_matrix`); with ties (sparse
    single-cell rows) it is an approximation, used only to draw the band of the score plot.
    """
    n_up, n_down, n_pop = int(n_up), int(n_down), int(n_pop)
    if n_up + n_down < 1 or n_up + n_down > n_pop:
        return np.full(len(quantiles), np.nan)
    ranks = np.arange(1.0, n_pop + 1.0)
    up_m, down_m = null_draws(n_up, n_down, n_pop, int(draws), int(seed))
    null = np.zeros(int(draws))
    if n_up:
        null += normalise(up_m.T @ ranks, n_up, n_pop)[0]
    if n_down:
        null += normalise(down_m.T @ ranks, n_down, n_pop)[1]
    return np.quantile(null, list(quantiles))
