"""Per-cell null of sparse blocks in one walk (ressig.scoring.celldraws) against the per-signature path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import ressig.scoring.singscore as singscore_mod
from ressig.scoring import score_matrix
from ressig.scoring.celldraws import CellNull, count_draws, pvalues_from_counts
from ressig.scoring.kernels import normalise, rank_sparse
from ressig.scoring.null import (
    TIE_TOL,
    GeneOrder,
    Matched,
    PosBins,
    RankBlock,
    null_draws,
    null_pvalues,
)

N_GENES = 120


def _cells(rng, n_cells=40, n_genes=N_GENES, density=0.15):
    """Counts with many ties, an all-zero cell, a cell with one stored value and an explicit stored zero."""
    X = sp.random(n_cells, n_genes, density=density, random_state=rng, format="csr",
                  data_rvs=lambda n: rng.integers(1, 4, n).astype(float))
    X = X.tolil()
    X[0, :] = 0.0  # all-zero cell
    X[1, :] = 0.0
    X[1, 7] = 5.0  # one stored value
    X[2, 3] = 0.0
    X = X.tocoo()
    X = sp.csr_matrix((np.append(X.data, 0.0), (np.append(X.row, 2), np.append(X.col, 3))), shape=X.shape)
    assert X.nnz == X.getnnz() and (X.data == 0).sum() == 1  # explicit stored zero (shares the zero rank)
    return X


def _sizes(n_genes, sizes):
    """Per signature (up columns, down columns), distinct genes."""
    rng = np.random.default_rng(11)
    out = []
    for nu, nd in sizes:
        pick = rng.choice(n_genes, nu + nd, replace=False)
        out.append((pick[:nu], pick[nu:]))
    return out


def _observed(ranks, is_nan, zero_rank, n_measured, cols):
    """Observed score of one part set (the formula of score_matrix's sparse path)."""
    dense = ranks.toarray()
    dense[dense == 0] = np.nan
    dense = np.where(np.isnan(dense), zero_rank.reshape(-1, 1), dense)
    total = np.zeros(ranks.shape[0])
    for j, c in enumerate(cols):
        if c is None:
            continue
        sums = dense[:, c].sum(axis=1)
        total = total + normalise(sums, float(len(c)), n_measured.astype(float))[j]
    return total


def _both(X, sig_cols, matched=None, draws=99, seed=5):
    """(one walk, per signature) p-values, both signatures × cells × (high, low)."""
    genes = [f"G{i:04d}" for i in range(X.shape[1])]
    order = GeneOrder(genes)
    ranks, is_nan, zero_rank, n_measured = rank_sparse(X)
    matched = matched or [None] * len(sig_cols)
    parts = [(len(u) if len(u) else None, len(d) if len(d) else None) for u, d in sig_cols]
    obs = np.column_stack([_observed(ranks, is_nan, zero_rank, n_measured,
                                     [u if len(u) else None, d if len(d) else None]) for u, d in sig_cols])
    cells = CellNull(X.shape[1], parts, matched, order, draws, seed)
    assert cells.covers.all()
    new = cells.pvalues(ranks, zero_rank, obs)
    block = RankBlock(None, n_measured, order, (ranks, is_nan, zero_rank))
    old = np.stack([np.column_stack(null_pvalues(block, obs[:, k], np.full(X.shape[0], len(u)),
                                                 np.full(X.shape[0], len(d)), len(u) > 0, len(d) > 0, draws, seed,
                                                 matched[k])) for k, (u, d) in enumerate(sig_cols)])
    return new, old.transpose(2, 1, 0), cells, (ranks, zero_rank, obs)


def test_one_walk_equals_per_signature_uniform_null():
    rng = np.random.default_rng(1)
    X = _cells(rng)
    sig_cols = _sizes(N_GENES, [(5, 0), (12, 7), (1, 0), (0, 9), (30, 30), (12, 7)])  # same sizes twice: shared draws
    new, old, cells, _ = _both(X, sig_cols)
    assert new.shape == (2, X.shape[0], len(sig_cols))
    assert np.array_equal(new, old)  # bit for bit, no NaN
    assert np.unique(new).size > 20
    assert cells.plan().n.size == 1 + 2 + 1 + 1 + 2  # (12, 7) drawn once for both signatures
    assert (new[:, 0] == 1.0).all()  # the all-zero cell ties every draw: k = draws, p = 1 on both sides


def test_one_walk_equals_per_signature_matched_null():
    rng = np.random.default_rng(2)
    X = _cells(rng, n_genes=150)
    genes = [f"G{i:04d}" for i in range(150)]
    order = GeneOrder(genes)
    col_bins = rng.integers(0, 4, 150)
    full = PosBins(col_bins[order.order], 4)
    sig_cols = _sizes(150, [(6, 0), (10, 8), (3, 3)])
    matched = [Matched(col_bins, 4, u, d, full) for u, d in sig_cols[:2]] + [None]
    new, old, _, _ = _both(X, sig_cols, matched=matched, draws=149)
    assert np.array_equal(new, old)


def test_counts_are_exact_against_brute_force_and_catch_off_by_one():
    rng = np.random.default_rng(3)
    X = _cells(rng, n_cells=12)
    sig_cols = _sizes(N_GENES, [(4, 3)])
    draws = 50
    _, _, cells, (ranks, zero_rank, obs) = _both(X, sig_cols, draws=draws)
    k_high, k_low = cells.counts(ranks, zero_rank, obs)
    # brute force: every draw's score from the dense ranks (positions = genes sorted by id = columns here)
    up_m, down_m = null_draws(4, 3, N_GENES, draws, 5)
    dense = ranks.toarray()
    dense = np.where(dense == 0, zero_rank.reshape(-1, 1), dense)
    null = (normalise(dense @ up_m.toarray(), 4.0, float(N_GENES))[0]
            + normalise(dense @ down_m.toarray(), 3.0, float(N_GENES))[1])
    want_high = (null >= obs - TIE_TOL).sum(axis=1)
    want_low = (null <= obs + TIE_TOL).sum(axis=1)
    assert np.array_equal(k_high[:, 0], want_high) and np.array_equal(k_low[:, 0], want_low)
    assert k_high[0, 0] == k_low[0, 0] == draws  # all-zero cell: every draw ties, ties count against the cell
    p = pvalues_from_counts(np.stack([k_high, k_low]), draws)
    assert p[0, 0, 0] == 1.0 and p[0, 3, 0] == (want_high[3] + 1.0) / (draws + 1.0)
    # a cell scoring above every draw: k = 0 high, p = 1 / (draws + 1), not 0 and not 2 / (draws + 1)
    hi = obs.copy()
    hi[:, 0] = 10.0
    k_high, k_low = count_draws(ranks, zero_rank, hi, cells.plan(), draws)
    assert (k_high == 0).all() and (k_low == draws).all()
    assert (pvalues_from_counts(k_high, draws) == 1.0 / (draws + 1.0)).all()


def test_nan_observed_gives_nan_and_shape_is_checked():
    rng = np.random.default_rng(4)
    X = _cells(rng, n_cells=6)
    _, _, cells, (ranks, zero_rank, obs) = _both(X, _sizes(N_GENES, [(3, 0), (2, 2)]))
    obs[2, 1] = np.nan
    obs[4, :] = np.nan  # a cell without any score: skipped
    p = cells.pvalues(ranks, zero_rank, obs)
    assert np.isnan(p[:, 2, 1]).all() and np.isnan(p[:, 4]).all()
    assert np.isfinite(p).sum() == 2 * (obs.size - 3)
    k_high, k_low = cells.counts(ranks, zero_rank, obs)
    assert (k_high[4] == -1).all() and (k_low[4] == -1).all() and k_high[2, 1] == k_low[2, 1] == -1
    with pytest.raises(ValueError, match="observed is"):
        cells.counts(ranks, zero_rank, obs[:, :1])


def test_covers_only_signatures_with_a_score():
    order = GeneOrder([f"G{i}" for i in range(10)])
    cells = CellNull(10, [(3, None), (None, 2), (0, 2), (10, None), (None, None), (4, 6)], [None] * 6, order, 9, 1)
    assert cells.covers.tolist() == [True, True, False, False, False, True]


@pytest.mark.parametrize("nan_cells", [False, True])
def test_score_matrix_identical_with_and_without_one_walk(monkeypatch, nan_cells):
    rng = np.random.default_rng(7)
    X = _cells(rng, n_cells=60, n_genes=300, density=0.2).astype(np.float64)
    if nan_cells:  # cells with unmeasured genes stay on the per-signature path, in the same blocks
        X = X.tolil()
        X[5, 10] = X[9, 10] = X[9, 11] = np.nan
        X = sp.csr_matrix(X)
    genes = [f"G{i:04d}" for i in range(300)]
    sigs = []
    for k, (u, d) in enumerate(_sizes(300, [(8, 0), (15, 10), (40, 0), (5, 5), (25, 3)])):
        sigs.append(singscore_mod.GeneSignature(f"s{k}", tuple(genes[i] for i in u), tuple(genes[i] for i in d)))
    sigs.append(singscore_mod.GeneSignature("absent", ("NOPE1", "NOPE2"), (genes[0],)))  # up part without a gene
    levels = {g: float(v) for g, v in zip(genes, rng.random(300), strict=True)}
    kw = dict(dispersion=False, null_draws=199, gene_levels={s.name: levels for s in sigs[:3]}, level_bins=4)
    names = [f"c{i}" for i in range(60)]
    calls = []
    real = CellNull.counts
    monkeypatch.setattr(CellNull, "counts", lambda self, *a: calls.append(1) or real(self, *a))
    fast = score_matrix(X, genes, names, sigs, **kw)
    assert calls

    class Off(CellNull):  # the per-signature path only
        def __init__(self, *a):
            super().__init__(*a)
            self.covers[:] = False

    monkeypatch.setattr(singscore_mod, "CellNull", Off)
    slow = score_matrix(X, genes, names, sigs, **kw)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert fast.loc[fast["signature"] != "absent", "pvalue"].notna().all()
    assert fast.loc[fast["signature"] == "absent", "pvalue"].isna().all()
    assert fast["pvalue"].nunique() > 20
