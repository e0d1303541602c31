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
    ({"treatment": "relapsed"}, "column 'condition' has level(s) 'resistant' that are neither reference"),
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

    from ressig.de import _deseq2_r_parity, _refit_unconverged_map, design_matrix

    s = small_experiment.samples.set_index("sample")
    meta = build_metadata(s, "condition", "parental", "resistant", ["batch"])
    counts = small_experiment.counts.loc[:, meta.index].iloc[:400]
    counts = counts[(counts >= 10).sum(axis=1) >= 3]
    dds = DeseqDataSet(counts=counts.T, metadata=meta, design="~batch + condition", quiet=True, n_cpus=1)
    _deseq2_r_parity(dds)
    var = dds.var
    # the genes furthest below their trend: where dropping the prior changes the dispersion most
    far = (np.log(var["fitted_dispersions"]) - np.log(var["genewise_dispersions"])).nlargest(3).index
    assert (var.loc[far, "genewise_dispersions"] < 0.5 * var.loc[far, "fitted_dispersions"]).all()
    # what PyDESeq2 leaves behind when L-BFGS-B reports failure for these genes
    var.loc[far, "_MAP_converged"] = False
    var.loc[far, "MAP_dispersions"] = var.loc[far, "genewise_dispersions"]
    var.loc[far, "dispersions"] = var.loc[far, "genewise_dispersions"]
    assert _refit_unconverged_map(dds) == 3
    X = design_matrix(meta, "condition", ["batch"])
    sf = dds.obs["size_factors"].to_numpy()
    prior = float(dds.uns["prior_disp_var"])
    for g in far:
        expected = _posterior_argmax(counts.loc[g].to_numpy(float), sf, X, var.loc[g, "fitted_dispersions"], prior)
        got = var.loc[g, "dispersions"]
        assert abs(np.log(got) - np.log(expected)) < 0.05, (g, got, expected)
        assert got > 1.5 * var.loc[g, "genewise_dispersions"]   # pulled towards the trend by the prior
