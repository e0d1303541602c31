"""Per-sample p-values against random gene sets (scoring engine), checked against an explicit loop,
for cohort independence, and for calibration on real GEUVADIS LCL data (tests/fixtures/humangender).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import rankdata

from ressig import scoring, stats
from ressig.errors import RessigError
from ressig.genesets import read_gmt
from ressig.scoring import GeneSignature, null_draws, score_frame, score_matrix
from ressig.scoring.null import PosBins
from test_scoring import FAST, problems

FIXTURE = Path(__file__).parent / "fixtures" / "humangender"
B = 60  # draws in the property tests (small: every draw is re-scored by a Python loop)


def naive_pvalues(X: np.ndarray, genes, samples, sigs, draws: int, seed: int, levels=None,
                  n_bins: int = 3) -> pd.DataFrame:
    """One sample at a time: rank its measured genes, score each random set from the drawn positions
    (uniform draws, or with ``levels`` draws matched to the level bins of the sample's measured
    signature genes)."""
    col = {g: i for i, g in enumerate(genes)}
    bins = scoring.LevelBins(genes, levels, n_bins).by_column if levels else None
    rows = []

    def part_score(r: np.ndarray, n_all: int, up: bool) -> float:
        n = len(r)
        rr = r if up else n_all + 1 - r
        low, high = (n + 1) / 2, (2 * n_all - n + 1) / 2
        return (rr.mean() - low) / (high - low) - 0.5

    for sig in sigs:
        for j, name in enumerate(samples):
            x = X[j]
            by_id = np.argsort(np.asarray(genes, dtype=object), kind="stable")
            measured = by_id[~np.isnan(x[by_id])]  # draw positions index the measured genes sorted by id
            n_all = measured.size
            ranks = np.full(x.shape, np.nan)
            ranks[measured] = rankdata(x[measured])
            up = [col[g] for g in dict.fromkeys(sig.up) if g in col and not np.isnan(x[col[g]])]
            down = [col[g] for g in dict.fromkeys(sig.down) if g in col and not np.isnan(x[col[g]])]
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                obs = (part_score(ranks[up], n_all, True) if sig.up else 0.0) + \
                    (part_score(ranks[down], n_all, False) if sig.down else 0.0)
            if not np.isfinite(obs):  # a part without measured genes, or all measured genes in one part
                rows.append({"signature": sig.name, "sample": name, "pvalue": np.nan, "pvalue_low": np.nan})
                continue
            if bins is None:
                drawn = null_draws(len(up), len(down), n_all, draws, seed)
            else:
                counts = [tuple(np.bincount(bins[part], minlength=n_bins).tolist()) for part in (up, down)]
                drawn = scoring.matched_null_draws(*counts, PosBins(bins[measured], n_bins), draws, seed)
            up_m, down_m = (m.tocsc() for m in drawn)
            null = []
            for b in range(draws):
                pu = measured[up_m.indices[up_m.indptr[b]:up_m.indptr[b + 1]]]
                pd_ = measured[down_m.indices[down_m.indptr[b]:down_m.indptr[b + 1]]]
                null.append((part_score(ranks[pu], n_all, True) if sig.up else 0.0)
                            + (part_score(ranks[pd_], n_all, False) if sig.down else 0.0))
            null = np.asarray(null)
            rows.append({"signature": sig.name, "sample": name,
                         "pvalue": ((null >= obs - 1e-9).sum() + 1) / (draws + 1),
                         "pvalue_low": ((null <= obs + 1e-9).sum() + 1) / (draws + 1)})
    return pd.DataFrame(rows)


def assert_p_equal(got: pd.DataFrame, want: pd.DataFrame) -> None:
    for c in ("pvalue", "pvalue_low"):
        a, b = got[c].to_numpy(float), want[c].to_numpy(float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), c
        np.testing.assert_array_equal(a[~np.isnan(a)], b[~np.isnan(b)], err_msg=c)


# ---------------------------------------------------------------------------------------------
# the draws


def test_draws_are_uniform_distinct_and_split():
    up, down = null_draws(7, 5, 40, 20000, 3)
    assert up.shape == down.shape == (40, 20000)
    both = (up + down).tocsc()
    assert both.max() == 1  # up and down positions never overlap
    np.testing.assert_array_equal(np.diff(up.tocsc().indptr), 7)
    np.testing.assert_array_equal(np.diff(down.tocsc().indptr), 5)
    # every position is equally likely in each part: 20000 * 7 / 40 = 3500 per position (sd ~ 55)
    freq_up = np.asarray(up.sum(axis=1)).ravel()
    freq_down = np.asarray(down.sum(axis=1)).ravel()
    assert np.abs(freq_up - 3500).max() < 5 * 55
    assert np.abs(freq_down - 2500).max() < 5 * 48
    # pairs: P(two given positions both in an up set) = 7*6/(40*39)
    u = up.tocsc()[:4].toarray()
    np.testing.assert_allclose((u[0] * u[1]).mean(), 7 * 6 / (40 * 39), atol=0.006)


def test_defaults():
    from ressig.cohort import CohortOptions
    from ressig.cohort.options import CELL_NULL_DRAWS, DEFAULT_NULL_DRAWS, null_draws_for

    # README: default 1,000 draws per sample; per cell none unless the table holds p-values (then 200)
    assert scoring.DEFAULT_NULL_DRAWS == DEFAULT_NULL_DRAWS == null_draws_for(CohortOptions(), cells=False) == 1000
    assert CELL_NULL_DRAWS == null_draws_for(CohortOptions(), cells=True) == 0  # per-cell p-values on request
    assert null_draws_for(CohortOptions(), cells=True, wants_pvalues=True) == 200
    assert null_draws_for(CohortOptions(null_draws=0), cells=True) == 0
    assert scoring.DEFAULT_NULL_SEED == CohortOptions().null_seed
    assert CohortOptions().alpha == 0.05


def test_draws_depend_only_on_seed_and_sizes():
    from ressig.scoring.null import draw_sets

    a = null_draws(3, 2, 50, 100, 1)
    draw_sets.cache_clear()
    b = null_draws(3, 2, 50, 100, 1)
    assert b[0] is not a[0]  # drawn again, not the cached matrices
    assert (a[0] != b[0]).nnz == 0 and (a[1] != b[1]).nnz == 0
    c = null_draws(3, 2, 50, 100, 2)
    assert (a[0] != c[0]).nnz > 0


def test_draw_errors():
    with pytest.raises(RessigError, match="cannot draw 6 genes among 5 measured genes"):
        null_draws(4, 2, 5, 10, 0)
    with pytest.raises(RessigError, match="null_draws must be >= 0"):
        score_matrix(np.ones((1, 3)), list("abc"), ["s"], [GeneSignature("x", ("a",))], null_draws=-1)


# ---------------------------------------------------------------------------------------------
# the engine against the explicit loop


@FAST
@given(problems())
def test_dense_pvalues_equal_naive(problem):
    X, genes, samples, sigs = problem
    got = score_matrix(X, genes, samples, sigs, null_draws=B, seed=11)
    assert list(got.columns) == scoring.SCORE_COLUMNS + scoring.NULL_COLUMNS
    assert_p_equal(got, naive_pvalues(X, genes, samples, sigs, B, 11))


@FAST
@given(problems(sparse_like=True))
def test_sparse_pvalues_equal_naive(problem):
    X, genes, samples, sigs = problem
    assert_p_equal(score_matrix(sp.csr_matrix(X), genes, samples, sigs, null_draws=B, seed=5),
                   naive_pvalues(X, genes, samples, sigs, B, 5))


@FAST
@given(problems(sparse_like=True), st.data())
def test_pvalue_independent_of_cohort_and_blocks(problem, data):
    X, genes, samples, sigs = problem
    kw = {"null_draws": B, "seed": 2}
    full = score_matrix(X, genes, samples, sigs, **kw).set_index(["signature", "sample"])
    j = data.draw(st.integers(0, len(samples) - 1))
    alone = score_matrix(X[j:j + 1], genes, [samples[j]], sigs, **kw).set_index(["signature", "sample"])
    pd.testing.assert_frame_equal(alone, full.loc[alone.index], check_exact=True)
    sparse_alone = score_matrix(sp.csr_matrix(X[j:j + 1]), genes, [samples[j]], sigs, **kw)
    pd.testing.assert_frame_equal(sparse_alone.set_index(["signature", "sample"])[scoring.NULL_COLUMNS],
                                  alone[scoring.NULL_COLUMNS], check_exact=True)


@FAST
@given(problems(sparse_like=True), st.data())
def test_pvalue_independent_of_gene_column_order(problem, data):
    X, genes, samples, sigs = problem
    perm = np.asarray(data.draw(st.permutations(range(len(genes)))))
    a = score_matrix(X, genes, samples, sigs, null_draws=B)
    b = score_matrix(X[:, perm], [genes[i] for i in perm], samples, sigs, null_draws=B)
    pd.testing.assert_frame_equal(a[scoring.NULL_COLUMNS], b[scoring.NULL_COLUMNS], check_exact=True)
    c = score_matrix(sp.csr_matrix(X[:, perm]), [genes[i] for i in perm], samples, sigs, null_draws=B)
    pd.testing.assert_frame_equal(a[scoring.NULL_COLUMNS], c[scoring.NULL_COLUMNS], check_exact=True)


def _levels(genes) -> tuple[dict[str, float], int]:
    """Reference levels with ties (five values) and a bin count the gene number allows."""
    return {g: float(i % 5) for i, g in enumerate(genes)}, max(1, min(3, len(genes) // 2))


@FAST
@given(problems(sparse_like=True), st.booleans())
def test_matched_pvalues_equal_naive(problem, sparse):
    X, genes, samples, sigs = problem
    levels, n_bins = _levels(genes)
    got = score_matrix(sp.csr_matrix(X) if sparse else X, genes, samples, sigs, null_draws=B, seed=7,
                       gene_levels={s.name: levels for s in sigs}, level_bins=n_bins)
    assert_p_equal(got, naive_pvalues(X, genes, samples, sigs, B, 7, levels, n_bins))


@FAST
@given(problems(sparse_like=True), st.data())
def test_matched_pvalue_independent_of_cohort_and_gene_order(problem, data):
    X, genes, samples, sigs = problem
    levels, n_bins = _levels(genes)
    kw = {"null_draws": B, "seed": 3, "gene_levels": {s.name: levels for s in sigs}, "level_bins": n_bins}
    full = score_matrix(X, genes, samples, sigs, **kw)
    j = data.draw(st.integers(0, len(samples) - 1))
    alone = score_matrix(X[j:j + 1], genes, [samples[j]], sigs, **kw).set_index(["signature", "sample"])
    pd.testing.assert_frame_equal(alone, full.set_index(["signature", "sample"]).loc[alone.index], check_exact=True)
    perm = np.asarray(data.draw(st.permutations(range(len(genes)))))
    shuffled = score_matrix(sp.csr_matrix(X[:, perm]), [genes[i] for i in perm], samples, sigs, **kw)
    pd.testing.assert_frame_equal(full[scoring.NULL_COLUMNS], shuffled[scoring.NULL_COLUMNS], check_exact=True)


def test_matched_draws_keep_the_level_profile():
    bins = np.repeat(np.arange(4), [10, 20, 30, 40])  # positions' level bins
    pos = PosBins(np.random.default_rng(0).permutation(bins), 4)
    up, down = scoring.matched_null_draws((2, 0, 3, 0), (0, 1, 0, 4), pos, 5000, 9)
    assert (up + down).max() == 1  # distinct positions within a draw
    for member, want in ((up, [2, 0, 3, 0]), (down, [0, 1, 0, 4])):
        m = member.tocsc()
        per_draw = np.stack([np.bincount(pos.bins[m.indices[m.indptr[b]:m.indptr[b + 1]]], minlength=4)
                             for b in range(5000)])
        assert (per_draw == want).all()
    # uniform within a bin: each of bin 2's 30 positions is in 5000 * 3 / 30 = 500 up sets (sd ~ 21)
    freq = np.asarray(up.sum(axis=1)).ravel()[pos.bins == 2]
    assert np.abs(freq - 500).max() < 5 * 21
    from ressig.scoring.null import matched_draw_sets

    again = [d.membership() for d in matched_draw_sets.__wrapped__((2, 0, 3, 0), (0, 1, 0, 4), pos, 5000, 9)]
    assert again[0] is not up and (again[0] != up).nnz == 0 and (again[1] != down).nnz == 0


def test_level_bins_are_quantiles_and_missing_levels_join_the_median_bin():
    genes = [f"G{i}" for i in range(100)]
    lb = scoring.LevelBins(genes, {g: float(i) for i, g in enumerate(genes[:90])}, 3)
    np.testing.assert_array_equal(np.bincount(lb.by_column[:90]), [30, 30, 30])
    assert set(lb.by_column[90:]) == {1}  # no level: the bin of the median level
    with pytest.raises(RessigError, match="only 4 genes of the data have a reference expression level"):
        scoring.LevelBins(genes, {g: 1.0 for g in genes[:4]}, 3)


def test_planted_top_genes_reach_the_floor(rng):
    X = rng.normal(size=(4, 500))
    X[:, :20] += 10.0  # 20 genes on top of every sample
    genes = [f"G{i}" for i in range(500)]
    out = score_matrix(X, genes, list("abcd"), [GeneSignature("top", tuple(genes[:20])),
                                                GeneSignature("bottom", (), tuple(genes[:20]))], null_draws=999)
    np.testing.assert_array_equal(out["pvalue"], [1 / 1000] * 4 + [1.0] * 4)
    np.testing.assert_array_equal(out["pvalue_low"], [1.0] * 4 + [1 / 1000] * 4)


def test_random_sets_uniform_on_independent_genes(rng):
    """Genes independent by construction: p-values of random sets are uniform over sets and samples."""
    X = rng.normal(size=(40, 800))
    genes = [f"G{i}" for i in range(800)]
    sigs = [GeneSignature(f"r{k}", tuple(rng.choice(genes, 30, replace=False))) for k in range(50)]
    p = score_matrix(X, genes, [f"s{j}" for j in range(40)], sigs, null_draws=500)["pvalue"].to_numpy()
    assert 0.04 <= (p < 0.05).mean() <= 0.06
    assert 0.18 <= (p < 0.2).mean() <= 0.22


# ---------------------------------------------------------------------------------------------
# real data: GEUVADIS lymphoblastoid cell lines, 85 samples (tests/fixtures/README.md)


@pytest.fixture(scope="module")
def geuvadis():
    expr = pd.read_csv(FIXTURE / "expression.tsv.gz", sep="\t", index_col=0)
    sex = pd.read_csv(FIXTURE / "expression_samples.tsv", sep="\t", index_col=0)["sex"]
    return expr, sex, read_gmt(FIXTURE / "genesets.gmt")


def test_random_sets_calibrated_on_real_cohort(geuvadis):
    """3000 random 30-gene sets x 85 samples: ~5% of p-values below 0.05 (bar: within [2%, 8%]).

    Two honest sources of spread around 5%: every p-value of a run shares the same 1000 seeded
    draws (Monte-Carlo sd of the null's 95th percentile ~ sqrt(.05 * .95 / 1000) = 0.007), and the
    85 p-values of one set are strongly correlated (a set of highly expressed genes is high in
    every sample), so the fraction over only 20 sets depends on which 20 sets were drawn.
    """
    expr, _, _ = geuvadis
    rng = np.random.default_rng(2026)
    sigs = [GeneSignature(f"r{k:04d}", tuple(rng.choice(expr.index, 30, replace=False))) for k in range(3000)]
    res = score_frame(expr, sigs, null_draws=1000)
    sig_p = (res["pvalue"] < 0.05).to_numpy().reshape(3000, 85)
    assert 0.035 <= sig_p.mean() <= 0.075, sig_p.mean()
    assert round(100 * sig_p.mean(), 1) == 6.4  # the README's number (fixed seeds: deterministic)
    assert 0.035 <= (res["pvalue_low"] < 0.05).mean() <= 0.075  # measured 0.052
    per20 = sig_p.reshape(150, 20 * 85).mean(axis=1)  # 150 disjoint groups of 20 sets
    in_bar = ((per20 >= 0.02) & (per20 <= 0.08)).mean()
    assert round(in_bar, 2) == 0.43  # README: the bar's 20-set statistic is that noisy with the uniform null


def test_sex_marker_set_significant_where_it_should_be(geuvadis):
    """chrY genes as a signed "female" signature (down genes): p < 0.01 in females, not in males."""
    expr, sex, sets = geuvadis
    chr_y = tuple(sets["chrY"].genes)
    res = score_frame(expr, [GeneSignature("female", (), chr_y), GeneSignature("chrY", chr_y)], null_draws=1000)
    res = res.join(sex, on="sample")
    med = res.groupby(["signature", "sex"])["pvalue"].median()
    assert med["female", "Female"] == 1 / 1001  # README: the smallest possible p with 1,000 draws
    assert med["female", "Male"] > 0.1
    assert med["chrY", "Female"] > 0.1
    # chrY genes in male LCLs sit mid-distribution at this sequencing depth: not "higher than random genes"
    assert med["chrY", "Male"] > 0.1


def test_matched_null_with_a_frozen_reference_is_calibrated_and_specific(geuvadis):
    """Reference levels frozen from 43 samples, the other 42 scored (README numbers).

    1000 random 30-gene sets: 5.1% of p-values < 0.05 (uniform null: 6.4% and only 43% of 20-set
    groups within the bar), 98% of the 50 disjoint groups of 20 sets within [2%, 8%]. chrY genes,
    mid-distribution in male LCLs and hence not significant against uniform random genes, are
    significant in every male against genes of their reference level and in no female.
    """
    expr, sex, sets = geuvadis
    ref, test = expr.iloc[:, ::2], expr.iloc[:, 1::2]
    levels = scoring.reference_levels(ref)
    rng = np.random.default_rng(2026)
    sigs = [GeneSignature(f"r{k:04d}", tuple(rng.choice(expr.index, 30, replace=False))) for k in range(1000)]
    res = score_frame(test, sigs, null_draws=1000, gene_levels={s.name: levels for s in sigs})
    sig_p = (res["pvalue"] < 0.05).to_numpy().reshape(1000, test.shape[1])
    assert round(100 * sig_p.mean(), 1) == 5.1
    assert 0.035 <= (res["pvalue_low"] < 0.05).mean() <= 0.065  # measured 0.048
    per20 = sig_p.reshape(50, -1).mean(axis=1)
    assert ((per20 >= 0.02) & (per20 <= 0.08)).mean() == 0.98
    chr_y = tuple(sets["chrY"].genes)
    r = score_frame(test, [GeneSignature("chrY", chr_y)], null_draws=1000, gene_levels={"chrY": levels})
    p = r.join(sex, on="sample").groupby("sex")["pvalue"]
    assert p.median()["Male"] == 1 / 1001 and p.max()["Male"] < 0.05
    assert p.min()["Female"] == 1.0


def test_cli_null_reference_and_uniform(geuvadis, tmp_path, capsys):
    from ressig.cli import main

    expr, sex, sets = geuvadis
    ref, test = expr.iloc[:, ::2], expr.iloc[:, 1::2]
    ref.to_csv(tmp_path / "ref.tsv", sep="\t")
    test.to_csv(tmp_path / "test.tsv", sep="\t")
    chr_y = list(sets["chrY"].genes)
    (tmp_path / "y.gmt").write_text("chrY\tY genes\t" + "\t".join(chr_y) + "\n")
    args = ["-q", "score", "--signature", str(tmp_path / "y.gmt"), "--input", str(tmp_path / "test.tsv"),
            "--no-progress"]
    outs = {}
    for mode, extra in (("matched", ["--null-reference", str(tmp_path / "ref.tsv")]), ("uniform", ["--null", "uniform"]),
                        ("cohort", [])):
        assert main([*args, "--out", str(tmp_path / f"{mode}.tsv"), *extra]) == 0
        table = pd.read_csv(tmp_path / f"{mode}.tsv", sep="\t", keep_default_na=False).set_index("sample")
        assert set(table["null_method"]) == {{"matched": "matched:reference", "uniform": "uniform",
                                              "cohort": "matched:cohort-rank"}[mode]}
        outs[mode] = table["pvalue"].astype(float)
    males = (sex.reindex(outs["matched"].index) == "Male").to_numpy()
    assert outs["matched"][males].median() == pytest.approx(1 / 1001, rel=1e-9)
    assert outs["matched"][~males].min() == 1.0
    assert outs["uniform"][males].median() > 0.1  # asked for: the uniform null
    # a GMT without reference: the matched null of the cohort's own rank levels (issue 33), not uniform
    assert outs["cohort"][males].median() == pytest.approx(1 / 1001, rel=1e-9)
    assert outs["cohort"][~males].min() == 1.0
    assert main([*args, "--out", str(tmp_path / "x.tsv"), "--null", "uniform", "--null-reference", "ref.tsv"]) != 0
    assert "a null reference (--null-reference) needs the matched null, not --null uniform" in capsys.readouterr().err
    assert not (tmp_path / "x.tsv").exists()
    assert main([*args, "--out", str(tmp_path / "x.tsv"), "--null-reference", str(tmp_path / "nope.tsv")]) != 0
    assert (f"{tmp_path / 'nope.tsv'}: null reference file not found. Check the --null-reference path"
            in capsys.readouterr().err)
    (tmp_path / "cells.h5ad").write_bytes(b"")
    assert main([*args, "--out", str(tmp_path / "x.tsv"), "--null-reference", str(tmp_path / "cells.h5ad")]) != 0
    assert "cells.h5ad: corrupt or not an .h5ad (HDF5) file" in capsys.readouterr().err  # read as cells (issue 33)


# ---------------------------------------------------------------------------------------------
# cohort-level calls, reference cohort, CLI


def test_bh_and_calls_match_scipy():
    from scipy.stats import false_discovery_control

    rng = np.random.default_rng(4)
    p = np.r_[rng.uniform(size=40), rng.uniform(0, 1e-3, size=10), np.nan]
    scores = pd.DataFrame({"signature": ["a"] * 51 + ["b"] * 51, "sample": [f"s{i}" for i in range(51)] * 2,
                           "pvalue": np.r_[p, p[::-1]], "pvalue_low": np.r_[1 - p, 1 - p[::-1]]})
    out = stats.cohort_calls(scores, alpha=0.05)
    want = false_discovery_control(p[:50], method="bh")
    np.testing.assert_allclose(out["cohort_qvalue"].to_numpy()[:50], want, rtol=1e-12)
    np.testing.assert_allclose(out["cohort_qvalue"].to_numpy()[52:], want[::-1], rtol=1e-12)
    a = out.iloc[:51]
    assert (a["call"].iloc[:50] == np.where(want < 0.05, "high", np.where(
        false_discovery_control(1 - p[:50]) < 0.05, "low", "ns"))).all()
    assert a["call"].iloc[50] == "" and np.isnan(a["cohort_qvalue"].iloc[50])
    assert (a["call"].iloc[40:50] == "high").all()
    with pytest.raises(RessigError, match="alpha must be between 0 and 1, got 1.5"):
        stats.cohort_calls(scores, alpha=1.5)


def _toy_population(n: int, seed: int) -> pd.DataFrame:
    """Genes x samples: n parental-like samples around the toy DE baseMean (no signature shift)."""
    from test_signature import toy_de

    de = toy_de()
    rng = np.random.default_rng(seed)
    base = de["baseMean"].to_numpy(dtype=float).reshape(-1, 1)
    return pd.DataFrame(base * np.exp(rng.normal(0, 0.4, (base.size, n))), index=de.index,
                        columns=[f"R{i:03d}" for i in range(n)])


@pytest.fixture
def with_reference(tmp_path: Path):
    from ressig.cohort.reference import attach_reference_cohort
    from ressig.signature import build_signature, freeze_signature
    from test_signature import toy_de, toy_training

    de = toy_de()
    norm, sheet = toy_training(de)
    sig = build_signature(de, norm, sheet, name="TOY_SIG", version="1.0.0", created="2026-01-01T00:00:00Z")
    ref = _toy_population(60, 1)
    ref_path = tmp_path / "ref.tsv"
    ref.to_csv(ref_path, sep="\t")
    attach_reference_cohort(sig, ref_path)
    freeze_signature(sig, tmp_path / "TOY_SIG.ressig.json")
    return tmp_path / "TOY_SIG.ressig.json", ref_path, ref


def test_reference_cohort_frozen_with_provenance(with_reference):
    import hashlib
    import json

    from ressig.genes import load_gene_table
    from ressig.signature import build_signature, load_signature
    from test_signature import toy_de, toy_training

    art, ref_path, ref = with_reference
    data = json.loads(art.read_text())
    assert data["schema_version"] == 2
    src = data["reference"]["cohort"]["source"]
    assert src == {"file": "ref.tsv", "sha256": hashlib.sha256(ref_path.read_bytes()).hexdigest(), "n_samples": 60,
                   "n_scored": 60, "kind": "auto", "pseudobulk": None}
    sig = load_signature(art)
    direct = score_frame(ref, [sig.gene_signature()])["score"].to_numpy()
    np.testing.assert_array_equal(sig.reference_cohort["scores"], np.sort(direct))
    values, label = sig.reference_distribution()
    assert label == "cohort:ref.tsv" and values.size == 60
    # the bulk reference cohort's gene levels replace the training ones for the matched null
    assert {k: v for k, v in sig.gene_levels.items() if k != "levels"} == {
        "source": "cohort:ref.tsv", "n_samples": 60, "statistic": "mean within-sample rank fraction"}
    mapped = load_gene_table().map_ids(ref.index)[0]  # ids mapped as when scoring (toy UP1 is SCGB1A1's alias)
    assert sig.gene_levels["levels"] == dict(zip(mapped, scoring.reference_levels(ref).values(), strict=True))
    trained = build_signature(toy_de(), *toy_training(toy_de()), name="TOY_SIG", version="1.0.0")
    assert trained.gene_levels["source"] == "training:condition=parental" and trained.gene_levels["n_samples"] == 3


def test_patients_get_percentile_and_zscore_against_the_reference_cohort(with_reference, tmp_path):
    from scipy.stats import percentileofscore

    from ressig.cohort import parse_scores, score_cohort

    art, _, ref = with_reference
    toy = [GeneSignature("TOY_SIG", ("UP1", "UP2", "UP3"), ("DN1", "DN2"))]
    ref_scores = score_frame(ref, toy)["score"]
    patients = _toy_population(9, 7)
    patients.iloc[:, :3] = patients.iloc[:, :3].mul(np.where(patients.index.str.startswith("UP"), 8.0, 1.0), axis=0)
    path = tmp_path / "patients.tsv"
    patients.to_csv(path, sep="\t")
    score_cohort(art, path, tmp_path / "scores.tsv")
    out = parse_scores((tmp_path / "scores.tsv").read_text())
    exact = score_frame(patients, toy)["score"]  # unrounded: ties with reference scores are exact
    want_pct = [percentileofscore(ref_scores, v, kind="mean") for v in exact]
    np.testing.assert_allclose(out["percentile"], want_pct, rtol=1e-9)
    np.testing.assert_allclose(out["zscore"], (exact - ref_scores.mean()) / ref_scores.std(ddof=1), rtol=1e-9)
    assert (out["reference"] == "cohort:ref.tsv").all()
    assert (out["zscore"].iloc[:3] > 1.2).all() and (out["percentile"].iloc[:3] >= 90).all()  # top decile
    assert out["pvalue"].notna().all() and set(out["call"]) <= {"high", "low", "ns"}
    # one patient alone: the same per-sample columns (the cohort-level q-value/call may differ)
    patients.iloc[:, [4]].to_csv(tmp_path / "one.tsv", sep="\t")
    score_cohort(art, tmp_path / "one.tsv", tmp_path / "one_scores.tsv")
    one = parse_scores((tmp_path / "one_scores.tsv").read_text())
    per_sample = ["score", "n_genes_measured", "pvalue", "pvalue_low", "percentile", "zscore"]
    pd.testing.assert_frame_equal(one[per_sample].astype(float), out.iloc[[4]][per_sample].reset_index(drop=True).astype(float))


def test_v1_artefact_without_reference_cohort_still_loads(with_reference):
    import json

    from ressig.signature import content_checksum, load_signature

    art, _, _ = with_reference
    data = json.loads(art.read_text())
    data["schema_version"] = 1
    del data["reference"]["cohort"]
    data["checksum"]["value"] = content_checksum({k: v for k, v in data.items() if k != "checksum"})
    art.write_text(json.dumps(data))
    sig = load_signature(art)
    assert sig.reference_cohort is None and sig.reference_distribution()[1] == "training"


def test_malformed_reference_cohort_is_refused(with_reference):
    import json

    from ressig.signature import content_checksum, load_signature

    art, _, _ = with_reference
    data = json.loads(art.read_text())
    data["reference"]["cohort"]["scores"] = ["x", 1.0]
    data["checksum"]["value"] = content_checksum({k: v for k, v in data.items() if k != "checksum"})
    art.write_text(json.dumps(data))
    with pytest.raises(RessigError, match=r"reference.cohort is malformed .*--reference-cohort"):
        load_signature(art)


def test_cli_reference_cohort_and_null_options(tmp_path):
    from ressig.cli import main
    from ressig.cohort import parse_scores
    from ressig.signature import load_signature
    from test_signature import toy_de, toy_training

    de = toy_de()
    norm, sheet = toy_training(de)
    de.assign(tested=True, lfcSE=0.1, stat=1.0, pvalue=de["padj"], lfcSE_shrunk=0.1).to_csv(tmp_path / "de.tsv", sep="\t")
    norm.to_csv(tmp_path / "norm.tsv", sep="\t")
    sheet.to_csv(tmp_path / "samples.tsv", sep="\t")
    _toy_population(30, 2).T.to_csv(tmp_path / "ref.tsv", sep="\t")  # samples x genes
    assert main(["signature", "--de", str(tmp_path / "de.tsv"), "--normalized", str(tmp_path / "norm.tsv"),
                 "--samples", str(tmp_path / "samples.tsv"), "--name", "T", "--outdir", str(tmp_path / "sig"),
                 "--reference-cohort", str(tmp_path / "ref.tsv"), "--reference-orientation",
                 "samples-x-genes"]) == 0
    sig = load_signature(tmp_path / "sig" / "T.ressig.json")
    assert sig.reference_cohort["source"]["n_samples"] == 30
    _toy_population(5, 3).to_csv(tmp_path / "pat.tsv", sep="\t")
    for draws in ("0", "200"):
        assert main(["score", "--signature", str(tmp_path / "sig" / "T.ressig.json"), "--input",
                     str(tmp_path / "pat.tsv"), "--out", str(tmp_path / f"s{draws}.tsv"), "--null-draws", draws,
                     "--null-seed", "3", "--alpha", "0.1", "--plot", str(tmp_path / f"s{draws}.png")]) == 0
    off = parse_scores((tmp_path / "s0.tsv").read_text())
    on = parse_scores((tmp_path / "s200.tsv").read_text())
    assert off["pvalue"].isna().all() and off["call"].isna().all()
    assert on["pvalue"].between(1 / 201, 1).all() and ((on["pvalue"] * 201).round(6) % 1 == 0).all()


def test_null_band_is_the_untied_null(rng):
    """For a sample without ties the band is that sample's null: 2.5% of its draws lie above the band's top."""
    X = rng.normal(size=(1, 300))
    lo, hi = scoring.null_band(12, 8, 300, draws=999, seed=4)
    at_hi = scoring.null_band(12, 8, 300, draws=999, seed=4, quantiles=(0.975,))[0]
    assert at_hi == hi and lo < 0 < hi
    # brute force from the draws themselves, on this sample's ranks (any untied sample has ranks 1..300)
    up_m, down_m = (m.tocsc() for m in null_draws(12, 8, 300, 999, 4))
    ranks = rankdata(X[0])
    order = np.argsort(X[0])  # position -> gene: positions index ranks 1..N in the band
    null = []
    for b in range(999):
        u = order[up_m.indices[up_m.indptr[b]:up_m.indptr[b + 1]]]
        d = order[down_m.indices[down_m.indptr[b]:down_m.indptr[b + 1]]]
        null.append((ranks[u].mean() - 6.5) / (300 - 12) - 0.5 + (300 + 1 - ranks[d].mean() - 4.5) / (300 - 8) - 0.5)
    np.testing.assert_allclose([lo, hi], np.quantile(null, [0.025, 0.975]), atol=1e-12)


def test_h5ad_cells_get_pvalues_calls_and_plot_band(tmp_path):
    import anndata as ad
    import matplotlib

    from ressig.cohort import CohortOptions, parse_scores, plot_score_distribution, score_cohort
    from ressig.cohort.sinks import read_scores

    rng = np.random.default_rng(8)
    genes = [f"G{i:03d}" for i in range(400)]
    X = rng.poisson(np.exp(rng.normal(0, 1, 400)), size=(60, 400)).astype(np.float32)
    X[:20, :15] += 20  # the first 20 cells express the 15 marker genes
    ad.AnnData(X=sp.csr_matrix(X),
               obs=pd.DataFrame(index=[f"c{i}" for i in range(60)]),
               var=pd.DataFrame(index=genes)).write_h5ad(tmp_path / "cells.h5ad")
    (tmp_path / "m.gmt").write_text("MARK\td\t" + "\t".join(genes[:15]) + "\n")
    score_cohort(tmp_path / "m.gmt", tmp_path / "cells.h5ad", tmp_path / "s.tsv",
                 opts=CohortOptions(layout="long", chunk_size=7, progress=False, null_draws=200))
    s = parse_scores((tmp_path / "s.tsv").read_text())
    assert set(s["null_method"]) == {"matched:cohort-mean"}  # a GMT: the cohort's mean expression (issue 33)
    np.testing.assert_allclose(s["pvalue"].iloc[:20], 1 / 201, rtol=1e-9)  # 200 draws per cell
    assert (s["call"].iloc[:20] == "high").all()
    assert (s["call"].iloc[20:] != "high").all()
    # the default wide layout (streamed, filled in a second pass) carries pvalue, pvalue_low, call
    for out in ("w.tsv", "w.parquet"):
        score_cohort(tmp_path / "m.gmt", tmp_path / "cells.h5ad", tmp_path / out, h5ad_out=tmp_path / f"{out}.h5ad",
                     opts=CohortOptions(chunk_size=7, progress=False, null_draws=200))
        w = read_scores(tmp_path / out)
        assert list(w.columns) == ["sample", "MARK", "MARK_pvalue", "MARK_pvalue_low", "MARK_call"]
        assert list(w["MARK_call"]) == list(s["call"])
        np.testing.assert_allclose(w["MARK_pvalue"], s["pvalue"], rtol=1e-9)
        obs = ad.read_h5ad(tmp_path / f"{out}.h5ad").obs
        assert list(obs["MARK_call"]) == list(s["call"])
        np.testing.assert_allclose(obs["MARK_pvalue"], s["pvalue"], rtol=1e-9)
    from ressig.signature import load_signatures

    fig = plot_score_distribution(s, load_signatures(tmp_path / "m.gmt"))
    assert not [p for p in fig.axes[0].patches if p.get_label() == "null 2.5-97.5%"]  # matched null: no band
    score_cohort(tmp_path / "m.gmt", tmp_path / "cells.h5ad", tmp_path / "u.tsv",
                 opts=CohortOptions(layout="long", chunk_size=7, progress=False, null_draws=200, null="uniform"))
    s = parse_scores((tmp_path / "u.tsv").read_text())
    fig = plot_score_distribution(s, load_signatures(tmp_path / "m.gmt"))
    band = [p for p in fig.axes[0].patches if isinstance(p, matplotlib.patches.Polygon | matplotlib.patches.Rectangle)]
    ys = band[0].get_path().transformed(band[0].get_patch_transform()).vertices[:, 1] if band else []
    want = scoring.null_band(15, 0, 400)
    assert band and np.isclose(min(ys), want[0]) and np.isclose(max(ys), want[1])


# ---------------------------------------------------------------------------------------------
# cohort-level calls on the package's streaming paths


def test_bh_from_distinct_values_equals_bh_on_the_vector(rng):
    """The streaming fill keeps only distinct p-values with their counts: same q-values as BH on all."""
    from scipy.stats import false_discovery_control

    p = (rng.integers(0, 200, size=5000) + 1) / 201.0  # empirical p-values: many ties
    values, counts = np.unique(p, return_counts=True)
    q = stats.bh_distinct(values, counts)[np.searchsorted(values, p)]
    np.testing.assert_array_equal(q, stats.bh_adjust(p))
    np.testing.assert_allclose(q, false_discovery_control(p, method="bh"), rtol=1e-12)


def _cells(n=240, seed=3):
    """Cells x genes counts: the first 60 cells carry the signature (up genes high, down genes low)."""
    from test_cohort import DOWN, GENES, UP

    rng = np.random.default_rng(seed)
    X = rng.poisson(np.exp(rng.normal(0.5, 1.0, len(GENES))), size=(n, len(GENES))).astype(np.float32)
    X[:60, :len(UP)] += 25
    X[:60, len(UP):len(UP) + len(DOWN)] = 0
    return X


def test_sharded_cells_gather_to_the_unsharded_calls(tmp_path):
    """Shard tables leave the cohort-level columns empty; the gather fills them over all cells, so
    wide and long, TSV, sharded or not, carry the same calls (and the TSVs the same bytes)."""
    from ressig.cohort import CohortOptions, gather_scores, parse_scores, score_cohort
    from ressig.cohort.sinks import read_scores
    from test_cohort import make_sig, write_h5ad

    sig = make_sig(tmp_path)
    path = write_h5ad(tmp_path / "cells.h5ad", sp.csr_matrix(_cells()))
    for layout in ("wide", "long"):
        base = CohortOptions(layout=layout, chunk_size=37, progress=False, null_draws=300)
        score_cohort(sig, path, tmp_path / f"{layout}.tsv", opts=base)
        shards = []
        for i in range(3):
            shards.append(tmp_path / f"{layout}.{i}.tsv")
            score_cohort(sig, path, shards[-1], opts=CohortOptions(**{**base.__dict__, "shard": (i, 3)}))
        first = read_scores(shards[0])
        call_col = "RES_call" if layout == "wide" else "call"
        assert (first[call_col] == "").all()  # shard tables: no cohort-level calls
        gather_scores(shards, sig, tmp_path / f"{layout}.gathered.tsv", input_path=path)
        assert (tmp_path / f"{layout}.gathered.tsv").read_bytes() == (tmp_path / f"{layout}.tsv").read_bytes()
    wide = read_scores(tmp_path / "wide.tsv")
    long = parse_scores((tmp_path / "long.tsv").read_text())
    assert list(wide["RES_call"]) == list(long["call"])
    assert (wide["RES_call"].iloc[:60] == "high").all()
    assert (wide["RES_call"].iloc[60:] == "high").sum() <= 3  # measured 1 of 180 background cells
    assert wide["RES_pvalue"].iloc[:60].max() == pytest.approx(1 / 301)


def test_parquet_and_tl_score_carry_the_same_calls(tmp_path):
    import anndata as ad

    import ressig.tl
    from ressig.cohort import CohortOptions, score_cohort
    from ressig.cohort.sinks import read_scores
    from test_cohort import GENES, make_sig, write_h5ad

    sig = make_sig(tmp_path)
    X = _cells()
    path = write_h5ad(tmp_path / "cells.h5ad", sp.csr_matrix(X))
    cols = ("pvalue", "cohort_qvalue", "call", "zscore")
    for out in ("w.tsv", "w.parquet"):
        score_cohort(sig, path, tmp_path / out, opts=CohortOptions(chunk_size=50, progress=False, columns=cols))
    tsv, pq = read_scores(tmp_path / "w.tsv"), read_scores(tmp_path / "w.parquet")
    # a cohort-level column brings the p-values it is computed from (placed just before it)
    assert list(pq.columns) == ["sample", "RES", "RES_pvalue", "RES_cohort_qvalue", "RES_pvalue_low", "RES_call",
                                "RES_zscore"]
    assert list(tsv["RES_call"]) == list(pq["RES_call"])
    np.testing.assert_allclose(pq["RES_cohort_qvalue"], stats.bh_adjust(pq["RES_pvalue"]), rtol=1e-12)
    a = ad.AnnData(X=sp.csr_matrix(X), var=pd.DataFrame(index=list(GENES)))
    a.obs_names = [f"c{i}" for i in range(X.shape[0])]
    ressig.tl.score(a, sig, key_added="scores_only", chunk_size=64)
    assert list(a.obs.columns) == ["scores_only"]  # cells: no p-values unless asked for
    ressig.tl.score(a, sig, chunk_size=64, null_draws=200)
    assert list(a.obs.columns)[1:] == ["RES", "RES_pvalue", "RES_pvalue_low", "RES_call"]  # the default columns
    np.testing.assert_array_equal(a.obs["RES_pvalue"].to_numpy(), pq["RES_pvalue"].to_numpy())
    assert list(a.obs["RES_call"]) == list(pq["RES_call"])
    assert (a.obs["RES_call"].iloc[:60] == "high").all()
    # no p-value column asked for: no random gene sets drawn, and none written
    ressig.tl.score(a, sig, key_added="plain", columns=("up_score",))
    ressig.tl.score(a, sig, key_added="off", null_draws=0)
    assert "plain_pvalue" not in a.obs and "off_pvalue" not in a.obs and "off_call" not in a.obs
    np.testing.assert_array_equal(a.obs["off"].to_numpy(), a.obs["RES"].to_numpy())


def test_fill_pass_text_and_quoted_paths_agree_with_in_memory_calls(tmp_path):
    """Unquoted TSVs are filled line by line from the p-values' text, quoted ones (a sample name
    with a double quote) through the csv parser: both equal the calls computed in memory."""
    from ressig.cohort import (
        CohortOptions,
        add_calls_text,
        format_scores,
        read_and_score,
        score_cohort,
    )
    from ressig.signature import load_signatures
    from test_cohort import cohort_frame, make_sig

    sig = make_sig(tmp_path)
    data, _ = cohort_frame(30, seed=4)
    for name, cols in (("plain", data.columns), ("quoted", [f'P"{c}' for c in data.columns])):
        data.set_axis(cols, axis=1).to_csv(tmp_path / f"{name}.tsv", sep="\t")
        score_cohort(sig, tmp_path / f"{name}.tsv", tmp_path / f"{name}.scores.tsv",
                     opts=CohortOptions(progress=False, null_draws=400))
        res = read_and_score(tmp_path / f"{name}.tsv", load_signatures(sig), CohortOptions(progress=False,
                                                                                          null_draws=400))
        text = (tmp_path / f"{name}.scores.tsv").read_text()
        assert text == add_calls_text(format_scores(res.scores))
        assert text.count("\thigh\t") == 10  # the 10 resistant-like samples of 30


@pytest.mark.parametrize("out", ["s.tsv", "s.parquet"])
@pytest.mark.parametrize("layout", ["long", "wide"])
def test_bulk_calls_in_memory_equal_the_file_pass(tmp_path, out, layout):
    """A bulk table gets its cohort-level columns in memory (no second pass over the file): the
    same bytes (TSV) or values (parquet) as the file pass over the same table written without them,
    p-values rounded as written included (TSV: BH over the written text's values)."""
    from ressig.cohort import CohortOptions, read_and_score, score_cohort
    from ressig.cohort.calls import as_written
    from ressig.cohort.sinks import ScoreSink, read_scores
    from ressig.signature import load_signatures
    from test_cohort import cohort_frame, make_sig

    sig = make_sig(tmp_path)
    data, _ = cohort_frame(40, seed=5)
    data.to_csv(tmp_path / "c.tsv", sep="\t")
    cols = ("pvalue", "pvalue_low", "cohort_qvalue", "call") if layout == "wide" else ()
    opts = CohortOptions(progress=False, null_draws=300, layout=layout, columns=cols)
    written = score_cohort(sig, tmp_path / "c.tsv", tmp_path / out, opts=opts)
    assert written == [tmp_path / out]
    res = read_and_score(tmp_path / "c.tsv", load_signatures(sig), opts)
    ref = ScoreSink(tmp_path / f"ref.{out}", layout, ["RES"], cols if layout == "wide" else ())
    ref.write(res.scores)
    assert ref.fill_calls(0.05)
    ref.commit()
    if out.endswith(".tsv"):
        assert (tmp_path / out).read_bytes() == (tmp_path / f"ref.{out}").read_bytes()
    else:
        pd.testing.assert_frame_equal(read_scores(tmp_path / out), read_scores(tmp_path / f"ref.{out}"))
    table = read_scores(tmp_path / out)
    call = table["call"] if layout == "long" else table["RES_call"]
    assert list(call[:13]) == ["high"] * 13 and (call[13:] == "high").sum() <= 1  # 13 resistant-like of 40
    # 1/301 = 0.003322259136...: written with 10 significant digits, read back as that number
    assert as_written(np.array([1 / 301, np.nan]))[0] == 0.003322259136 and np.isnan(as_written(np.array([np.nan]))[0])


def test_call_columns_of_a_wide_table_need_their_pvalues(tmp_path):
    from ressig.cohort import fill_calls

    (tmp_path / "w.tsv").write_text("sample\tA\tA_call\nc1\t0.1\t\n")
    with pytest.raises(RessigError, match=r"score table column A_call needs A_pvalue"):
        fill_calls(tmp_path / "w.tsv", 0.05, ["A"])


@pytest.mark.workflow
def test_workflow_cohort_calls(demo_run: Path):
    """Demo cohorts: the planted resistant-like patients (cells) are the ones called high, and only they."""
    from ressig.cohort import SCORE_COLUMNS, parse_scores

    bulk = parse_scores((demo_run / "results/scores/demo_bulk/scores.tsv").read_text())
    assert list(bulk.columns) == SCORE_COLUMNS
    truth = pd.read_csv(demo_run / "results/cohorts/demo_bulk_truth.tsv", sep="\t")
    m = bulk.merge(truth, on="sample", validate="one_to_one")
    assert (m.loc[m["resistant_like"], "call"] == "high").all()  # 12 of 12
    assert (m.loc[~m["resistant_like"], "call"] != "high").all()  # 0 of 28
    assert (m["reference"] == "training").all() and m["zscore"].notna().all()
    from ressig.cohort.sinks import read_scores

    cells = read_scores(demo_run / "results/scores/demo_sc/scores.tsv").merge(  # wide: a row per cell
        pd.read_csv(demo_run / "results/cohorts/demo_sc_truth.tsv", sep="\t"), left_on="sample", right_on="cell")
    call, pvalue = (next(c for c in cells.columns if c.endswith(end)) for end in ("_call", "_pvalue"))
    res = cells["cell_resistant"]
    assert (cells.loc[res, call] == "high").mean() > 0.95  # measured 720/720 resistant cells
    # specificity: the matched null (levels of the 3 parental training samples) calls 36/1080 non-resistant
    # cells high, 10.6% with p < 0.05; the uniform null called 113/1080, 19.4% (signature genes are more
    # often detected than random genes in sparse cells). The rest of the excess is the selection bias of
    # levels estimated on the samples the genes were selected from: a reference cohort's levels remove it
    assert (cells.loc[~res, call] == "high").sum() == 36  # README numbers
    assert round(100 * (cells.loc[~res, pvalue] < 0.05).mean(), 1) == 10.6
    import anndata as ad

    import ressig.tl

    adata = ad.read_h5ad(demo_run / "results/cohorts/demo_sc.h5ad")
    ressig.tl.score(adata, next((demo_run / "results/signature").glob("*.ressig.json")), key_added="u",
                    null_draws=200, null="uniform")
    uniform = adata.obs.reindex(cells["sample"])
    assert (uniform.loc[~res.to_numpy(), "u_call"] == "high").sum() == 113
    assert round(100 * (uniform.loc[~res.to_numpy(), "u_pvalue"] < 0.05).mean(), 1) == 19.4


@pytest.mark.parametrize("layout", ["long", "wide"])
def test_streamed_tally_fills_like_the_counting_pass(tmp_path, layout):
    """A TSV sink counts the p-values as written while it streams, so filling its cohort-level
    columns skips the counting pass over the file: the same bytes as counting from the file, also
    for p-values that differ only beyond the 10 written digits (one text, one count)."""
    from ressig.cohort import fill_calls
    from ressig.cohort.sinks import ScoreSink

    p = np.array([0.1, 0.1 + 1e-13, 0.2, np.nan, 1 / 3, 1 / 3 + 1e-15, 0.001, 0.0011, 0.002, 0.5])
    n = p.size
    chunk = pd.DataFrame({"signature": np.repeat(["A", "B"], n), "sample": [f"c-{i}.x" for i in range(n)] * 2,
                          "score": np.linspace(-1, 1, 2 * n), "up_score": np.nan, "down_score": np.nan,
                          "dispersion": np.nan, "n_genes_used": 5, "n_genes_missing": 0, "n_genes_measured": 100,
                          "pvalue": np.concatenate([p, p[::-1]]), "pvalue_low": np.concatenate([1 - p, p]),
                          "null_method": "matched:cohort-mean", "percentile": np.nan, "zscore": np.nan,
                          "reference": ""})
    extra = ("pvalue", "cohort_qvalue", "pvalue_low", "cohort_qvalue_low", "call") if layout == "wide" else ()
    texts = []
    for name, streamed in (("streamed.tsv", True), ("counted.tsv", False)):
        sink = ScoreSink(tmp_path / name, layout, ["A", "B"], extra)
        first = np.tile(np.arange(n) < 6, 2)  # two chunks of samples: the tally adds up across them
        sink.write(chunk[first])
        sink.write(chunk[~first])
        assert sink.fill_calls(0.05) if streamed else fill_calls(sink.finish(), 0.05, ["A", "B"])
        sink.commit()
        texts.append((tmp_path / name).read_text())
    assert texts[0] == texts[1]
    assert "0.1000000000" not in texts[0] and texts[0].count("\thigh") + texts[0].count("\tlow") >= 2
