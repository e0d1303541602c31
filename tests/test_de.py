"""PyDESeq2 wrapper: planted effects recovered, fold-change orientation, design checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ressig.de import build_metadata, design_formula, read_de, run_de, write_de
from ressig.errors import RessigError


@pytest.fixture(scope="module")
def small_de(small_experiment):
    s = small_experiment.samples.set_index("sample")
    return run_de(small_experiment.counts, s, covariates=["batch"], n_cpus=1)


def test_planted_effects_recovered(small_de, small_experiment):
    tab = small_de.table.join(small_experiment.truth)
    up = tab[tab["log2FoldChange"] > 0].sort_values(["padj", "pvalue"])
    assert "ABCB1" in up.index[:10]
    assert tab.loc["ABCB1", "padj"] < 1e-10
    sig = tab["padj"] < 0.05
    recall = (sig & tab["de_true"]).sum() / tab["de_true"].sum()
    fdr = (sig & ~tab["de_true"]).sum() / max(sig.sum(), 1)
    assert recall >= 0.85, recall
    assert fdr <= 0.1, fdr
    planted = tab[tab["de_true"] & sig]
    # sign of every recovered planted gene matches the truth (resistant vs parental)
    assert (np.sign(planted["log2FoldChange"]) == np.sign(planted["log2FC_true"])).all()
    assert abs(tab.loc["ABCB1", "log2FoldChange"] - 4.0) < 0.75  # 3 v 3 with 2,000 genes: realised 3.4
    assert tab.loc["IL3RA", "padj"] > 0.1


def test_table_columns_and_order(small_de):
    t = small_de.table
    assert list(t.columns) == ["baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj",
                               "log2FoldChange_shrunk", "lfcSE_shrunk", "tested"]
    tested = t[t["tested"]]
    assert tested["padj"].dropna().is_monotonic_increasing
    assert t.loc[~t["tested"], "pvalue"].isna().all()
    # shrinkage pulls fold changes towards zero, never past it
    both = tested.dropna(subset=["log2FoldChange"])
    assert (np.abs(both["log2FoldChange_shrunk"]) <= np.abs(both["log2FoldChange"]) + 1e-6).mean() > 0.99
    assert small_de.name == "resistant_vs_parental"
    # normalised counts = counts / size factors
    assert np.allclose(small_de.normalized.sum(axis=0) * small_de.size_factors,
                       small_de.normalized.mul(small_de.size_factors, axis=1).sum(axis=0))


def test_reference_level_fixes_orientation(small_experiment):
    s = small_experiment.samples.set_index("sample")
    counts = small_experiment.counts.loc[["ABCB1", "IL3RA", "SLC46A3", *small_experiment.counts.index[100:600]]]
    fwd = run_de(counts, s, shrink=False)
    rev = run_de(counts, s, reference="resistant", treatment="parental", shrink=False)
    assert rev.name == "parental_vs_resistant"
    a = fwd.table["log2FoldChange"].dropna()
    b = rev.table["log2FoldChange"].reindex(a.index)
    assert np.allclose(a, -b, atol=1e-4)  # IRLS convergence tolerance
    assert fwd.table.loc["ABCB1", "log2FoldChange"] > 3


def test_write_and_read_roundtrip(small_de, tmp_path):
    files = write_de(small_de, tmp_path)
    assert [f.name for f in files] == ["resistant_vs_parental.tsv", "normalized_counts.tsv", "vst.tsv",
                                       "size_factors.tsv"]
    back = read_de(files[0])
    pd.testing.assert_series_equal(back["padj"], small_de.table["padj"], check_exact=False, rtol=1e-9)
    assert back["tested"].dtype == bool


SHEET = pd.DataFrame({"condition": ["parental"] * 3 + ["resistant"] * 3, "batch": ["b1", "b2", "b3"] * 2,
                      "lane": ["L1"] * 3 + ["L2"] * 3, "passage": ["3", "5", "x", "4", "6", "8"]},
                     index=pd.Index([f"S{i}" for i in range(6)], name="sample"))


def test_metadata_reference_first():
    meta = build_metadata(SHEET, "condition", "parental", "resistant", ["batch"])
    assert list(meta["condition"].cat.categories) == ["parental", "resistant"]
    assert design_formula("condition", ["batch"]) == "~batch + condition"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"covariates": ["lane"]}, "design ~lane + condition is not full rank: covariate(s) lane confounded with 'condition'"),
    ({"covariates": ["passage"], "continuous": ["passage"]},
     "continuous covariate 'passage' has non-numeric value 'x' for sample 'S2'"),
    ({"covariates": ["nope"]}, "sample sheet has no column 'nope' named in the config"),
    ({"treatment": "relapsed"}, "treatment level 'relapsed' does not occur in column 'condition'"),
])
def test_design_errors(kwargs, message):
    args = {"condition": "condition", "reference": "parental", "treatment": "resistant", **kwargs}
    with pytest.raises(RessigError) as exc:
        build_metadata(SHEET, **args)
    assert message in str(exc.value)


def test_single_replicate_refused():
    sheet = SHEET.iloc[[0, 1, 3]]
    with pytest.raises(RessigError, match="treatment level 'resistant' of 'condition' has 1 sample"):
        build_metadata(sheet, "condition", "parental", "resistant")


def _posterior_argmax(y, sf, X, trend, prior_var):
    """Independent MAP dispersion: maximise NB log-likelihood (scipy.stats) + Cox-Reid + log-normal prior."""
    from scipy import optimize, stats

    def beta_hat(alpha):
        beta = np.linalg.lstsq(X, np.log(y / sf + 0.5), rcond=None)[0]
        for _ in range(200):
            mu = sf * np.exp(X @ beta)
            w = mu / (1 + alpha * mu)
            new = np.linalg.solve(X.T @ (w[:, None] * X), X.T @ (w * (np.log(mu / sf) + (y - mu) / mu)))
            if np.max(np.abs(new - beta)) < 1e-12:
                return new
            beta = new
        return beta

    def neg_post(log_alpha):
        alpha = np.exp(log_alpha)
        mu = sf * np.exp(X @ beta_hat(alpha))
        w = mu / (1 + alpha * mu)
        ll = stats.nbinom.logpmf(y, 1 / alpha, 1 / (1 + alpha * mu)).sum()
        cr = -0.5 * np.linalg.slogdet(X.T @ (w[:, None] * X))[1]
        return -(ll + cr - (log_alpha - np.log(trend)) ** 2 / (2 * prior_var))

    grid = np.linspace(np.log(1e-8), np.log(10), 400)
    start = grid[np.argmin([neg_post(g) for g in grid])]
    res = optimize.minimize_scalar(neg_post, bounds=(start - 0.1, start + 0.1), method="bounded",
                                   options={"xatol": 1e-6})
    return float(np.exp(res.x))


def test_unconverged_map_dispersions_keep_the_prior(small_experiment):
    """PyDESeq2 0.5's fallback for a failed MAP optimisation drops the prior (the gene keeps its
    gene-wise dispersion, machine-dependently): ressig re-estimates such genes with the prior."""
    from pydeseq2.dds import DeseqDataSet

    from ressig.de import deseq2_r_parity, design_matrix
    from ressig.de.fit import refit_unconverged_map

    s = small_experiment.samples.set_index("sample")
    meta = build_metadata(s, "condition", "parental", "resistant", ["batch"])
    counts = small_experiment.counts.loc[:, meta.index].iloc[:400]
    counts = counts[(counts >= 10).sum(axis=1) >= 3]
    dds = DeseqDataSet(counts=counts.T, metadata=meta, design="~batch + condition", quiet=True, n_cpus=1)
    deseq2_r_parity(dds)
    var = dds.var
    # the genes furthest below their trend: where dropping the prior changes the dispersion most
    far = (np.log(var["fitted_dispersions"]) - np.log(var["genewise_dispersions"])).nlargest(3).index
    assert (var.loc[far, "genewise_dispersions"] < 0.5 * var.loc[far, "fitted_dispersions"]).all()
    # what PyDESeq2 leaves behind when L-BFGS-B reports failure for these genes
    var.loc[far, "_MAP_converged"] = False
    var.loc[far, "MAP_dispersions"] = var.loc[far, "genewise_dispersions"]
    var.loc[far, "dispersions"] = var.loc[far, "genewise_dispersions"]
    assert refit_unconverged_map(dds) == 3
    X = design_matrix(meta, "condition", ["batch"])
    sf = dds.obs["size_factors"].to_numpy()
    prior = float(dds.uns["prior_disp_var"])
    for g in far:
        expected = _posterior_argmax(counts.loc[g].to_numpy(float), sf, X, var.loc[g, "fitted_dispersions"], prior)
        got = var.loc[g, "dispersions"]
        assert abs(np.log(got) - np.log(expected)) < 0.05, (g, got, expected)
        assert got > 1.5 * var.loc[g, "genewise_dispersions"]   # pulled towards the trend by the prior


# --- several levels, one model, many contrasts, LRT ------------------------------------------------
def _three_groups(n_genes: int = 300, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """NB counts, levels A (reference), B, C x 3; G000 up 2 (B) and 3 (C) log2; G001 down 2 in C only."""
    rng = np.random.default_rng(seed)
    levels = np.repeat(["A", "B", "C"], 3)
    base = rng.lognormal(5, 1, n_genes)
    lfc = np.zeros((n_genes, 3))
    lfc[0] = [0, 2, 3]
    lfc[1] = [0, 0, -2]
    mu = base[:, None] * 2.0 ** lfc[:, np.searchsorted(["A", "B", "C"], levels)] * rng.uniform(0.7, 1.3, 9)
    disp = 0.05
    counts = rng.negative_binomial(1 / disp, 1 / (1 + mu * disp))
    names = [f"S{i}" for i in range(9)]
    sheet = pd.DataFrame({"condition": levels}, index=pd.Index(names, name="sample"))
    return pd.DataFrame(counts, index=[f"G{i:03d}" for i in range(n_genes)], columns=names), sheet


@pytest.fixture(scope="module")
def three_groups_de():
    counts, sheet = _three_groups()
    return run_de(counts, sheet, reference="A", treatment="B", contrasts=[("B", "A"), ("C", "A"), ("C", "B")],
                  lrt_test=True)


def test_contrasts_come_from_one_model(three_groups_de):
    t = three_groups_de.tables
    assert list(t) == ["B_vs_A", "C_vs_A", "C_vs_B"]
    assert three_groups_de.table is t["B_vs_A"] and three_groups_de.name == "B_vs_A"
    genes = t["C_vs_B"].index
    # one fit: the C-vs-B fold change is exactly C-vs-A minus B-vs-A
    diff = t["C_vs_A"].loc[genes, "log2FoldChange"] - t["B_vs_A"].loc[genes, "log2FoldChange"]
    assert np.allclose(t["C_vs_B"]["log2FoldChange"], diff, atol=1e-9, equal_nan=True)
    assert abs(t["B_vs_A"].loc["G000", "log2FoldChange"] - 2) < 0.5
    assert abs(t["C_vs_A"].loc["G000", "log2FoldChange"] - 3) < 0.5
    assert abs(t["C_vs_B"].loc["G001", "log2FoldChange"] + 2) < 0.5
    assert t["C_vs_A"].loc["G001", "padj"] < 1e-3 and t["B_vs_A"].loc["G001", "padj"] > 0.05
    assert set(t["B_vs_A"].index[t["B_vs_A"]["padj"] < 0.05]) <= {"G000"}


def test_lrt_changed_in_any_group(three_groups_de):
    lrt = three_groups_de.lrt
    assert list(lrt.columns) == ["baseMean", "stat", "df", "pvalue", "padj", "tested"]
    assert (lrt["df"].dropna() == 2).all()
    assert set(lrt["stat"].nlargest(2).index) == {"G000", "G001"}
    assert (lrt["padj"] < 0.05).sum() <= 4 and lrt.loc[["G000", "G001"], "padj"].max() < 1e-3
    null = lrt.drop(["G000", "G001"])["stat"].dropna()
    assert 1.2 < null.mean() < 3.0           # chi-square(2) has mean 2


def test_shrinkage_of_non_reference_contrast_equals_relevelled_fit(three_groups_de):
    counts, sheet = _three_groups()
    relevelled = run_de(counts, sheet, reference="B", treatment="C")
    a = three_groups_de.tables["C_vs_B"]
    b = relevelled.table.loc[a.index]
    ok = a["log2FoldChange_shrunk"].notna()
    assert np.allclose(a.loc[ok, "log2FoldChange_shrunk"], b.loc[ok, "log2FoldChange_shrunk"], atol=2e-3)
    assert np.allclose(a.loc[ok, "padj"].fillna(2), b.loc[ok, "padj"].fillna(2), rtol=1e-3)
    # it is a shrinkage of that contrast (not of C vs the reference A)
    assert (np.abs(a.loc[ok, "log2FoldChange_shrunk"]) <= np.abs(a.loc[ok, "log2FoldChange"]) + 1e-6).mean() > 0.99


def test_engine_irls_matches_statsmodels():
    """The IRLS the LRT uses (the engine's, DESeq2's ridge 1e-6) is the NB GLM maximum likelihood fit."""
    import statsmodels.api as sm

    from ressig.de.inference import VectorizedInference

    rng = np.random.default_rng(3)
    x = np.column_stack([np.ones(8), np.repeat([0.0, 1.0], 4), np.tile([0.0, 1.0], 4)])
    sf = rng.uniform(0.5, 2, 8)
    disp = np.array([0.1, 0.02, 0.5])
    y = rng.negative_binomial(10, 0.1, (8, 3))
    mu = VectorizedInference().irls(y, sf, x, disp, min_mu=0.5, beta_tol=1e-10)[1]
    for g in range(3):
        fit = sm.GLM(y[:, g], x, family=sm.families.NegativeBinomial(alpha=disp[g]), offset=np.log(sf)).fit(tol=1e-12)
        assert np.allclose(mu[:, g], fit.fittedvalues, rtol=1e-5)


def test_confounded_block_refused():
    sheet = pd.DataFrame({"condition": ["A", "A", "B", "B", "C", "C"], "mouse": ["m1", "m1", "m2", "m2", "m3", "m3"]},
                         index=pd.Index([f"S{i}" for i in range(6)], name="sample"))
    with pytest.raises(RessigError, match=r"design ~mouse \+ condition is not full rank: covariate\(s\) mouse "
                                          r"confounded with 'condition'"):
        build_metadata(sheet, "condition", "A", "B", ["mouse"])
    paired = sheet.assign(mouse=["m1", "m2", "m1", "m2", "m1", "m2"])
    meta = build_metadata(paired, "condition", "A", "B", ["mouse"])
    assert list(meta["condition"].cat.categories) == ["A", "B", "C"]   # unnamed level C stays in the model


def test_consensus_table_keeps_genes_changed_the_same_way_everywhere(three_groups_de):
    from ressig.de import consensus_table

    t = three_groups_de.tables
    both = consensus_table({k: t[k] for k in ["B_vs_A", "C_vs_A"]})
    assert list(both.columns) == list(t["B_vs_A"].columns)
    # G000 is up in B and C: kept, with the weaker arm's fold change and the larger padj
    assert both.loc["G000", "log2FoldChange"] == pytest.approx(t["B_vs_A"].loc["G000", "log2FoldChange"])
    assert both.loc["G000", "padj"] == max(t["B_vs_A"].loc["G000", "padj"], t["C_vs_A"].loc["G000", "padj"])
    # G001 is down in C only: not significant in the consensus
    assert both.loc["G001", "padj"] > 0.05
    calls = set(both.index[(both["padj"] < 0.05) & (both["log2FoldChange"].abs() > 1)])
    each = [set(t[k].index[(t[k]["padj"] < 0.05) & (t[k]["log2FoldChange"].abs() > 1)]) for k in ["B_vs_A", "C_vs_A"]]
    same_sign = {g for g in each[0] & each[1]
                 if np.sign(t["B_vs_A"].loc[g, "log2FoldChange"]) == np.sign(t["C_vs_A"].loc[g, "log2FoldChange"])}
    assert calls == same_sign and "G000" in calls


def test_contrast_matrix(three_groups_de):
    from ressig.de import contrast_matrix

    lfc, calls = contrast_matrix(three_groups_de.tables, ["G001", "G000", "NOPE"])
    assert list(lfc.index) == ["G001", "G000"] and list(lfc.columns) == ["B_vs_A", "C_vs_A", "C_vs_B"]
    assert lfc.loc["G000", "C_vs_A"] == three_groups_de.tables["C_vs_A"].loc["G000", "log2FoldChange"]
    assert calls.loc["G000", "C_vs_A"] == 1 and calls.loc["G001", "C_vs_A"] == -1 and calls.loc["G001", "B_vs_A"] == 0


def test_contrast_overview_bars_count_the_call_patterns(three_groups_de):
    from ressig.de import contrast_matrix
    from ressig.pl.de import contrast_overview

    lfc, calls = contrast_matrix(three_groups_de.tables, ["G001", "G000"])
    fig = contrast_overview(lfc, calls)
    bars = {t.get_text(): p.get_width() for t, p in zip(fig.axes[1].get_yticklabels(), fig.axes[1].patches,
                                                         strict=True)}
    called = calls[(calls != 0).any(axis=1)] != 0
    want = called.apply(lambda r: " & ".join(c for c in calls.columns if r[c]), axis=1).value_counts()
    assert bars == want.to_dict() and sum(bars.values()) == len(called) > 0
    assert fig.axes[0].images[0].get_array().shape == (2, 3)
