"""Per-cell random-gene-set null of sparse blocks: one walk of each cell's stored ranks for all signatures.

The null of :mod:`ressig.scoring.null` compares each sample's score with the scores of random gene
sets of the same sizes. For a sparse (single-cell) block whose cells measure every gene, the
per-signature path walks every stored value of every cell once **per signature** (and per
up/down part), and materialises a cells × draws array of null scores each time. Here every
random set of every signature of the call is one *slot* of a gene × slot membership (the draws
are those of :func:`~ressig.scoring.null.null_draws` / :func:`~ressig.scoring.null.matched_null_draws`,
shared by signatures of the same sizes as there), and a compiled kernel walks each cell's stored
ranks **once**, adding each to the slots holding its gene, then normalises the slots' rank sums
and counts, per signature, the draws scoring at least / at most the cell's score. Only those
counts ``k`` leave the kernel: ``pvalue = (k + 1) / (draws + 1)``.

Bit for bit the per-signature path's p-values: each slot's sum adds the same stored values
``rank - zero_rank`` in the same (column) order starting from 0, then ``+ zero_rank × n``, and is
normalised by the operations of :func:`~ressig.scoring.kernels.normalise_part` in the same order;
ties within :data:`~ressig.scoring.null.TIE_TOL` count against the cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numba
import numpy as np
import scipy.sparse as sp

from .kernels import part_bounds
from .null import TIE_TOL, GeneOrder, Matched, draw_sets, empirical_pvalue, matched_draw_sets


@numba.njit(cache=True, nogil=True)
def _count_draws(indptr, indices, data, zero_rank, m_indptr, m_slots, g_n, g_low, g_high, g_span, g_up, draws,
                 sig_up, sig_down, observed, tol, k_high, k_low) -> None:  # pragma: no cover - jit
    """Per cell ``i`` and signature ``k``: ``k_high[i, k]`` / ``k_low[i, k]`` = draws whose null score is
    ``>= observed - tol`` / ``<= observed + tol`` (``-1`` where ``observed[i, k]`` is NaN).

    Slot ``p * draws + d`` is draw ``d`` of group ``p`` (one part's random sets of one size);
    ``sig_up[k]``/``sig_down[k]`` are signature ``k``'s groups (``-1``: no such part)."""
    n_groups = g_n.size
    acc = np.empty(n_groups * draws)
    for i in range(indptr.size - 1):
        scored = False
        for k in range(sig_up.size):
            scored = scored or not np.isnan(observed[i, k])
        if not scored:  # no score to test (e.g. a cell left to the per-signature path): skip its walk
            k_high[i] = -1
            k_low[i] = -1
            continue
        acc[:] = 0.0
        zr = zero_rank[i]
        for t in range(indptr[i], indptr[i + 1]):  # stored ranks relative to the zero rank: implicit zeros add 0
            g = indices[t]
            v = data[t] - zr
            for u in range(m_indptr[g], m_indptr[g + 1]):
                acc[m_slots[u]] += v
        for p in range(n_groups):  # rank sums -> part scores, as normalise_part
            n = g_n[p]
            shift = zr * n
            low, high, span = g_low[p], g_high[p], g_span[p]
            part = acc[p * draws:(p + 1) * draws]
            if g_up[p]:  # branch outside the loops: they vectorise
                for d in range(draws):
                    part[d] = ((part[d] + shift) / n - low) / span - 0.5
            else:
                for d in range(draws):
                    part[d] = (high - (part[d] + shift) / n) / span - 0.5
        for k in range(sig_up.size):
            obs = observed[i, k]
            if np.isnan(obs):
                k_high[i, k] = -1
                k_low[i, k] = -1
                continue
            lo_t, hi_t = obs - tol, obs + tol
            bu, bd = sig_up[k] * draws, sig_down[k] * draws
            nh = nl = 0
            if bu >= 0 and bd >= 0:
                for d in range(draws):
                    s = acc[bu + d] + acc[bd + d]
                    nh += s >= lo_t
                    nl += s <= hi_t
            else:
                b = bu if bu >= 0 else bd
                for d in range(draws):
                    s = acc[b + d]
                    nh += s >= lo_t
                    nl += s <= hi_t
            k_high[i, k] = nh
            k_low[i, k] = nl


class SlotPlan(NamedTuple):
    """What the kernel needs of all signatures' random sets: slot ``p * draws + d`` is draw ``d`` of group ``p``
    (one part's random sets of one size, shared by the signatures of that size)."""

    m_indptr: np.ndarray  # gene (input column) -> its slots, CSR
    m_slots: np.ndarray
    n: np.ndarray  # per group: genes of the part (float)
    low: np.ndarray  # per group: normalise_part's bounds and span
    high: np.ndarray
    span: np.ndarray
    up: np.ndarray  # per group: an up part (ascending ranks), else down
    sig_up: np.ndarray  # per signature: its up / down group, -1 if none
    sig_down: np.ndarray


class CellNull:
    """All signatures' random sets of one :func:`~ressig.scoring.singscore.score_matrix` call, for cells
    measuring every gene of a sparse block (built on first use, reused by every block).

    Parameters
    ----------
    n_genes
        Columns of the block (every one measured: ``N``).
    part_sizes
        Per signature ``(n_up, n_down)``: genes of each part present in the data, ``None`` for a part
        the signature does not have.
    matched
        Per signature its matched null (:class:`~ressig.scoring.null.Matched`) or ``None`` (uniform).
    gene_order
        The call's :class:`~ressig.scoring.null.GeneOrder` (draw positions -> input columns).
    draws, seed
        Random sets per null and their seed, as :func:`~ressig.scoring.null.null_pvalues`.
    """

    def __init__(self, n_genes: int, part_sizes: Sequence[tuple[int | None, int | None]],
                 matched: Sequence[Matched | None], gene_order: GeneOrder, draws: int, seed: int):
        self.n_genes, self.draws, self.seed = int(n_genes), int(draws), int(seed)
        self.part_sizes, self.matched, self.gene_order = list(part_sizes), list(matched), gene_order
        #: signatures this null scores: every present part has a gene and a positive span (else the
        #: score is NaN and the per-signature path returns NaN p-values without drawing)
        self.covers = np.array([all(n is None or 1 <= n < self.n_genes for n in sizes) and
                                any(n is not None for n in sizes) for sizes in self.part_sizes], dtype=bool)
        self._plan: SlotPlan | None = None

    def _groups(self, k: int):
        """Signature ``k``'s draw keys and random sets (up, down), as :func:`null_pvalues` draws them."""
        nu, nd = (0 if n is None else int(n) for n in self.part_sizes[k])
        mk = self.matched[k]
        if mk is None:
            sizes = (self.n_genes, nu, nd)
            up_m, down_m = draw_sets(nu, nd, self.n_genes, self.draws, self.seed)
        else:  # every gene measured: the level counts of the parts' columns over the full positions' bins
            ku = tuple(np.bincount(mk.col_bins[mk.up_cols], minlength=mk.n_bins).tolist())
            kd = tuple(np.bincount(mk.col_bins[mk.down_cols], minlength=mk.n_bins).tolist())
            sizes = (mk.full, ku, kd)
            up_m, down_m = matched_draw_sets(ku, kd, mk.full, self.draws, self.seed)
        return [((*sizes, "up"), up_m, nu, True), ((*sizes, "down"), down_m, nd, False)]

    def plan(self) -> SlotPlan:
        """The slots of every covered signature's random sets (drawn on first call)."""
        if self._plan is not None:
            return self._plan
        group_of: dict[tuple, int] = {}
        members, g_n, g_up = [], [], []
        sig_groups = np.full((len(self.part_sizes), 2), -1, dtype=np.int64)
        for k in np.flatnonzero(self.covers):
            for j, (key, member, n, up) in enumerate(self._groups(int(k))):
                if self.part_sizes[k][j] is None:
                    continue
                if key not in group_of:  # signatures of the same sizes share the draws, as in null_pvalues
                    group_of[key] = len(members)
                    members.append(self.gene_order.by_column(key, member))  # positions -> input columns
                    g_n.append(float(n))
                    g_up.append(up)
                sig_groups[k, j] = group_of[key]
        n = np.asarray(g_n, dtype=np.float64)
        low, high, span = part_bounds(n, float(self.n_genes))  # as normalise_part
        slots = (sp.hstack(members, format="csr") if members
                 else sp.csr_matrix((self.n_genes, 0)))  # genes (input columns) x slots
        self._plan = SlotPlan(slots.indptr.astype(np.int64), slots.indices.astype(np.int64), n, low, high, span,
                              np.asarray(g_up, dtype=np.bool_), sig_groups[:, 0].copy(), sig_groups[:, 1].copy())
        return self._plan

    def counts(self, ranks: sp.csr_matrix, zero_rank: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Draws scoring at least / at most each cell's score (see :func:`count_draws`)."""
        return count_draws(ranks, zero_rank, observed, self.plan(), self.draws)

    def pvalues(self, ranks: sp.csr_matrix, zero_rank: np.ndarray, observed: np.ndarray) -> np.ndarray:
        """``2 × cells × signatures`` p-values (high, low), NaN where ``observed`` is NaN.

        Parameters
        ----------
        ranks
            Ranked CSR block (:func:`~ressig.scoring.kernels.rank_sparse`) whose cells measure every gene.
        zero_rank
            Per cell, the rank shared by its zeros.
        observed
            Cells × signatures scores; NaN for cells/signatures left to the per-signature path.
        """
        k_high, k_low = self.counts(ranks, zero_rank, observed)
        return pvalues_from_counts(np.stack([k_high, k_low]), self.draws)


def count_draws(ranks: sp.csr_matrix, zero_rank: np.ndarray, observed: np.ndarray, plan: SlotPlan,
                draws: int) -> tuple[np.ndarray, np.ndarray]:
    """Per cell and signature, the number of random sets scoring ``>= observed - TIE_TOL`` and
    ``<= observed + TIE_TOL`` (``-1`` where ``observed`` is NaN), in one walk of each cell's stored ranks.

    Parameters
    ----------
    ranks
        Ranked CSR block, indices sorted within rows, no stored NaN in the rows with a finite ``observed``.
    zero_rank
        Per cell, the rank shared by its zeros.
    observed
        Cells × signatures observed scores.
    plan
        :meth:`CellNull.plan`.
    draws
        Random sets per group of the plan.

    Returns
    -------
    (ndarray, ndarray)
        ``int64`` cells × signatures counts (high, low).
    """
    observed = np.ascontiguousarray(observed, dtype=np.float64)
    if observed.shape != (ranks.shape[0], plan.sig_up.size):
        raise ValueError(f"observed is {observed.shape}, expected {(ranks.shape[0], plan.sig_up.size)}")
    k_high = np.empty(observed.shape, dtype=np.int64)
    k_low = np.empty(observed.shape, dtype=np.int64)
    _count_draws(ranks.indptr, ranks.indices, np.asarray(ranks.data, dtype=np.float64),
                 np.ascontiguousarray(zero_rank, dtype=np.float64), plan.m_indptr, plan.m_slots, plan.n, plan.low,
                 plan.high, plan.span, plan.up, int(draws), plan.sig_up, plan.sig_down, observed, TIE_TOL, k_high, k_low)
    return k_high, k_low


def pvalues_from_counts(counts: np.ndarray, draws: int) -> np.ndarray:
    """:func:`~ressig.scoring.null.empirical_pvalue` of draw counts, NaN where ``k < 0`` (no observed score)."""
    return np.where(counts >= 0, empirical_pvalue(counts, draws), np.nan)
