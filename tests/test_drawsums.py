"""Integer rank sums of the random-set null (ressig.scoring.drawsums) against the float products they replace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

import ressig.scoring.null as null_mod
from ressig.scoring import score_matrix
from ressig.scoring.drawsums import draw_rank_sums, half_units
from ressig.scoring.kernels import rank_dense
from ressig.scoring.types import GeneSignature


def _ranked_block(rng, n_rows=37, n_genes=503):
    X = rng.poisson(3.0, (n_rows, n_genes)).astype(float)  # many ties: half-integer average ranks
    return rank_dense(X)[0]


def test_draw_rank_sums_equal_float_product_bit_for_bit():
    rng = np.random.default_rng(5)
    ranks = _ranked_block(rng)
    assert (ranks * 2 % 2 == 1).any()  # half-integer ranks present
    n_draws, n = 211, 13  # 13: one pass of eight rows plus a remainder of five
    cols = np.stack([rng.choice(ranks.shape[1], n, replace=False) for _ in range(n_draws)])
    member = sp.csr_matrix((np.ones(cols.size), (cols.ravel(), np.repeat(np.arange(n_draws), n))),
                           shape=(ranks.shape[1], n_draws))
    draws = (np.arange(n_draws + 1, dtype=np.int64) * n, cols.ravel().astype(np.int32))  # unsorted: order is free
    got = draw_rank_sums(half_units(ranks), draws, n)
    expected = np.asarray(member.T @ ranks.T).T
    assert got.shape == (ranks.shape[0], n_draws)
    assert np.array_equal(got, expected)
    assert np.array_equal(got[0, 0], ranks[0, cols[0]].sum())


def test_half_units_refuses_what_uint16_cannot_hold_exactly():
    rng = np.random.default_rng(6)
    ranks = _ranked_block(rng, 4, 50)
    assert half_units(ranks) is not None
    ranks_nan = ranks.copy()
    ranks_nan[1, 3] = np.nan
    assert half_units(ranks_nan) is None
    ranks_third = ranks.copy()
    ranks_third[2, 7] += 1.0 / 3.0
    assert half_units(ranks_third) is None
    assert half_units(np.ones((2, 40000))) is None  # 2 x 40,000 genes does not fit in uint16
    assert draw_rank_sums(half_units(ranks), (np.array([0, 1]), np.array([0], dtype=np.int32)), 40000) is None


def test_score_matrix_pvalues_identical_with_and_without_integer_sums(monkeypatch):
    rng = np.random.default_rng(7)
    genes = [f"G{i:04d}" for i in range(600)]
    X = rng.poisson(5.0, (30, 600)).astype(float)
    sigs = [GeneSignature(name=f"s{k}", up=tuple(genes[i] for i in rng.choice(600, 15 + 7 * k, replace=False)[:10 + 5 * k]),
                          down=tuple(genes[i] for i in rng.choice(600, 9, replace=False)) if k % 2 else ())
            for k in range(4)]
    sigs = [GeneSignature(s.name, s.up, tuple(g for g in s.down if g not in s.up)) for s in sigs]
    levels = {g: float(v) for g, v in zip(genes, rng.random(600), strict=True)}
    kw = dict(null_draws=199, gene_levels={s.name: levels for s in sigs[:2]}, level_bins=4)
    calls = []
    real = null_mod.draw_rank_sums
    monkeypatch.setattr(null_mod, "draw_rank_sums", lambda *a: calls.append(1) or real(*a))
    fast = score_matrix(X, genes, [f"S{j}" for j in range(30)], sigs, **kw)
    assert calls  # the integer path ran
    null_mod.draw_sets.cache_clear()
    null_mod.matched_draw_sets.cache_clear()
    monkeypatch.setattr(null_mod, "half_units", lambda dense: None)  # float products only
    slow = score_matrix(X, genes, [f"S{j}" for j in range(30)], sigs, **kw)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert fast["pvalue"].between(0, 1).all() and fast["pvalue"].nunique() > 5
