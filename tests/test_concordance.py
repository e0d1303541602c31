"""mRNA vs protein concordance: demo calls from the real workflow, simulated variants, statistics
against scipy/statsmodels, FCS input written with flowio, and one-line errors for bad inputs."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import flowio
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import REPO, copy_workflow, run_snakemake
from ressig import concordance as C
from ressig import protein as P
from ressig import stats as S
from ressig.cli import main
from ressig.de import read_de, run_de
from ressig.errors import RessigError
from ressig.io import read_sample_sheet
from ressig.simulate import simulate_experiment

SAMPLES = [f"GEN2.2-{a}{i}" for a in "PR" for i in (1, 2, 3)]


def _protein(df: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    table = P.validate_protein_table(df.astype(str), None, list(samples.index))
    return P.per_sample_protein(P.well_signals(table))


def _row(result: pd.DataFrame, marker: str) -> pd.Series:
    return result.set_index("marker").loc[marker]


# --------------------------------------------------------------------------- demo: real workflow outputs


def test_demo_workflow_calls(demo_run: Path) -> None:
    res = pd.read_csv(demo_run / "results/concordance/concordance.tsv", sep="\t").set_index("marker")
    assert list(res.index) == ["CD123", "P-gp"]
    cd123, pgp = res.loc["CD123"], res.loc["P-gp"]
    assert cd123["gene"] == "IL3RA" and cd123["call"] == "post-transcriptional loss"
    assert cd123["protein_p"] < 0.05 and cd123["mrna_tost_p"] < 0.05
    assert cd123["protein_log2fc"] == pytest.approx(-2.0, abs=0.25)  # planted 4x lower
    assert abs(cd123["mrna_log2fc"]) < 0.25  # planted unchanged
    assert cd123["mrna_ci_low"] > -0.5 and cd123["mrna_ci_high"] < 0.5
    # the call now also rests on the discordance: protein fell ~2 log2 more than its mRNA, shown beyond the margin
    assert cd123["delta_log2fc"] == pytest.approx(cd123["protein_log2fc"] - cd123["mrna_log2fc"], abs=1e-9)
    assert cd123["delta_state"] == "different" and cd123["delta_p"] < 0.05 and cd123["delta_ci_high"] < 0
    assert cd123["delta_log2fc"] == pytest.approx(-2.0, abs=0.3)
    assert pgp["gene"] == "ABCB1" and pgp["call"] == "concordant gain"
    assert pgp["protein_log2fc"] == pytest.approx(3.0, abs=0.3)  # planted 8x higher
    assert pgp["mrna_log2fc"] == pytest.approx(4.0, abs=0.5) and pgp["mrna_padj"] < 1e-10
    assert pgp["delta_log2fc"] == pytest.approx(pgp["protein_log2fc"] - pgp["mrna_log2fc"], abs=1e-9)
    assert pgp["delta_state"] == "different"  # reported (the magnitudes differ), not used by the direction rule
    # the numbers quoted in README.md
    assert cd123["protein_log2fc"] == pytest.approx(-2.0, abs=0.05)
    assert cd123["protein_p"] == pytest.approx(3e-4, abs=0.5e-4)
    assert cd123["mrna_log2fc"] == pytest.approx(-0.16, abs=0.005)
    assert cd123["mrna_tost_p"] == pytest.approx(0.0175, abs=0.0002)
    assert (cd123["delta_log2fc"], cd123["delta_ci_low"], cd123["delta_ci_high"]) == pytest.approx(
        (-1.86, -2.18, -1.53), abs=0.005)
    assert (pgp["mrna_log2fc"], pgp["protein_log2fc"]) == pytest.approx((4.1, 3.0), abs=0.05)
    assert pgp["delta_log2fc"] == pytest.approx(-1.09, abs=0.005)
    for f in ("lfc_mrna_vs_protein.png", "per_sample.png", "protein_wells.tsv", "protein_samples.tsv"):
        assert (demo_run / "results/concordance" / f).stat().st_size > 0
    wells = pd.read_csv(demo_run / "results/concordance/protein_wells.tsv", sep="\t")
    assert len(wells) == 24 and (wells["signal"] > 0).all()


def test_demo_statistics_match_independent_computation(demo_run: Path) -> None:
    """mRNA TOST from the DE row with scipy.stats.norm; protein effect = paired t-test (batch pairs)."""
    res = pd.read_csv(demo_run / "results/concordance/concordance.tsv", sep="\t").set_index("marker")
    de = read_de(demo_run / "results/de/resistant_vs_parental.tsv")
    prot = pd.read_csv(REPO / "resources/demo/protein.tsv", sep="\t")
    prot["y"] = np.log2(prot["value"] - prot["isotype"])
    per_sample = prot.groupby(["marker", "sample"])["y"].mean()
    for marker, gene in (("CD123", "IL3RA"), ("P-gp", "ABCB1")):
        r = res.loc[marker]
        lfc, se = de.at[gene, "log2FoldChange"], de.at[gene, "lfcSE"]
        tost = max(stats.norm.sf((lfc + 0.5) / se), stats.norm.cdf((lfc - 0.5) / se))
        assert r["mrna_tost_p"] == pytest.approx(tost, rel=1e-6)
        assert r["mrna_ci_low"] == pytest.approx(lfc - stats.norm.ppf(0.975) * se, rel=1e-6)
        res_t = per_sample[marker][[f"GEN2.2-R{i}" for i in (1, 2, 3)]].to_numpy()
        par = per_sample[marker][[f"GEN2.2-P{i}" for i in (1, 2, 3)]].to_numpy()
        paired = stats.ttest_rel(res_t, par)
        assert r["protein_log2fc"] == pytest.approx(float(np.mean(res_t - par)), rel=1e-6)
        assert r["protein_p"] == pytest.approx(paired.pvalue, rel=1e-5)
        ci = paired.confidence_interval(0.95)
        assert (r["protein_ci_low"], r["protein_ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-6)
        assert r["protein_df"] == 2


# --------------------------------------------------------------------------- statistics units


@pytest.mark.parametrize("est,se,m", [(0.0, 0.17, 0.5), (0.3, 0.1, 0.5), (-0.45, 0.05, 0.5), (1.2, 0.4, 0.7)])
def test_tost_matches_ci_inclusion(est: float, se: float, m: float) -> None:
    """TOST p < alpha exactly when the (1 - 2 alpha) CI lies inside (-m, m)."""
    p = S.tost_p(est, se, m)
    lo, hi = est - stats.norm.ppf(0.95) * se, est + stats.norm.ppf(0.95) * se
    assert (p < 0.05) == (lo > -m and hi < m)
    p_t = S.tost_p(est, se, m, df=4)
    assert p_t == pytest.approx(max(stats.t.sf((est + m) / se, 4), stats.t.cdf((est - m) / se, 4)))
    if p < 0.5:
        assert p_t >= p  # heavier tails: never more optimistic than the z test


def _sheet(n: int = 3, batches: bool = True) -> pd.DataFrame:
    names = [f"P{i}" for i in range(n)] + [f"R{i}" for i in range(n)]
    return pd.DataFrame({"condition": ["parental"] * n + ["resistant"] * n,
                         "batch": [f"b{i}" for i in range(n)] * 2 if batches else "b0"}, index=names)


def test_protein_models_match_scipy_and_statsmodels(rng: np.random.Generator) -> None:
    sheet = _sheet(4)
    sheet["passage"] = [3.0, 5.0, 4.0, 8.0, 6.0, 9.0, 7.0, 12.0]
    y = pd.Series(rng.normal(10, 0.3, 8) + np.r_[np.zeros(4), np.full(4, -1.0)], index=sheet.index)
    a, b = y[sheet.condition == "resistant"].to_numpy(), y[sheet.condition == "parental"].to_numpy()
    w = P.protein_effect(y, sheet, "condition", "parental", "resistant", model="welch")
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert w.p == pytest.approx(ref.pvalue, rel=1e-6) and w.df == pytest.approx(ref.df, rel=1e-6)
    ci = ref.confidence_interval(0.95)
    assert (w.ci_low, w.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-6)
    lm0 = P.protein_effect(y, sheet, "condition", "parental", "resistant", model="linear")
    assert lm0.p == pytest.approx(stats.ttest_ind(a, b).pvalue, rel=1e-6) and lm0.df == 6
    import statsmodels.formula.api as smf

    lm = P.protein_effect(y, sheet, "condition", "parental", "resistant", covariates=["batch", "passage"],
                          continuous=["passage"], model="linear")
    fit = smf.ols("y ~ batch + passage + condition", data=sheet.assign(y=y)).fit()  # strings: sorted levels
    term = "condition[T.resistant]"
    assert lm.log2fc == pytest.approx(fit.params[term], rel=1e-8)
    assert lm.se == pytest.approx(fit.bse[term], rel=1e-8)
    assert lm.p == pytest.approx(fit.pvalues[term], rel=1e-6)
    assert (lm.ci_low, lm.ci_high) == pytest.approx(tuple(fit.conf_int(0.05).loc[term]), rel=1e-6)
    assert lm.df == fit.df_resid == 2


@pytest.mark.parametrize("mrna,protein,delta,d,call", [
    ("equivalent", "down", "different", -2.0, "post-transcriptional loss"),
    ("equivalent", "down", "equivalent", -0.1, "inconclusive"),  # same change on both sides
    ("equivalent", "down", "unclear", -0.6, "inconclusive"),
    ("equivalent", "up", "different", 1.5, "post-transcriptional gain"),
    ("equivalent", "up", "unclear", 0.7, "inconclusive"),
    ("down", "down", "equivalent", 0.0, "concordant loss"),
    ("down", "down", "different", 1.0, "concordant loss"),  # direction rule; delta_state reports magnitudes
    ("up", "up", "unclear", 0.2, "concordant gain"),
    ("equivalent", "equivalent", "equivalent", 0.0, "no change"),
    ("down", "equivalent", "different", 2.0, "post-transcriptional buffering"),  # protein lags mRNA
    ("up", "equivalent", "different", -2.0, "post-transcriptional buffering"),
    ("down", "equivalent", "unclear", 0.6, "inconclusive"),
    ("down", "equivalent", "different", -2.0, "inconclusive"),  # sign contradicts the pattern
    ("equivalent", "unclear", "unclear", 0.0, "inconclusive"),
    ("unclear", "down", "different", -2.0, "inconclusive"),
    ("up", "down", "different", -3.0, "inconclusive"),
    ("unclear", "unclear", "unclear", 0.0, "inconclusive"),
])
def test_decision_table(mrna: str, protein: str, delta: str, d: float, call: str) -> None:
    got, reason = C.decide(mrna, protein, delta, enough=True, delta_log2fc=d)
    assert got == call and reason
    assert C.decide(mrna, protein, delta, enough=False, why_not="too few")[0] == "inconclusive"
    if call.startswith("post-transcriptional"):
        assert "Δ = protein − mRNA shown different from 0 and beyond the margin" in reason
    if mrna == "equivalent" and protein == "down" and delta == "equivalent":
        assert "the mRNA and protein changes agree within the margin" in reason


def _constructed(mrna_lfc: float, mrna_se: float, protein_lfc: float, n: int = 4, sd: float = 0.03,
                 seed: int = 1) -> pd.Series:
    """One pair with a given DE row (Wald p from lfc/se, padj = p) and n v n protein samples around the effect."""
    sheet = _sheet(n, batches=False)
    p = float(2 * stats.norm.sf(abs(mrna_lfc) / mrna_se))
    de = pd.DataFrame({"baseMean": [2000.0], "log2FoldChange": [mrna_lfc], "lfcSE": [mrna_se],
                       "stat": [mrna_lfc / mrna_se], "pvalue": [p], "padj": [p], "log2FoldChange_shrunk": [mrna_lfc],
                       "lfcSE_shrunk": [mrna_se], "tested": [True]}, index=pd.Index(["IL3RA"], name="gene_id"))
    noise = np.random.default_rng(seed).normal(0, sd, 2 * n)
    noise[:n] -= noise[:n].mean()  # the protein estimate is exactly the planted effect
    noise[n:] -= noise[n:].mean()
    y = 10.0 + np.r_[np.zeros(n), np.full(n, protein_lfc)] + noise
    protein = pd.DataFrame({"marker": "CD123", "sample": sheet.index, "protein_log2": y, "n_wells": 1})
    return _row(C.concordance(de, protein, sheet, {"CD123": "IL3RA"}), "CD123")


@pytest.mark.parametrize("case,mrna_lfc,mrna_se,protein_lfc,call,delta_state", [
    ("issue: same change on both sides, mRNA just inside the margin", -0.45, 0.02, -0.55, "inconclusive",
     "equivalent"),
    ("true post-transcriptional loss", 0.02, 0.05, -2.0, "post-transcriptional loss", "different"),
    ("true post-transcriptional gain", -0.05, 0.08, 1.5, "post-transcriptional gain", "different"),
    ("protein lags mRNA (mRNA down, protein flat)", -2.0, 0.1, -0.05, "post-transcriptional buffering", "different"),
    ("protein lags mRNA (mRNA up, protein flat)", 3.0, 0.2, 0.1, "post-transcriptional buffering", "different"),
    ("no change", 0.03, 0.05, -0.02, "no change", "equivalent"),
    ("same large loss on both sides", -2.0, 0.1, -2.1, "concordant loss", "equivalent"),
    ("concordant gain, protein gains less", 4.0, 0.15, 1.5, "concordant gain", "different"),
    ("protein lags but mRNA change barely beyond margin", -0.8, 0.1, -0.45, "inconclusive", "unclear"),
])
def test_constructed_cases_follow_delta(case: str, mrna_lfc: float, mrna_se: float, protein_lfc: float, call: str,
                                        delta_state: str) -> None:
    r = _constructed(mrna_lfc, mrna_se, protein_lfc)
    assert r["delta_log2fc"] == pytest.approx(r["protein_log2fc"] - r["mrna_log2fc"], abs=1e-12)
    assert r["delta_log2fc"] == pytest.approx(protein_lfc - mrna_lfc, abs=1e-9)
    assert r["delta_state"] == delta_state, (case, r["reason"])
    assert r["call"] == call, (case, r["reason"])


def test_issue_case_was_post_transcriptional_by_significance_alone() -> None:
    """The constructed case of issue 22: both sides pass their own tests, Δ = -0.1 is shown inside the margin."""
    r = _constructed(-0.45, 0.02, -0.55)
    assert r["mrna_state"] == "equivalent" and r["protein_state"] == "down"  # the old table said post-transcriptional
    assert r["delta_tost_p"] < 0.05 and -0.5 < r["delta_tost_ci_low"] < r["delta_tost_ci_high"] < 0.5
    assert r["call"] == "inconclusive" and "agree within the margin" in r["reason"]


def test_cli_issue_case_and_true_loss(tmp_path: Path) -> None:
    """`ressig concordance` as a user runs it: IL3RA mRNA -0.45 (lfcSE 0.02) with CD123 protein -0.55 (4 v 4, tight)
    is no longer post-transcriptional; CD38 protein -2 with its mRNA flat is; delta columns are written."""
    samples = [f"P{i}" for i in range(1, 5)] + [f"R{i}" for i in range(1, 5)]
    (tmp_path / "samples.tsv").write_text("sample\tcondition\n" + "".join(
        f"{s}\t{'parental' if s[0] == 'P' else 'resistant'}\n" for s in samples))
    de = pd.DataFrame({"baseMean": [2000.0, 1500.0], "log2FoldChange": [-0.45, 0.02], "lfcSE": [0.02, 0.05]},
                      index=pd.Index(["IL3RA", "CD38"], name="gene_id"))
    de["stat"] = de["log2FoldChange"] / de["lfcSE"]
    de["pvalue"] = 2 * stats.norm.sf(de["stat"].abs())
    de["padj"] = de["pvalue"]
    de["log2FoldChange_shrunk"], de["lfcSE_shrunk"], de["tested"] = de["log2FoldChange"], de["lfcSE"], True
    de.to_csv(tmp_path / "de.tsv", sep="\t")
    pd.DataFrame(1000.0, index=de.index, columns=samples).rename_axis("gene_id").to_csv(tmp_path / "norm.tsv", sep="\t")
    jitter = [0.98, 1.02, 1.01, 0.99]  # mean log2 ~0: the protein log2FC is the planted one within 1e-3
    rows = [(s, m, base * (2.0 ** lfc if s[0] == "R" else 1.0) * jitter[int(s[1]) - 1])
            for m, base, lfc in (("CD123", 12000.0, -0.55), ("CD38", 5000.0, -2.0)) for s in samples]
    pd.DataFrame(rows, columns=["sample", "marker", "value"]).to_csv(tmp_path / "protein.tsv", sep="\t", index=False)
    assert main(["-q", "concordance", "--de", str(tmp_path / "de.tsv"), "--normalized", str(tmp_path / "norm.tsv"),
                 "--samples", str(tmp_path / "samples.tsv"), "--protein", str(tmp_path / "protein.tsv"),
                 "--pair", "CD123=IL3RA", "CD38=CD38", "--outdir", str(tmp_path / "out")]) == 0
    res = pd.read_csv(tmp_path / "out/concordance.tsv", sep="\t").set_index("marker")
    for col in ("delta_log2fc", "delta_se", "delta_df", "delta_ci_low", "delta_ci_high", "delta_p", "delta_tost_p",
                "delta_tost_ci_low", "delta_tost_ci_high", "delta_state"):
        assert col in res.columns
    cd123, cd38 = res.loc["CD123"], res.loc["CD38"]
    assert cd123["protein_log2fc"] == pytest.approx(-0.55, abs=1e-3)
    assert cd123["delta_log2fc"] == pytest.approx(cd123["protein_log2fc"] - cd123["mrna_log2fc"], abs=1e-9)
    assert cd123["mrna_state"] == "equivalent" and cd123["protein_state"] == "down"
    assert cd123["delta_state"] == "equivalent" and cd123["call"] == "inconclusive"
    assert cd38["call"] == "post-transcriptional loss" and cd38["delta_state"] == "different"
    assert cd38["delta_log2fc"] == pytest.approx(-2.02, abs=1e-3)


def test_delta_statistics_match_independent_computation() -> None:
    """se, Welch-Satterthwaite df (mRNA df = inf), CI, p and TOST of Δ recomputed with scipy; TOST CIs."""
    r = _constructed(-0.3, 0.12, -1.4, n=3, sd=0.25, seed=5)
    se_p, se_m, df_p = r["protein_se"], r["mrna_se"], r["protein_df"]
    assert df_p == 4  # linear model with condition only: 3 + 3 - 2
    se = math.sqrt(se_p ** 2 + se_m ** 2)
    df = se ** 4 / (se_p ** 4 / df_p)
    d = r["protein_log2fc"] - r["mrna_log2fc"]
    assert r["delta_se"] == pytest.approx(se, rel=1e-12) and r["delta_df"] == pytest.approx(df, rel=1e-12)
    assert df_p < r["delta_df"]
    t = stats.t(df)
    assert r["delta_p"] == pytest.approx(2 * t.sf(abs(d) / se), rel=1e-9)
    assert (r["delta_ci_low"], r["delta_ci_high"]) == pytest.approx((d - t.ppf(0.975) * se, d + t.ppf(0.975) * se))
    assert r["delta_tost_p"] == pytest.approx(max(t.sf((d + 0.5) / se), t.cdf((d - 0.5) / se)), rel=1e-9)
    assert (r["delta_tost_ci_low"], r["delta_tost_ci_high"]) == pytest.approx((d - t.ppf(0.95) * se,
                                                                               d + t.ppf(0.95) * se))
    z = stats.norm.ppf(0.95) * se_m
    assert (r["mrna_tost_ci_low"], r["mrna_tost_ci_high"]) == pytest.approx((-0.3 - z, -0.3 + z))
    tp = stats.t.ppf(0.95, df_p) * se_p
    assert (r["protein_tost_ci_low"], r["protein_tost_ci_high"]) == pytest.approx(
        (r["protein_log2fc"] - tp, r["protein_log2fc"] + tp))
    assert r["tost_ci_level"] == pytest.approx(0.9)
    for side in ("mrna", "protein", "delta"):  # TOST p < alpha <=> the (1 - 2 alpha) CI lies inside the margin
        inside = -0.5 < r[f"{side}_tost_ci_low"] and r[f"{side}_tost_ci_high"] < 0.5
        assert (r[f"{side}_tost_p"] < 0.05) == inside


@pytest.mark.parametrize("welch,n,sd,mrna_se", [
    (True, 3, 0.3, 0.15),   # Welch protein test, protein SE dominates: small df
    (True, 4, 0.1, 0.2),    # Welch, mRNA SE dominates: df large
    (False, 3, 0.25, 0.1),  # pooled-variance t (the linear model without covariates)
])
def test_delta_ci_coverage(welch: bool, n: int, sd: float, mrna_se: float) -> None:
    """Over 3000 simulated experiments the (1 - alpha) CI of Δ covers the true Δ close to 1 - alpha
    (and the TOST CI close to 1 - 2 alpha). mRNA: Wald estimate with known SE; protein: n v n samples."""
    rng = np.random.default_rng(2026)
    reps, true_m, true_p = 3000, -0.3, -1.8
    a = rng.normal(8.0 + true_p, sd, (reps, n))  # treatment
    b = rng.normal(8.0, sd, (reps, n))           # reference
    va, vb = a.var(axis=1, ddof=1), b.var(axis=1, ddof=1)
    if welch:
        se_p = np.sqrt(va / n + vb / n)
        df_p = (va / n + vb / n) ** 2 / ((va / n) ** 2 / (n - 1) + (vb / n) ** 2 / (n - 1))
    else:
        se_p = np.sqrt((va + vb) / 2 * (2 / n))
        df_p = np.full(reps, 2.0 * n - 2)
    est_p = a.mean(axis=1) - b.mean(axis=1)
    est_m = rng.normal(true_m, mrna_se, reps)
    covered = tost_covered = 0
    for i in range(reps):
        m = S.fill_effect(S.Effect(log2fc=float(est_m[i]), se=mrna_se, df=math.inf), 0.5, 0.05)
        p = S.fill_effect(S.Effect(log2fc=float(est_p[i]), se=float(se_p[i]), df=float(df_p[i])), 0.5, 0.05)
        d = C.delta_effect(m, p, 0.5, 0.05)
        covered += d.ci_low <= true_p - true_m <= d.ci_high
        tost_covered += d.tost_ci_low <= true_p - true_m <= d.tost_ci_high
    assert covered / reps == pytest.approx(0.95, abs=0.015)
    assert tost_covered / reps == pytest.approx(0.90, abs=0.02)
    if mrna_se > sd:  # a CI that ignores the mRNA uncertainty (protein CI moved by the mRNA estimate) undercovers
        naive = np.abs(est_p - est_m - (true_p - true_m)) <= stats.t.ppf(0.975, df_p) * se_p
        assert naive.mean() < 0.8


def test_not_significant_protein_is_never_no_change() -> None:
    """Absence of a protein difference is not equivalence: wide CI -> inconclusive, not 'no change'."""
    sheet = _sheet(3)
    de = pd.DataFrame({"baseMean": [2000.0], "log2FoldChange": [0.0], "lfcSE": [0.1], "stat": [0.0],
                       "pvalue": [1.0], "padj": [1.0], "log2FoldChange_shrunk": [0.0], "lfcSE_shrunk": [0.1],
                       "tested": [True]}, index=pd.Index(["IL3RA"], name="gene_id"))
    y = [10.0, 11.5, 9.0, 10.2, 8.8, 11.9]  # no real difference, very noisy
    protein = pd.DataFrame({"marker": "CD123", "sample": sheet.index, "protein_log2": y, "n_wells": 1})
    r = _row(C.concordance(de, protein, sheet, {"CD123": "IL3RA"}), "CD123")
    assert r["mrna_state"] == "equivalent" and r["protein_state"] == "unclear"
    assert r["call"] == "inconclusive" and "protein neither shown different nor equivalent" in r["reason"]
    tight = [10.0, 10.02, 9.98, 10.01, 9.99, 10.0]
    protein["protein_log2"] = tight
    assert _row(C.concordance(de, protein, sheet, {"CD123": "IL3RA"}), "CD123")["call"] == "no change"
    de["tested"] = False
    r = _row(C.concordance(de, protein, sheet, {"CD123": "IL3RA"}), "CD123")
    assert r["call"] == "inconclusive" and "not tested" in r["reason"]


# --------------------------------------------------------------------------- simulated variants


@pytest.fixture(scope="module")
def demo_inputs(demo_run) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """DE table + sheet of the demo workflow run, and the demo per-sample protein."""
    sheet = read_sample_sheet(REPO / "config/samples.tsv")
    return read_de(demo_run / "results/de/resistant_vs_parental.tsv"), sheet, _protein(pd.read_csv(REPO / "resources/demo/protein.tsv", sep="\t"), sheet)


def test_variant_mrna_down_with_protein_down_is_concordant_loss() -> None:
    data = simulate_experiment(n_genes=600, n_background_de=40, seed=7, log2fc_overrides={"IL3RA": -2.0})
    sheet = data.samples.set_index("sample")
    de = run_de(data.counts, sheet, covariates=["batch"], shrink=False).table  # calls use the unshrunk MLE
    assert de.at["IL3RA", "log2FoldChange"] == pytest.approx(-2.0, abs=0.4)
    res = C.concordance(de, _protein(data.protein, sheet), sheet, covariates=["batch"])
    cd123 = _row(res, "CD123")
    assert cd123["call"] == "concordant loss", cd123["reason"]
    assert cd123["mrna_padj"] < 0.05 and cd123["protein_p"] < 0.05 and cd123["mrna_tost_p"] > 0.05
    assert _row(res, "P-gp")["call"] == "concordant gain"


def test_variant_two_replicates_noisy_protein_is_inconclusive() -> None:
    data = simulate_experiment(n_genes=600, n_background_de=40, seed=11, n_per_group=2, protein_sample_sd=0.8)
    sheet = data.samples.set_index("sample")
    de = run_de(data.counts, sheet, covariates=["batch"], shrink=False).table
    protein = _protein(data.protein, sheet)
    for model in ("linear", "welch"):
        res = C.concordance(de, protein, sheet, covariates=["batch"], protein_model=model)
        cd123 = _row(res, "CD123")
        assert cd123["n_reference"] == cd123["n_treatment"] == 2
        assert cd123["call"] == "inconclusive", (model, cd123["reason"])
        assert cd123["protein_ci_low"] < -0.5 and cd123["protein_ci_high"] > 0.5  # CI straddles the margins
    # with a stricter replicate requirement the reason says so even when the protein signal is clear
    clean = simulate_experiment(n_genes=600, n_background_de=40, seed=11, n_per_group=2)
    res = C.concordance(de, _protein(clean.protein, sheet), sheet, covariates=["batch"], min_replicates=3)
    assert set(res["call"]) == {"inconclusive"} and res["reason"].str.contains("too few biological").all()


def test_marker_without_gene_or_de_row_is_an_error(demo_inputs) -> None:
    de, sheet, protein = demo_inputs
    extra = pd.concat([protein, protein[protein.marker == "CD123"].assign(marker="CD38")])
    with pytest.raises(RessigError, match=r"marker 'CD38' has no mapped gene; add it to concordance.pairs"):
        C.concordance(de, extra, sheet)
    with pytest.raises(RessigError, match=r"marker 'CD123': its gene 'NOTAGENE' has no row in the DE table"):
        C.concordance(de, protein, sheet, {"CD123": "NOTAGENE", "P-gp": "ABCB1"})
    with pytest.raises(RessigError, match=r"marker 'CD33' from concordance.pairs is not in the protein data"):
        C.concordance(de, protein, sheet, {"CD123": "IL3RA", "P-gp": "ABCB1", "CD33": "CD33"})
    # aliases are accepted for the gene
    res = C.concordance(de, protein, sheet, {"CD123": "IL3RA", "P-gp": "MDR1"}, covariates=["batch"])
    assert _row(res, "P-gp")["gene"] == "ABCB1"


# --------------------------------------------------------------------------- bad protein tables


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "protein.tsv"
    p.write_text(text)
    return p


GOOD = "sample\tmarker\tvalue\tisotype\treplicate\nGEN2.2-P1\tCD123\t1200\t200\t1\nGEN2.2-P2\tCD123\t1100\t210\t1\n"


@pytest.mark.parametrize("text,expected", [
    ("sample\tvalue\nGEN2.2-P1\t5\n", r"protein table has no column\(s\) 'marker'"),
    (GOOD + "GEN2.2-P3\tCD123\thigh\t200\t1\n", r"non-numeric 'value' value 'high' at data row 3 \(sample 'GEN2.2-P3', "
                                                r"marker 'CD123'\), column 'value'"),
    (GOOD + "GEN2.2-X9\tCD123\t900\t200\t1\n", r"unknown sample 'GEN2.2-X9' at data row 3, column 'sample'"),
    (GOOD + "GEN2.2-P3\tCD123\t-5\t0\t1\n", r"negative 'value' -5 at data row 3 .*column 'value'"),
    (GOOD + "GEN2.2-P1\tCD123\t1300\t200\t1\n", r"duplicated sample/marker/replicate at data row 3"),
    (GOOD + "GEN2.2-P3\tCD123\t150\t200\t1\n", r"value 150 minus background 200 is <= 0 at data row 3 "
                                               r"\(sample 'GEN2.2-P3', marker 'CD123'\), column 'value'"),
    (GOOD + "GEN2.2-P3\t\t150\t20\t1\n", r"empty 'marker' at data row 3, column 'marker'"),
])
def test_bad_protein_table_one_line_error(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(RessigError) as err:
        P.well_signals(P.read_protein_table(path, SAMPLES), source=path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(path))
    assert re.search(expected, msg), msg


def test_nonpositive_clip_is_explicit(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD + "GEN2.2-P3\tCD123\t150\t200\t1\n")
    wells = P.well_signals(P.read_protein_table(path, SAMPLES), nonpositive="clip", source=path)
    assert wells["signal"].tolist() == [1000.0, 890.0, 1.0] and wells["log2_signal"].iat[2] == 0.0
    table = P.read_protein_table(_write(tmp_path, "sample\tmarker\tvalue\nGEN2.2-P1\tCD123\t8\n"), SAMPLES)
    assert table[["background", "replicate"]].iloc[0].tolist() == [0.0, "1"]


# --------------------------------------------------------------------------- FCS input (real files via flowio)

CHANNELS = ["FSC-A", "SSC-A", "PE-A", "APC-A"]
GATE = {"FSC-A": [1000.0, 200000.0], "SSC-A": [1000.0, 200000.0]}
# per sample: (CD123 stained median, P-gp stained median); isotype medians are 250 (PE) and 150 (APC)
FCS_MEDIANS = {"GEN2.2-P1": (12400, 560), "GEN2.2-P2": (12600, 540), "GEN2.2-P3": (12200, 550),
               "GEN2.2-R1": (3300, 3500), "GEN2.2-R2": (3200, 3400), "GEN2.2-R3": (3250, 3300)}


def write_fcs(path: Path, pe_median: float, apc_median: float, n: int = 1001, n_debris: int = 400) -> Path:
    """FCS 3.1 file: ``n`` gated events whose PE/APC medians are exactly the given values, plus
    ``n_debris`` low-scatter events with huge PE/APC that only the gate removes."""
    offs = np.arange(n) - n // 2
    cells = np.column_stack([np.full(n, 50000.0), np.full(n, 30000.0), pe_median + offs, apc_median + offs / 10])
    debris = np.column_stack([np.full(n_debris, 100.0), np.full(n_debris, 80.0), np.full(n_debris, 150000.0),
                              np.full(n_debris, 150000.0)])
    events = np.vstack([cells, debris])
    with open(path, "wb") as fh:
        flowio.create_fcs(fh, events.ravel().tolist(), CHANNELS, opt_channel_names=["", "", "CD123-PE", "P-gp-APC"])
    return path


@pytest.fixture
def fcs_dir(tmp_path: Path) -> Path:
    d = tmp_path / "fcs"
    d.mkdir()
    rows = ["sample\tfile\tisotype_file\treplicate"]
    for s, (pe, apc) in FCS_MEDIANS.items():
        write_fcs(d / f"{s}.fcs", pe, apc)
        write_fcs(d / f"{s}_iso.fcs", 250, 150)
        rows.append(f"{s}\t{d / f'{s}.fcs'}\t{d / f'{s}_iso.fcs'}\t1")
    (d / "fcs.tsv").write_text("\n".join(rows) + "\n")
    return d


def _cli(demo_run: Path, outdir: Path, *extra: str) -> int:
    return main(["-q", "concordance", "--de", str(demo_run / "results/de/resistant_vs_parental.tsv"),
                 "--normalized", str(demo_run / "results/de/normalized_counts.tsv"),
                 "--samples", str(demo_run / "results/counts/samples.tsv"), "--covariates", "batch",
                 "--outdir", str(outdir), *extra])


def _fcs_args(fcs_dir: Path) -> list[str]:
    return ["--fcs-table", str(fcs_dir / "fcs.tsv"), "--channel", "CD123=PE-A", "P-gp=P-gp-APC",
            "--gate", "FSC-A=1000:200000", "SSC-A=1000:200000"]


def test_fcs_medians_and_calls(demo_run: Path, fcs_dir: Path, tmp_path: Path) -> None:
    ev = P.read_fcs(fcs_dir / "GEN2.2-P1.fcs")
    assert ev.data.shape == (1401, 4) and ev.pns[2] == "CD123-PE"
    assert P.fcs_median(ev, "PE-A", GATE) == (12400.0, 1001)
    assert P.fcs_median(ev, "CD123-PE", GATE)[0] == 12400.0  # $PnS name works too
    assert P.fcs_median(ev, "PE-A", None, min_events=1)[0] > 12400.0  # debris shifts the ungated median
    out = tmp_path / "out"
    assert _cli(demo_run, out, *_fcs_args(fcs_dir)) == 0
    wells = pd.read_csv(out / "protein_wells.tsv", sep="\t").set_index(["marker", "sample"])
    for s, (pe, apc) in FCS_MEDIANS.items():
        assert wells.loc[("CD123", s), "value"] == pe and wells.loc[("CD123", s), "background"] == 250
        assert wells.loc[("P-gp", s), "value"] == pytest.approx(apc) and wells.loc[("P-gp", s), "background"] == 150
        assert wells.loc[("CD123", s), "log2_signal"] == pytest.approx(math.log2(pe - 250))
    res = pd.read_csv(out / "concordance.tsv", sep="\t").set_index("marker")
    assert res.at["CD123", "call"] == "post-transcriptional loss"
    assert res.at["P-gp", "call"] == "concordant gain"
    par = [math.log2(FCS_MEDIANS[f"GEN2.2-P{i}"][0] - 250) for i in (1, 2, 3)]
    rst = [math.log2(FCS_MEDIANS[f"GEN2.2-R{i}"][0] - 250) for i in (1, 2, 3)]
    assert res.at["CD123", "protein_p"] == pytest.approx(stats.ttest_rel(rst, par).pvalue, rel=1e-5)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_fcs_clear_error_no_output(demo_run: Path, fcs_dir: Path, tmp_path: Path, damage: str,
                                           capsys: pytest.CaptureFixture) -> None:
    bad = fcs_dir / "GEN2.2-R2.fcs"
    raw = bad.read_bytes()
    bad.write_bytes({"truncate": raw[: len(raw) // 2], "garbage": b"not an fcs file at all" * 10, "empty": b""}[damage])
    out = tmp_path / "out"
    assert _cli(demo_run, out, *_fcs_args(fcs_dir)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"ressig: error: {bad}:"), err
    assert "FCS" in err
    assert not out.exists() or not any(out.iterdir())


def test_fcs_missing_channel_and_sparse_gate(fcs_dir: Path) -> None:
    ev = P.read_fcs(fcs_dir / "GEN2.2-P1.fcs")
    with pytest.raises(RessigError, match=r"FCS file has no channel 'FITC-A' \(channels: FSC-A, SSC-A, PE-A "
                                          r"\(CD123-PE\), APC-A \(P-gp-APC\)\)"):
        P.fcs_median(ev, "FITC-A", GATE)
    with pytest.raises(RessigError, match=r"only 0 of 1401 events inside the scatter gate"):
        P.fcs_median(ev, "PE-A", {"FSC-A": [0, 10]})


# --------------------------------------------------------------------------- CLI + workflow wiring


def test_cli_table_rerun_is_byte_identical(demo_run: Path, tmp_path: Path) -> None:
    args = ["--protein", str(REPO / "resources/demo/protein.tsv")]
    assert _cli(demo_run, tmp_path / "a", *args) == 0
    assert _cli(demo_run, tmp_path / "b", *args) == 0
    for f in ("concordance.tsv", "protein_wells.tsv", "protein_samples.tsv", "lfc_mrna_vs_protein.png",
              "per_sample.png"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert (tmp_path / "a/concordance.tsv").read_bytes() == (demo_run / "results/concordance/concordance.tsv").read_bytes()


def test_cli_needs_exactly_one_protein_input(demo_run: Path, tmp_path: Path, capsys) -> None:
    assert _cli(demo_run, tmp_path / "o") == 2
    assert "give exactly one protein input" in capsys.readouterr().err


@pytest.mark.workflow
def test_rule_enabled_only_with_protein_input(tmp_path: Path, fcs_dir: Path) -> None:
    wd = copy_workflow(tmp_path / "wf")
    cfg = (wd / "config/demo.yaml").read_text()
    off = cfg.replace("protein: resources/demo/protein.tsv", "protein: null")
    (wd / "off.yaml").write_text(off)
    dry = run_snakemake(wd, "-n", "--configfile", "off.yaml")
    assert "concordance" not in dry.stdout.split("Job stats:")[-1]
    shutil.copytree(fcs_dir, wd / "fcs")
    fcs_cfg = off.replace("files: null", "files: fcs/fcs.tsv").replace(
        "channels: {}", "channels: {CD123: PE-A, P-gp: APC-A}").replace(
        "gate: {}", "gate: {FSC-A: [1000, 200000], SSC-A: [1000, 200000]}")
    (wd / "fcs.yaml").write_text(fcs_cfg)
    dry = run_snakemake(wd, "-n", "--configfile", "fcs.yaml", "-p")
    assert re.search(r"^concordance\s+1$", dry.stdout, re.M), dry.stdout[-2000:]
    assert "GEN2.2-R3_iso.fcs" in dry.stdout and "--gate FSC-A=1000:200000 SSC-A=1000:200000" in dry.stdout
