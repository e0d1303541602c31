"""`ressig associate`: signature scores against survival and response.

* R parity on survival::lung (tests/fixtures/outcome_r, made by make_reference.R with R's survival
  3.5.3 and pROC 1.18.0): coxph (Efron), survdiff, concordance, glm(binomial), pROC DeLong.
* planted effects (hazard and odds ratios) recovered, a planted null not found;
* every bad input: one ``ressig: error:`` line (exact text) or an NA row with its reason.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from ressig.cli import main
from ressig.outcome import OutcomeSpec, associate, auc_delong, harrell_c, logrank
from ressig.outcome.demo import simulate_clinical

FIX = REPO / "tests/fixtures/outcome_r"
SCORES = FIX / "lung_scores.tsv"
CLINICAL = FIX / "lung_clinical.tsv"
REL = 1e-4


def _ref(name: str) -> pd.DataFrame:
    return pd.read_csv(FIX / name, sep="\t", skipinitialspace=True).set_index("signature")


def _run(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ressig", "associate", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def lung_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lung")
    proc = _run("--scores", SCORES, "--clinical", CLINICAL, "--time", "time_days", "--event", "status",
                "--covariates", "age", "sex", "--response", "ecog", "--positive", "impaired",
                "--time-unit", "days", "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out


def _close(ours: pd.Series, ref: pd.Series, rel: float) -> None:
    np.testing.assert_allclose(ours.to_numpy(float), ref.loc[ours.index].to_numpy(float), rtol=rel, atol=0)


def test_survival_equals_r_coxph_survdiff_concordance(lung_run):
    ours = pd.read_csv(lung_run / "survival.tsv", sep="\t").set_index("signature")
    ref = _ref("reference_survival.tsv")
    assert list(ours.index) == list(ref.index)
    assert (ours["n"] == ref["n"]).all() and (ours["events"] == ref["events"]).all()
    for col in ("hr_per_sd", "hr_ci_low", "hr_ci_high", "p_wald", "p_lrt", "logrank_chisq", "logrank_p", "ph_p"):
        _close(ours[col], ref[col], REL)
    np.testing.assert_allclose(ours["concordance"], ref["concordance"], atol=1e-4, rtol=0)
    assert (ours["covariates"] == "age,sex").all() and (ours["time_unit"] == "days").all()
    assert (ours["event_coding"] == "2=event, 1=censored (R Surv coding)").all()
    # BH across the four signatures
    p = ours["p_wald"].to_numpy()
    order = np.argsort(p)
    q = np.minimum.accumulate((p[order] * 4 / np.arange(1, 5))[::-1])[::-1]
    np.testing.assert_allclose(ours["qvalue"].to_numpy()[order], q, rtol=1e-9)


def test_response_equals_r_glm_and_proc_delong(lung_run):
    ours = pd.read_csv(lung_run / "response.tsv", sep="\t").set_index("signature")
    ref = _ref("reference_response.tsv")
    assert (ours["n"] == ref["n"]).all() and (ours["n_positive"] == ref["n_positive"]).all()
    for col in ("odds_ratio_per_sd", "or_ci_low", "or_ci_high", "p"):
        _close(ours[col], ref[col], REL)
    for col in ("auc", "auc_ci_low", "auc_ci_high"):
        np.testing.assert_allclose(ours[col], ref.loc[ours.index, col], atol=1e-4, rtol=0)
    assert (ours["positive"] == "impaired").all() and (ours["response"] == "ecog").all()


def test_strata_equal_r(tmp_path):
    proc = _run("--scores", SCORES, "--clinical", CLINICAL, "--time", "time_days", "--event", "status",
                "--covariates", "age", "--strata", "sex", "--out", tmp_path, "--no-figures")
    assert proc.returncode == 0, proc.stderr
    ours = pd.read_csv(tmp_path / "survival.tsv", sep="\t").set_index("signature")
    ref = _ref("reference_survival_strata.tsv")
    for col in ("hr_per_sd", "hr_ci_low", "hr_ci_high", "p_wald", "p_lrt", "logrank_chisq", "logrank_p", "ph_p"):
        _close(ours[col], ref[col], REL)
    np.testing.assert_allclose(ours["concordance"], ref["concordance"], atol=1e-4, rtol=0)
    assert (ours["strata"] == "sex").all() and not (tmp_path / "km.png").exists()


def test_matching_table_and_figures(lung_run):
    match = pd.read_csv(lung_run / "matching.tsv", sep="\t")
    assert len(match) == 228 and (match["status"] == "matched").all()
    for name in ("km.png", "forest.png", "response.png"):
        data = (lung_run / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, name


def test_rerun_is_byte_identical(lung_run, tmp_path):
    proc = _run("--scores", SCORES, "--clinical", CLINICAL, "--time", "time_days", "--event", "status",
                "--covariates", "age", "sex", "--response", "ecog", "--positive", "impaired",
                "--time-unit", "days", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in ("survival.tsv", "response.tsv", "matching.tsv", "km.png", "forest.png", "response.png"):
        assert (tmp_path / name).read_bytes() == (lung_run / name).read_bytes(), name


# ------------------------------------------------------------------------------------------------
# the statistics against lifelines / by definition


def test_harrell_c_equals_lifelines_without_time_ties(rng):
    from lifelines.utils import concordance_index

    t = rng.exponential(10, 300)
    e = (rng.uniform(size=300) < 0.7).astype(float)
    risk = np.round(rng.normal(size=300), 1)  # ties in the risk score count 1/2 in both
    c, counts = harrell_c(t, e, risk)
    assert c == pytest.approx(concordance_index(t, -risk, e), abs=1e-12)
    assert counts["tied_x"] > 0


def test_stratified_logrank_with_one_stratum_is_lifelines(rng):
    t = rng.exponential(10, 200).round(0)  # tied times
    e = (rng.uniform(size=200) < 0.8).astype(float)
    g = rng.uniform(size=200) < 0.4
    plain = logrank(t, e, g)
    one = logrank(t, e, g, strata=np.zeros(200))
    assert one[0] == pytest.approx(plain[0], rel=1e-10) and one[1] == pytest.approx(plain[1], rel=1e-10)


def test_auc_ties_half_and_delong_by_hand():
    score = np.array([1.0, 2.0, 2.0, 3.0, 2.0, 0.5])
    pos = np.array([True, True, True, True, False, False])
    auc, lo, hi = auc_delong(score, pos)
    # pairs (pos, neg): vs 2.0 -> 0, .5, .5, 1; vs 0.5 -> 1, 1, 1, 1
    assert auc == pytest.approx(6.0 / 8.0)
    v10 = np.array([0.5, 0.75, 0.75, 1.0])
    v01 = np.array([0.5, 1.0])
    se = np.sqrt(v10.var(ddof=1) / 4 + v01.var(ddof=1) / 2)
    assert lo == pytest.approx(auc - 1.959963984540054 * se) and hi == 1.0


# ------------------------------------------------------------------------------------------------
# planted effects


def _synthetic_scores(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"RESISTANCE": rng.normal(0.1, 0.05, n), "NULL_SET": rng.normal(0.0, 0.2, n)},
                        index=[f"P-{i:04d}.x" for i in range(n)])


def _write_long(scores: pd.DataFrame, path: Path) -> Path:
    long = scores.rename_axis("sample").reset_index().melt("sample", var_name="signature", value_name="score")
    long[["signature", "sample", "score"]].to_csv(path, sep="\t", index=False)
    return path


def test_planted_hazard_and_odds_ratios_are_recovered(tmp_path):
    scores = _synthetic_scores(600, 1)
    clin = simulate_clinical(scores, {"RESISTANCE": 2.0}, {"RESISTANCE": 3.0}, seed=7)
    clin.to_csv(tmp_path / "clin.tsv", sep="\t", index=False)
    spec = OutcomeSpec(time="os_months", event="death", covariates=["age", "sex"], response="phenotype",
                       positive="resistant", time_unit="months")
    associate(_write_long(scores, tmp_path / "s.tsv"), tmp_path / "clin.tsv", tmp_path / "out", spec, figures=False)
    surv = pd.read_csv(tmp_path / "out/survival.tsv", sep="\t").set_index("signature")
    resp = pd.read_csv(tmp_path / "out/response.tsv", sep="\t").set_index("signature")
    res, null = surv.loc["RESISTANCE"], surv.loc["NULL_SET"]
    assert res["hr_ci_low"] <= 2.0 <= res["hr_ci_high"] and res["hr_ci_low"] > 1.5 and res["p_wald"] < 1e-20
    assert null["hr_ci_low"] <= 1.0 <= null["hr_ci_high"] and null["qvalue"] > 0.05
    assert res["concordance"] > 0.6 and 0.45 < null["concordance"] < 0.55
    r, rn = resp.loc["RESISTANCE"], resp.loc["NULL_SET"]
    assert r["or_ci_low"] <= 3.0 <= r["or_ci_high"] and r["auc"] > 0.7
    assert r["auc_ci_low"] < r["auc"] < r["auc_ci_high"]
    assert rn["or_ci_low"] <= 1.0 <= rn["or_ci_high"] and rn["auc_ci_low"] <= 0.5 <= rn["auc_ci_high"]


# ------------------------------------------------------------------------------------------------
# real-world clinical tables and bad inputs


def _lung_clinical() -> pd.DataFrame:
    return pd.read_csv(CLINICAL, sep="\t", dtype=str, keep_default_na=False)


def _associate(tmp_path, clin: pd.DataFrame, *extra: str, scores: Path = SCORES, name="clin.tsv"):
    path = tmp_path / name
    clin.to_csv(path, sep="\t", index=False)
    return main(["associate", "--scores", str(scores), "--clinical", str(path), "--out", str(tmp_path / "out"),
                 "--no-figures", *extra])


def test_event_codings_give_the_same_model(tmp_path):
    base = None
    for name, coding in [("01", {"2": "1", "1": "0"}), ("tf", {"2": "TRUE", "1": "FALSE"}),
                         ("named", {"2": "dead", "1": "alive"})]:
        clin = _lung_clinical()
        clin["status"] = clin["status"].map(coding)
        out = tmp_path / name
        out.mkdir()
        assert _associate(out, clin, "--time", "time_days", "--event", "status", "--covariates", "age", "sex") == 0
        table = pd.read_csv(out / "out/survival.tsv", sep="\t")
        if base is None:
            base = table
        pd.testing.assert_series_equal(table["hr_per_sd"], base["hr_per_sd"])
    assert table["event_coding"].iloc[0] == "dead=event, alive=censored (second level in sorted order)"


def test_real_world_table_na_tokens_string_sex_renamed_ids(tmp_path, caplog):
    clin = _lung_clinical()
    clin["sample"] = clin["sample"].str.replace("-", ".", regex=False).str.lower()  # R's make.names style
    clin.loc[3, "age"] = "NA"
    clin.loc[4, "age"] = ""
    clin.loc[5, "sex"] = "#N/A"
    clin["note"] = "extra column"
    assert _associate(tmp_path, clin, "--time", "time_days", "--event", "status", "--covariates", "age", "sex") == 0
    surv = pd.read_csv(tmp_path / "out/survival.tsv", sep="\t").set_index("signature")
    assert surv.loc["KARNO_PHYSICIAN", "n"] == 227 - 3 and surv.loc["KARNO_PHYSICIAN", "n_incomplete"] == 4
    match = pd.read_csv(tmp_path / "out/matching.tsv", sep="\t")
    assert match["status"].str.startswith("matched_normalised").sum() == 2 * 228


def test_ids_renamed_by_r_make_names_are_matched_and_reported():
    from ressig.outcome import match_samples

    mapping, report = match_samples(pd.Index(["01005", "LAL5", "04006", "09999"]),
                                    pd.Index(["X01005", "lal5", "04006", "X1"]))
    assert mapping == {"04006": "04006", "X01005": "01005", "lal5": "LAL5"}
    status = dict(zip(report["sample"] + "/" + report["in_scores"].astype(str), report["status"], strict=True))
    assert status["01005/True"] == "matched_normalised: X01005" and status["09999/True"] == "unmatched"
    assert status["X1/False"] == "unmatched" and status["04006/True"] == "matched"


@pytest.mark.parametrize("edit, extra, message", [
    (lambda c: c.assign(sample="X" + c["sample"]), [],
     "{clin}: no sample in common between the clinical table (228 rows, e.g. XNCCTG-001.3, XNCCTG-002.3, "
     "XNCCTG-003.3) and the score table (228 samples, e.g. NCCTG-001.3, NCCTG-002.3, NCCTG-003.3). Check the "
     "sample column (--sample-col) and the ids"),
    (lambda c: c.assign(time_days=c["time_days"].where(c.index != 6, "-5")), [],
     "{clin}: sample NCCTG-007.7: negative time -5 in column 'time_days'. Follow-up times must be >= 0; check "
     "the dates the time was computed from"),
    (lambda c: c.assign(time_days=c["time_days"].where(c.index != 2, "12 days")), [],
     "{clin}: sample NCCTG-003.3: time column 'time_days' holds '12 days', not a number. Times must be numbers "
     "(empty or NA when unknown)"),
    (lambda c: c.assign(status=c["status"].where(c.index != 0, "3")), [],
     "{clin}: event column 'status' has 3 levels (1, 2, 3), expected 0/1, TRUE/FALSE or two named levels. "
     "Recode it to two levels"),
    (lambda c: c.assign(status=c["status"].replace({"1": "0", "2": "5"})), [],
     "{clin}: event column 'status' holds numbers 0, 5, expected 0/1 (or 1/2). Code events as 1 and censored "
     "follow-up as 0"),
    (lambda c: c, ["--response", "ecog", "--positive", "Impaired"],
     "{clin}: positive level 'Impaired' is not in response column 'ecog' (levels: impaired, normal). Give "
     "--positive as one of the levels present"),
    (lambda c: pd.concat([c, c.iloc[[1]]]), [],
     "{clin}: sample 'NCCTG-002.3' appears in rows 3, 230 of column 'sample'. Keep one row per patient"),
    (lambda c: c.drop(columns="age"), [],
     "{clin}: clinical table has no column(s) 'age'. Columns present: sample, time_days, status, sex, ecog, "
     "institution; name the right ones in the options/config"),
])
def test_bad_inputs_one_error_line_no_output(tmp_path, capsys, edit, extra, message):
    clin = edit(_lung_clinical())
    code = _associate(tmp_path, clin, "--time", "time_days", "--event", "status", "--covariates", "age", "sex",
                      *extra)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == "ressig: error: " + message.format(clin=tmp_path / "clin.tsv")
    assert not (tmp_path / "out/survival.tsv").exists()


def test_fewer_than_ten_events_gives_an_na_row_with_its_reason(tmp_path):
    clin = _lung_clinical()
    dead = clin.index[clin["status"] == "2"][9:]
    clin.loc[dead, "status"] = "1"  # 9 events left
    assert _associate(tmp_path, clin, "--time", "time_days", "--event", "status", "--covariates", "age") == 0
    surv = pd.read_csv(tmp_path / "out/survival.tsv", sep="\t", keep_default_na=False)
    row = surv.iloc[0]
    assert row["hr_per_sd"] == "" and row["events"] == 9
    assert row["reason"] == "9 events in 227 complete cases, fewer than 10"


def test_options_that_go_together(tmp_path, capsys):
    code = _associate(tmp_path, _lung_clinical(), "--time", "time_days")
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "ressig: error: give both --time and --event (survival), or neither")
    code = _associate(tmp_path, _lung_clinical(), "--response", "ecog")
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "ressig: error: --response and --positive go together: name the response column and its positive level")


@pytest.mark.workflow
def test_demo_recovers_the_planted_hazard_and_odds_ratio(demo_run):
    out = demo_run / "results/outcome/demo_bulk"
    surv = pd.read_csv(out / "survival.tsv", sep="\t").set_index("signature")
    resp = pd.read_csv(out / "response.tsv", sep="\t").set_index("signature")
    row = surv.loc["GEN22_RESISTANCE"]
    assert row["n"] == 40 and row["hr_ci_low"] <= 2.0 <= row["hr_ci_high"] and row["hr_ci_low"] > 1.0
    r = resp.loc["GEN22_RESISTANCE"]
    assert r["or_ci_low"] <= 3.0 <= r["or_ci_high"]
    # gene sets scored beside it (clinical.genesets): the efflux core rides on the resistance program,
    # the IL-3 receptor complex (IL3RA planted flat) is the planted null
    assert list(surv.index) == ["GEN22_RESISTANCE", "MULTIDRUG_EFFLUX_CORE", "IL3RA_RECEPTOR_COMPLEX"]
    null = surv.loc["IL3RA_RECEPTOR_COMPLEX"]
    assert null["hr_ci_low"] <= 1.0 <= null["hr_ci_high"] and null["p_wald"] > 0.05
    rn = resp.loc["IL3RA_RECEPTOR_COMPLEX"]
    assert rn["or_ci_low"] <= 1.0 <= rn["or_ci_high"] and rn["auc_ci_low"] <= 0.5 <= rn["auc_ci_high"]
    assert surv.loc["MULTIDRUG_EFFLUX_CORE", "hr_ci_low"] > 1.0
    for name in ("km.png", "forest.png", "response.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / name).stat().st_size > 10_000
    match = pd.read_csv(out / "matching.tsv", sep="\t")
    assert len(match) == 40 and (match["status"] == "matched").all()


def test_wide_score_table_gives_the_long_tables_results(tmp_path, lung_run):
    long = pd.read_csv(SCORES, sep="\t")
    wide = long.pivot(index="sample", columns="signature", values="score").reset_index()
    wide["KARNO_PHYSICIAN_pvalue"] = 0.5  # a per-cell extra column of the wide layout: not a signature
    wide.to_csv(tmp_path / "wide.tsv", sep="\t", index=False)
    code = main(["associate", "--scores", str(tmp_path / "wide.tsv"), "--clinical", str(CLINICAL), "--time",
                 "time_days", "--event", "status", "--covariates", "age", "sex", "--time-unit", "days",
                 "--out", str(tmp_path / "out"), "--no-figures", "--signature", "MEAL_CAL", "WT_LOSS"])
    assert code == 0
    ours = pd.read_csv(tmp_path / "out/survival.tsv", sep="\t").set_index("signature")
    ref = pd.read_csv(lung_run / "survival.tsv", sep="\t").set_index("signature")
    assert list(ours.index) == ["MEAL_CAL", "WT_LOSS"]
    cols = ["n", "events", "hr_per_sd", "p_wald", "concordance", "logrank_p", "ph_p"]
    pd.testing.assert_frame_equal(ours[cols], ref.loc[["MEAL_CAL", "WT_LOSS"], cols])


def test_several_score_tables_are_joined_and_a_signature_twice_is_refused(tmp_path, lung_run, capsys):
    long = pd.read_csv(SCORES, sep="\t")
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    long[long["signature"] == "MEAL_CAL"].to_csv(a, sep="\t", index=False)
    long[long["signature"] == "WT_LOSS"].iloc[:-5].to_csv(b, sep="\t", index=False)  # 5 samples fewer
    args = ["associate", "--scores", str(a), str(b), "--clinical", str(CLINICAL), "--time", "time_days",
            "--event", "status", "--covariates", "age", "sex", "--out", str(tmp_path / "out"), "--no-figures"]
    assert main(args) == 0
    ours = pd.read_csv(tmp_path / "out/survival.tsv", sep="\t").set_index("signature")
    ref = pd.read_csv(lung_run / "survival.tsv", sep="\t").set_index("signature")
    assert ours.loc["MEAL_CAL", "hr_per_sd"] == pytest.approx(ref.loc["MEAL_CAL", "hr_per_sd"], rel=1e-9)
    assert ours.loc["WT_LOSS", "n"] == ref.loc["WT_LOSS", "n"] - 5 + (long["signature"].eq("WT_LOSS")
                                                                    & long["score"].isna()).tail(5).sum()
    args[2:4] = [str(a), str(a)]
    assert main(args) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"ressig: error: {a}: signature MEAL_CAL is also in {a}; give each signature once")
