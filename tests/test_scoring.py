"""The single-sample scoring engine against a naive per-sample reference, plus its invariances.

The reference below is written independently of :mod:`ressig.scoring`: an explicit Python loop over
samples and signatures using ``scipy.stats.rankdata`` on the measured genes of each sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata

from ressig import scoring
from ressig.errors import RessigError
from ressig.scoring import (
    SCORE_COLUMNS,
    GeneSignature,
    rank_dense,
    score_frame,
    score_matrix,
    singscore,
)
from ressig.scoring.singscore import block_rows

NUM = ["score", "up_score", "down_score", "dispersion", "n_genes_used", "n_genes_missing"]


def naive_scores(X: np.ndarray, genes, samples, signatures) -> pd.DataFrame:
    """singscore by the book, one sample at a time (X dense, NaN = not measured)."""
    col = {g: i for i, g in enumerate(genes)}
    rows = []
    for sig in signatures:
        total = len(set(sig.up) | set(sig.down))
        for j, name in enumerate(samples):
            x = np.asarray(X[j], dtype=float)
            measured = ~np.isnan(x)
            n_all = int(measured.sum())
            ranks = np.full(x.shape, np.nan)
            ranks[measured] = rankdata(x[measured], method="average")
            part = {}
            for direction, genes_part in (("up", sig.up), ("down", sig.down)):
                if not genes_part:
                    continue
                idx = [col[g] for g in dict.fromkeys(genes_part) if g in col and measured[col[g]]]
                n = len(idx)
                r = ranks[idx]
                rr = r if direction == "up" else n_all + 1 - r
                low, high = (n + 1) / 2, (2 * n_all - n + 1) / 2
                s = (rr.mean() - low) / (high - low) - 0.5 if n and high > low else np.nan
                mad = 1.4826 * np.median(np.abs(r - np.median(r))) if n else np.nan
                part[direction] = (s, mad, n)
            used = sum(p[2] for p in part.values())
            rows.append({
                "signature": sig.name, "sample": name,
                "score": sum(p[0] for p in part.values()),
                "up_score": part["up"][0] if "up" in part else np.nan,
                "down_score": part["down"][0] if "down" in part else np.nan,
                "dispersion": sum(p[1] for p in part.values()),
                "n_genes_used": used, "n_genes_missing": total - used,
            })
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def assert_scores_close(got: pd.DataFrame, want: pd.DataFrame, atol: float = 1e-9) -> None:
    assert list(got.columns) == SCORE_COLUMNS
    assert got["signature"].tolist() == want["signature"].tolist()
    assert got["sample"].tolist() == want["sample"].tolist()
    for c in NUM:
        a, b = got[c].to_numpy(float), want[c].to_numpy(float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), c
        ok = ~np.isnan(a)
        np.testing.assert_allclose(a[ok], b[ok], rtol=0, atol=atol, err_msg=c)


# ---------------------------------------------------------------------------------------------
# hypothesis strategies: small matrices with many ties, NaNs, and signatures with missing genes


@st.composite
def problems(draw, sparse_like: bool = False, allow_nan: bool = True):
    n_samples = draw(st.integers(1, 6))
    n_genes = draw(st.integers(2, 30))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    levels = draw(st.integers(1, 6))  # few distinct values -> many ties
    X = rng.integers(0, levels + 1, size=(n_samples, n_genes)).astype(float)
    if sparse_like:
        X[rng.random(X.shape) < draw(st.floats(0.0, 0.9))] = 0.0
        if draw(st.booleans()):
            X[rng.random(X.shape) < 0.1] *= -1.0  # some negative values
    else:
        X = X * draw(st.sampled_from([1.0, 0.5, 123.25]))
    if allow_nan:
        X[rng.random(X.shape) < draw(st.floats(0.0, 0.3))] = np.nan
    genes = [f"G{i}" for i in range(n_genes)]
    pool = genes + ["MISSING1", "MISSING2", "MISSING3"]
    sigs = []
    for k in range(draw(st.integers(1, 4))):
        chosen = list(rng.choice(pool, size=rng.integers(1, min(len(pool), 12) + 1), replace=False))
        n_down = int(rng.integers(0, len(chosen) + 1)) if draw(st.booleans()) else 0
        up, down = tuple(chosen[n_down:]), tuple(chosen[:n_down])
        if not up and not down:
            up = (genes[0],)
        sigs.append(GeneSignature(f"sig{k}", up, down))
    samples = [f"S{j}" for j in range(n_samples)]
    return X, genes, samples, sigs


FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(problems())
def test_dense_equals_naive_reference(problem):
    X, genes, samples, sigs = problem
    assert_scores_close(score_matrix(X, genes, samples, sigs), naive_scores(X, genes, samples, sigs))


@FAST
@given(problems(sparse_like=True), st.sampled_from(["csr", "csc"]))
def test_sparse_equals_naive_reference(problem, fmt):
    X, genes, samples, sigs = problem
    S = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)  # NaN stored explicitly, zeros implicit
    assert_scores_close(score_matrix(S, genes, samples, sigs), naive_scores(X, genes, samples, sigs))


@FAST
@given(problems(sparse_like=True))
def test_sparse_without_dispersion_equals_naive_reference(problem):
    """The sparse path that skips dispersion sums ranks by sparse products (no dense block):
    same scores and gene counts as the naive reference, dispersion left NaN."""
    X, genes, samples, sigs = problem
    got = score_matrix(sp.csr_matrix(X), genes, samples, sigs, dispersion=False)
    assert got["dispersion"].isna().all()
    ref = naive_scores(X, genes, samples, sigs)
    assert_scores_close(got.assign(dispersion=ref["dispersion"].to_numpy()), ref)


def test_sparse_explicit_zeros_are_zeros():
    X = np.array([[0.0, 2.0, 0.0, 5.0, 1.0, 0.0]])
    S = sp.csr_matrix(X)
    S = sp.csr_matrix((np.r_[S.data, 0.0], np.r_[S.indices, 0], [0, S.nnz + 1]), shape=X.shape)  # explicit 0
    S.has_sorted_indices = False
    genes = list("abcdef")
    sigs = [GeneSignature("s", ("a", "b")), GeneSignature("t", ("d",), ("c", "f"))]
    assert_scores_close(score_matrix(S, genes, ["x"], sigs), naive_scores(X, genes, ["x"], sigs))


@FAST
@given(problems(), st.data())
def test_sample_score_independent_of_cohort(problem, data):
    X, genes, samples, sigs = problem
    full = score_matrix(X, genes, samples, sigs).set_index(["signature", "sample"])
    j = data.draw(st.integers(0, len(samples) - 1))
    alone = score_matrix(X[j : j + 1], genes, [samples[j]], sigs).set_index(["signature", "sample"])
    pd.testing.assert_frame_equal(alone, full.loc[alone.index], check_exact=True)
    perm = data.draw(st.permutations(range(len(samples))))
    sub = list(perm[: data.draw(st.integers(1, len(samples)))])
    other = score_matrix(X[sub], genes, [samples[i] for i in sub], sigs).set_index(["signature", "sample"])
    pd.testing.assert_frame_equal(other, full.loc[other.index], check_exact=True)


@FAST
@given(problems(sparse_like=True), st.data())
def test_sparse_sample_independent_of_cohort(problem, data):
    X, genes, samples, sigs = problem
    full = score_matrix(sp.csr_matrix(X), genes, samples, sigs).set_index(["signature", "sample"])
    j = data.draw(st.integers(0, len(samples) - 1))
    alone = score_matrix(sp.csr_matrix(X[j : j + 1]), genes, [samples[j]], sigs).set_index(["signature", "sample"])
    pd.testing.assert_frame_equal(alone, full.loc[alone.index], check_exact=True)


@FAST
@given(problems(), st.sampled_from(["log1p", "scale", "log2_plus", "sqrt", "per_sample_scale"]))
def test_invariant_to_monotone_transforms(problem, transform):
    X, genes, samples, sigs = problem
    X = np.abs(X)
    f = {
        "log1p": np.log1p,
        "scale": lambda a: 1000.0 * a,
        "log2_plus": lambda a: np.log2(a + 0.5),
        "sqrt": np.sqrt,
        "per_sample_scale": lambda a: a * np.arange(1, a.shape[0] + 1).reshape(-1, 1) * 7.0,
    }[transform]
    base = score_matrix(X, genes, samples, sigs)
    pd.testing.assert_frame_equal(score_matrix(f(X), genes, samples, sigs), base, check_exact=True)


def test_blocks_do_not_change_results(monkeypatch, rng):
    X = rng.poisson(3.0, size=(37, 50)).astype(float)
    X[rng.random(X.shape) < 0.05] = np.nan
    genes = [f"G{i}" for i in range(50)]
    samples = [f"S{i}" for i in range(37)]
    sigs = [GeneSignature("a", tuple(genes[:10]), tuple(genes[10:15])), GeneSignature("b", tuple(genes[20:40]))]
    one_block = score_matrix(X, genes, samples, sigs)
    with_null = score_matrix(X, genes, samples, sigs, null_draws=200)  # the per-sample p-values too
    monkeypatch.setattr(singscore, "BLOCK_CELLS", 200)  # 4 rows per block
    assert block_rows(37, 50) == 4
    pd.testing.assert_frame_equal(score_matrix(X, genes, samples, sigs), one_block, check_exact=True)
    pd.testing.assert_frame_equal(score_matrix(X, genes, samples, sigs, null_draws=200), with_null, check_exact=True)
    pd.testing.assert_frame_equal(score_matrix(sp.csr_matrix(np.nan_to_num(X)), genes, samples, sigs),
                                  score_matrix(np.nan_to_num(X), genes, samples, sigs), atol=1e-12, rtol=0)


def test_sparse_equals_dense_on_larger_data(rng):
    X = rng.negative_binomial(2, 0.3, size=(25, 400)).astype(float)  # many zeros and ties
    genes = [f"G{i}" for i in range(400)]
    samples = [f"S{i}" for i in range(25)]
    sigs = [GeneSignature(f"s{k}", tuple(rng.choice(genes, 30, replace=False))) for k in range(5)]
    sigs.append(GeneSignature("ud", tuple(genes[:20]), tuple(genes[380:])))
    dense = score_matrix(X, genes, samples, sigs)
    assert_scores_close(dense, naive_scores(X, genes, samples, sigs))
    assert_scores_close(score_matrix(sp.csc_matrix(X), genes, samples, sigs), dense, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# exact values


def test_hand_computed_example():
    # one sample, values 10, 20, 20, 40, 50, 60 -> ranks 1, 2.5, 2.5, 4, 5, 6 (N = 6)
    X = np.array([[10.0, 20.0, 20.0, 40.0, 50.0, 60.0]])
    genes = ["a", "b", "c", "d", "e", "f"]
    sigs = [GeneSignature("top", ("e", "f")), GeneSignature("ud", ("d", "f"), ("a", "b")),
            GeneSignature("down_only", (), ("e", "f"))]
    out = score_matrix(X, genes, ["s1"], sigs).set_index("signature")
    # top: mean rank 5.5, n=2: low 1.5, high 5.5 -> 1 - 0.5 = 0.5 (the maximum)
    assert out.loc["top", "score"] == pytest.approx(0.5)
    assert np.isnan(out.loc["top", "down_score"])
    # ud up: ranks 4, 6 -> mean 5 -> (5 - 1.5) / 4 - 0.5 = 0.375
    # ud down: reversed ranks of a, b = 6, 4.5 -> mean 5.25 -> (5.25 - 1.5) / 4 - 0.5 = 0.4375
    assert out.loc["ud", "up_score"] == pytest.approx(0.375)
    assert out.loc["ud", "down_score"] == pytest.approx(0.4375)
    assert out.loc["ud", "score"] == pytest.approx(0.8125)
    # MAD of ranks (4, 6) = 1.4826 * 1, of (1, 2.5) = 1.4826 * 0.75
    assert out.loc["ud", "dispersion"] == pytest.approx(1.4826 * 1.75)
    # down-only: e, f are the highest genes, so the down score is its minimum
    assert out.loc["down_only", "score"] == pytest.approx(-0.5)
    assert out["n_genes_used"].tolist() == [2, 4, 2]
    assert out["n_genes_missing"].tolist() == [0, 0, 0]


def test_rank_dense_matches_rankdata(rng):
    B = rng.integers(0, 4, size=(5, 17)).astype(float)
    B[rng.random(B.shape) < 0.2] = np.nan
    ranks, n = rank_dense(B)
    for j in range(B.shape[0]):
        m = ~np.isnan(B[j])
        np.testing.assert_array_equal(ranks[j, m], rankdata(B[j, m]))
        assert np.isnan(ranks[j, ~m]).all()
        assert n[j] == m.sum()


def test_missing_genes_reported_and_nan_when_unmeasured():
    X = np.array([[1.0, 2.0, np.nan], [3.0, 1.0, 2.0]])
    out = score_matrix(X, ["a", "b", "c"], ["s1", "s2"],
                       [GeneSignature("s", ("c", "zz")), GeneSignature("t", ("a", "c"))])
    s = out.set_index(["signature", "sample"])
    assert np.isnan(s.loc[("s", "s1"), "score"])  # its only present gene is not measured in s1
    assert s.loc[("s", "s1"), "n_genes_used"] == 0 and s.loc[("s", "s1"), "n_genes_missing"] == 2
    assert s.loc[("s", "s2"), "n_genes_used"] == 1 and s.loc[("s", "s2"), "n_genes_missing"] == 1
    assert s.loc[("t", "s1"), "n_genes_used"] == 1


def test_score_frame_is_genes_by_samples():
    df = pd.DataFrame({"s1": [1.0, 5.0, 3.0], "s2": [9.0, 1.0, 2.0]}, index=["a", "b", "c"])
    out = score_frame(df, [GeneSignature("x", ("b",))])
    want = score_matrix(df.to_numpy().T, ["a", "b", "c"], ["s1", "s2"], [GeneSignature("x", ("b",))])
    pd.testing.assert_frame_equal(out, want)
    assert out["score"].tolist() == pytest.approx([0.5, -0.5])


# ---------------------------------------------------------------------------------------------
# errors


def test_min_coverage_refusal_names_signature():
    X = np.arange(12, dtype=float).reshape(2, 6)
    genes = list("abcdef")
    sigs = [GeneSignature("ok", ("a", "b")), GeneSignature("EFFLUX", ("a", "x1", "x2", "x3"))]
    with pytest.raises(RessigError, match=r"signature 'EFFLUX': only 1 of 4 genes \(25%\) are in the expression "
                                          r"data, below min_coverage 50%"):
        score_matrix(X, genes, ["s1", "s2"], sigs, min_coverage=0.5)
    assert len(score_matrix(X, genes, ["s1", "s2"], sigs, min_coverage=0.25)) == 4
    X[1, 0] = np.nan  # per-sample coverage: 'a' not measured in s2
    with pytest.raises(RessigError, match=r"signature 'EFFLUX': only 0 of 4 genes measured in sample 's2'"):
        score_matrix(X, genes, ["s1", "s2"], sigs, min_coverage=0.25)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"genes": ["a", "a", "b"]}, "gene 'a' appears more than once"),
        ({"samples": ["s", "s"]}, "sample 's' appears more than once"),
        ({"genes": ["a", "b"]}, r"expression matrix is 2 x 3 but 2 sample and 2 gene names"),
        ({"signatures": []}, "no signatures to score"),
        ({"signatures": [GeneSignature("x", ("a",)), GeneSignature("x", ("b",))]}, "signature name 'x' is used twice"),
        ({"signatures": [GeneSignature("x", ())]}, "signature 'x' has no genes"),
        ({"signatures": [GeneSignature("x", ("a", "b"), ("b",))]}, "signature 'x' lists b as both up and down"),
        ({"min_coverage": 1.5}, "min_coverage must be between 0 and 1"),
    ],
)
def test_input_errors(kwargs, message):
    args = {"X": np.ones((2, 3)), "genes": ["a", "b", "c"], "samples": ["s", "t"],
            "signatures": [GeneSignature("x", ("a",))]}
    args.update(kwargs)
    min_cov = args.pop("min_coverage", 0.0)
    with pytest.raises(RessigError, match=message):
        score_matrix(args["X"], args["genes"], args["samples"], args["signatures"], min_coverage=min_cov)


def test_infinite_values_refused():
    X = np.array([[1.0, np.inf, 2.0]])
    for m in (X, sp.csr_matrix(X)):
        with pytest.raises(RessigError, match="contains infinite values"):
            score_matrix(m, ["a", "b", "c"], ["s"], [GeneSignature("x", ("a",))])


def test_non_numeric_frame():
    df = pd.DataFrame({"s1": ["1", "x"]}, index=["a", "b"])
    with pytest.raises(RessigError, match="not numeric"):
        score_frame(df, [GeneSignature("x", ("a",))])


def test_ssgsea_option_is_labelled_cohort_dependent(rng):
    genes = [f"G{i}" for i in range(60)]
    df = pd.DataFrame(rng.lognormal(3, 1, size=(60, 4)), index=genes, columns=["a", "b", "c", "d"])
    sig = [GeneSignature("s", tuple(genes[:10]))]
    out = scoring.score_ssgsea(df, sig)
    assert out["method"].unique().tolist() == ["ssgsea (cohort-dependent)"]
    assert out["sample"].tolist() == ["a", "b", "c", "d"]
    sub = scoring.score_ssgsea(df[["a", "b"]], sig)
    # normalised across the samples scored together: sample a changes with the cohort
    assert sub.loc[0, "score"] != pytest.approx(out.loc[0, "score"])
    # the rank-based engine does not
    assert score_frame(df[["a", "b"]], sig).loc[0, "score"] == score_frame(df, sig).loc[0, "score"]


def test_sparse_part_sums_equal_sparse_products():
    """The one-walk part sums of a ranked CSR block equal the sparse products they replace: ranks
    (stored NaN carry rank 0), measured stored genes and stored NaN per row and part."""
    from ressig.scoring.kernels import rank_sparse, sparse_part_sums

    rng = np.random.default_rng(11)
    X = sp.random(60, 400, density=0.08, random_state=3, format="csr") * 10
    X.data[::7] = -X.data[::7]  # negative values rank below the zeros
    X.data[::11] = np.nan  # not measured
    X.data[::13] = 0.0  # explicit zeros
    ranks, is_nan, _, _ = rank_sparse(X)
    parts = [rng.choice(400, k, replace=False) for k in (1, 5, 40, 120)]
    member = sp.csr_matrix((np.ones(sum(map(len, parts))), (np.concatenate(parts),
                            np.repeat(np.arange(len(parts)), [len(p) for p in parts]))), shape=(400, len(parts)))
    sums, n_stored, n_nan = sparse_part_sums(ranks, is_nan, member)
    pattern = sp.csr_matrix((np.ones(ranks.nnz), ranks.indices, ranks.indptr), shape=ranks.shape)
    nan = sp.csr_matrix((is_nan.astype(float), ranks.indices, ranks.indptr), shape=ranks.shape)
    np.testing.assert_array_equal(sums, (ranks @ member).toarray())
    np.testing.assert_array_equal(n_nan, (nan @ member).toarray())
    np.testing.assert_array_equal(n_stored, (pattern @ member).toarray() - n_nan)
    assert n_nan.sum() > 0 and (sums > 0).any() and n_stored[:, 0].max() <= 1
    empty = sparse_part_sums(ranks[:0], is_nan[:0], member)
    assert all(a.shape == (0, 4) for a in empty)
