"""Functional evidence: 4PL fits, IC50 CIs, fold resistance / reversal, dye retention, evidence table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from conftest import REPO
from ressig import doseresponse as D
from ressig.cli import main
from ressig.errors import RessigError
from ressig.simulate import DYE_TRUTH, PLATE_DOSES, PLATE_TRUTH, simulate_dye, simulate_plate

BAR_TRUTH = {("parental", "none"): 0.1, ("resistant", "none"): 4.0, ("resistant", "zosuquidar"): 0.2}
PASS_RATE_FLOOR = 0.78


def _fit_plate(plate: pd.DataFrame, normalisation: str = "none", **kw) -> tuple[pd.DataFrame, dict]:
    via = D.normalise(D.validate_plate(plate.astype(str)), normalisation)
    return D.fit_curves(via, normalisation=normalisation, **kw)


# --------------------------------------------------------------------------- the bar


def test_bar_plate_shape_and_raw_vs_fraction() -> None:
    """A bar plate (parental, resistant, resistant + zosuquidar; 9 doses x 3 replicates, 5% noise) as fractions
    and as raw luminescence normalised to untreated/blank wells: same noise draws, so nearly the same IC50s.
    Raw signal: one scale per culture (3 per curve) instead of one shared top, so 3 * 2 + 1 + 9 parameters."""
    tabs = {}
    for raw in (False, True):
        plate = simulate_plate(seed=7, truth=BAR_TRUTH, raw=raw, noise=0.05)
        assert plate.loc[plate["concentration"] > 0, "concentration"].nunique() == 9
        tab, _ = _fit_plate(plate, "controls" if raw else "none")
        assert len(tab) == 3 and tab["estimable"].all() and tab["converged"].all()
        assert (tab["n_points"] == 9 * 3 + 3 * 3).all()  # doses + untreated wells
        assert (tab["plateaus"] == "shared by 3 curves").all() and (tab["plateau_p"] > 0.05).all()
        assert (tab["ci_method"] == "profile likelihood on log IC50, F(1, n - p)").all()
        if raw:
            assert (tab["df"] == 3 * 36 - 16).all()
            # the typical culture's plateaus: bottom / top is the one shared bottom fraction
            assert (tab["bottom"] / tab["top"]).to_numpy() == pytest.approx([tab["bottom"][0] / tab["top"][0]] * 3)
            scales = tab["culture_scales"].str.split("; ")
            assert scales.str.len().tolist() == [3, 3, 3]
            assert scales[1][0].startswith("GEN2.2-R1 ")
            # each scale is near its culture's untreated level (1 after normalisation): within 3 sd of the mean of
            # 3 wells (0.05 / sqrt 3)
            values = np.array([float(v.split(" ")[1]) for vs in scales for v in vs])
            assert np.abs(values - 1).max() < 3 * 0.05 / math.sqrt(3)
            assert tab["top"].to_numpy() == pytest.approx(
                [math.exp(np.log(values[3 * i:3 * i + 3]).mean()) for i in range(3)], rel=1e-3)
        else:
            assert (tab["df"] == 3 * 36 - 8).all() and (tab["culture_scales"] == "").all()
            assert tab["top"].nunique() == 1 and tab["bottom"].nunique() == 1
        tabs[raw] = tab
    # per-sample scaling by the noisy untreated mean moves the IC50s by a few percent, no more
    assert (tabs[True]["ic50"] / tabs[False]["ic50"]).to_numpy() == pytest.approx([1, 1, 1], abs=0.06)


def _bar_batch(seeds: range, **kw) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        tab, _ = _fit_plate(simulate_plate(seed=seed, truth=BAR_TRUTH, raw=False), **kw)
        for _, r in tab.iterrows():
            true = BAR_TRUTH[(r["condition"], r["inhibitor"])]
            rows.append({"seed": seed, "curve": f"{r['condition']} + {r['inhibitor']}", "err": r["ic50"] / true - 1,
                         "covered": r["ic50_ci_low"] < true < r["ic50_ci_high"]})
    res = pd.DataFrame(rows)
    return res.assign(ok=res["covered"] & (res["err"].abs() < 0.20))


def test_bar_pass_rate_and_nominal_coverage_over_seeded_plates() -> None:
    """The issue's bar on 150 seeded plates (not the benchmark's seeds): per-curve 95% profile CIs cover at the
    nominal rate, and the pass rate (all three IC50s within 20% and covered) is far above the 0.76 of the
    delta method with separate plateaus (benchmarks/ic50_bar.py measures both on 300 plates)."""
    res = _bar_batch(range(5000, 5150))
    cover = res.groupby("curve")["covered"].mean()
    assert res["covered"].mean() == pytest.approx(0.95, abs=0.025), cover  # 450 CIs: binomial sd 0.010
    assert cover.between(0.90, 0.99).all(), cover  # 150 CIs each: sd 0.018
    assert (res["err"].abs() < 0.20).mean() >= 0.97
    assert abs(res["err"].median()) < 0.03  # no systematic bias
    pass_rate = res.groupby("seed")["ok"].all().mean()
    assert pass_rate >= PASS_RATE_FLOOR, pass_rate


def test_raw_signal_coverage_with_culture_scales_over_seeded_plates() -> None:
    """Raw luminescence, normalised per culture to its own 3 untreated wells: the noisy untreated mean is an error
    shared by every well of the culture. With one scale per culture in the fit, on these 100 seeded plates the
    pooled per-curve 95% CIs cover 0.950 (300 CIs, binomial sd 0.013) and the standardised log IC50 errors
    (error / profile-implied SE) have sd 1.01. The old fit, which took the normalised fractions as exact (what
    ``normalisation='none'`` on the same fractions does), covers 0.927 with sd 1.09 on the same plates, and over
    300 benchmark plates 0.91-0.94 per curve."""
    rows = []
    for seed in range(7000, 7100):
        tab, _ = _fit_plate(simulate_plate(seed=seed, truth=BAR_TRUTH, raw=True, noise=0.05), "controls")
        assert (tab["culture_scales"].str.count(";") == 2).all()
        for _, r in tab.iterrows():
            true = BAR_TRUTH[(r["condition"], r["inhibitor"])]
            err = math.log(r["ic50"] / true)
            rows.append({"seed": seed, "covered": r["ic50_ci_low"] < true < r["ic50_ci_high"],
                         "z": err / (r["se_log10_ic50"] * math.log(10)), "within": abs(r["ic50"] / true - 1) < 0.20})
    res = pd.DataFrame(rows)
    assert res["covered"].mean() >= 0.94, res["covered"].mean()  # old: 0.927
    assert abs(res["z"].std() - 1) < 0.05, res["z"].std()  # old: 1.09
    assert res["within"].mean() >= 0.96, res["within"].mean()


def test_demo_plate_recovers_planted_resistance_and_reversal() -> None:
    plate = pd.read_csv(REPO / "resources/demo/plate.tsv", sep="\t", dtype=str, keep_default_na=False)
    tab, fits = _fit_plate(plate, "controls")
    for _, r in tab.iterrows():
        true = PLATE_TRUTH[(r["condition"], r["inhibitor"])]
        assert abs(r["ic50"] / true - 1) < 0.20 and r["ic50_ci_low"] < true < r["ic50_ci_high"]
    sh = D.shifts(fits).set_index(["effect", "condition", "inhibitor"])
    fr = sh.loc[("fold_resistance", "resistant / parental", "none")]
    rev = sh.loc[("reversal", "resistant", "zosuquidar")]
    ctrl = sh.loc[("reversal", "parental", "zosuquidar")]
    assert fr["ci_low"] < 40 < fr["ci_high"] and fr["p"] < 1e-10
    assert rev["ci_low"] < 20 < rev["ci_high"] and rev["p"] < 1e-10
    assert ctrl["ci_low"] < 1 < ctrl["ci_high"] and ctrl["p"] > 0.05
    # the numbers quoted in README.md
    assert [round(fr["fold"]), round(fr["ci_low"]), round(fr["ci_high"])] == [43, 33, 56]
    assert [round(rev["fold"]), round(rev["ci_low"]), round(rev["ci_high"])] == [20, 15, 25]


# --------------------------------------------------------------------------- independent computations


def _lm_model(xx, li, h, t, b):
    with np.errstate(divide="ignore"):
        return b + (t - b) / (1 + np.exp(np.clip(h * (np.log(xx) - li), -700, 700)))


def test_fit_agrees_with_scipy_curve_fit() -> None:
    """Levenberg-Marquardt (MINPACK, unbounded) on the same model gives the same optimum and Wald SEs."""
    plate = simulate_plate(seed=3, truth=BAR_TRUTH, raw=False)
    for (cond, inh), _ in BAR_TRUTH.items():
        g = plate[(plate["condition"] == cond) & (plate["inhibitor"] == inh)]
        x, y = g["concentration"].to_numpy(float), g["response"].to_numpy(float)
        f = D.fit_4pl(x, y)
        popt, pcov = optimize.curve_fit(_lm_model, x, y, p0=[0.0, 1.0, 1.0, 0.0], method="lm", maxfev=20000)
        assert f.log_ic50 == pytest.approx(popt[0], abs=1e-5)
        assert [f.hill, f.top, f.bottom] == pytest.approx(list(popt[1:]), abs=1e-5)
        assert f.se_delta == pytest.approx(math.sqrt(pcov[0, 0]), rel=1e-3)
        assert f.df == len(x) - 4 and f.sigma == pytest.approx(math.sqrt(((_lm_model(x, *popt) - y) ** 2).sum()
                                                                         / f.df), rel=1e-6)


def test_joint_fit_agrees_with_stacked_curve_fit() -> None:
    """Shared plateaus = one stacked model (own log IC50 and hill per curve, one top and bottom), fitted by LM."""
    plate = simulate_plate(seed=3, truth=BAR_TRUTH, raw=False)
    _, fits = _fit_plate(plate)
    keys = list(BAR_TRUTH)
    xs, ys, gi = [], [], []
    for g, (cond, inh) in enumerate(keys):
        sub = plate[(plate["condition"] == cond) & (plate["inhibitor"] == inh)]
        xs.append(sub["concentration"].to_numpy(float))
        ys.append(sub["response"].to_numpy(float))
        gi.append(np.full(len(sub), g))
    x, y, gi = np.concatenate(xs), np.concatenate(ys), np.concatenate(gi)

    def stacked(_, *p):
        li, h = np.array(p[0:6:2])[gi], np.array(p[1:6:2])[gi]
        return _lm_model(x, li, h, p[6], p[7])

    popt, pcov = optimize.curve_fit(stacked, x, y, p0=[-2, 1, 1, 1, -1.6, 1, 1, 0], method="lm", maxfev=50000)
    for g, (cond, inh) in enumerate(keys):
        f = fits[(cond, "PVEK", inh)]
        assert f.plateaus == "shared by 3 curves" and f.df == len(x) - 8
        assert [f.log_ic50, f.hill, f.top, f.bottom] == pytest.approx([*popt[2 * g:2 * g + 2], *popt[6:]], abs=1e-5)
        assert f.se_delta == pytest.approx(math.sqrt(pcov[2 * g, 2 * g]), rel=1e-3)
        assert f.group.cov[g, 0] == pytest.approx(pcov[2 * g, 0], rel=1e-3, abs=1e-9)


def test_culture_scale_fit_agrees_with_stacked_curve_fit() -> None:
    """Culture scales (raw signal, ``controls``) = one stacked model: per curve log IC50 and hill, one bottom, one
    scale per culture multiplying the whole curve (top 1), fitted by Levenberg-Marquardt with numerical derivatives:
    same optimum and Wald SEs, so the analytic Jacobian is right. ``fix_top`` turns the scales off."""
    plate = simulate_plate(seed=9, truth=BAR_TRUTH, raw=True)
    via = D.normalise(D.validate_plate(plate.astype(str)), "controls")
    _, fits = D.fit_curves(via, normalisation="controls")
    keys = list(BAR_TRUTH)
    parts = [via[(via["condition"] == c) & (via["inhibitor"] == i)] for c, i in keys]
    x = np.concatenate([g["concentration"].to_numpy(float) for g in parts])
    y = np.concatenate([g["viability"].to_numpy(float) for g in parts])
    gi = np.concatenate([np.full(len(g), k) for k, g in enumerate(parts)])
    ci = np.concatenate([3 * k + g["sample"].map({s: j for j, s in enumerate(dict.fromkeys(g["sample"]))}).to_numpy()
                         for k, g in enumerate(parts)])

    def stacked(_, *p):
        li, h = np.array(p[0:6:2])[gi], np.array(p[1:6:2])[gi]
        return np.array(p[7:16])[ci] * _lm_model(x, li, h, 1.0, p[6])

    p0 = [-2, 1, 1, 1, -1.6, 1, 0] + [1.0] * 9
    popt, pcov = optimize.curve_fit(stacked, x, y, p0=p0, method="lm", maxfev=50000)
    for k, (cond, inh) in enumerate(keys):
        f = fits[(cond, "PVEK", inh)]
        assert f.df == len(x) - 16
        assert [f.log_ic50, f.hill] == pytest.approx(popt[2 * k:2 * k + 2], abs=1e-5)
        assert list(f.scales.values()) == pytest.approx(popt[7 + 3 * k:10 + 3 * k], abs=1e-5)
        typical = math.exp(np.log(popt[7 + 3 * k:10 + 3 * k]).mean())
        assert [f.top, f.bottom] == pytest.approx([typical, typical * popt[6]], abs=1e-5)
        assert f.se_delta == pytest.approx(math.sqrt(pcov[2 * k, 2 * k]), rel=1e-3)
        assert f.group.cov[k, 0] == pytest.approx(pcov[2 * k, 0], rel=1e-3, abs=1e-9)
    # a fixed top takes the normalisation as exact: the same fit as fractions given as such
    a, _ = D.fit_curves(via, fix_top=1.0, normalisation="controls")
    b, _ = D.fit_curves(via, fix_top=1.0, normalisation="none")
    assert (a["culture_scales"] == "").all() and a["ic50"].tolist() == b["ic50"].tolist()


def _profile_rss(resid, p_hat: np.ndarray, k: int, value: float, bounds: list[tuple[float, float]],
                 starts: int = 4) -> float:
    """Profile RSS at ``p[k] = value``: min over the other parameters, best of several starts.

    A start is the estimate (with ``p[k]`` moved to ``value``) and seeded jitters of it, each solved by
    ``least_squares`` (trust region); the smallest RSS over the starts is the profile, so no single
    optimiser run decides the check.
    """
    free = np.array([j for j in range(p_hat.size) if j != k])
    lo = np.array([bounds[j][0] for j in free])
    hi = np.array([bounds[j][1] for j in free])
    rng = np.random.default_rng(k)

    def full(q):
        p = p_hat.copy()
        p[free] = q
        p[k] = value
        return p

    best = np.inf
    for s in range(starts):
        q0 = p_hat[free] * (1 if s == 0 else rng.uniform(0.95, 1.05, free.size))
        q0 = np.clip(q0, lo + 1e-9, hi - 1e-9)
        fit = optimize.least_squares(lambda q: resid(full(q)), q0, bounds=(lo, hi), method="trf",
                                     xtol=1e-14, ftol=1e-14, gtol=1e-14, max_nfev=5000)
        best = min(best, float((fit.fun ** 2).sum()))
    return best


def _check_profile_bounds(resid, p_hat: np.ndarray, k: int, f, limit: float, rss_min: float,
                          bounds: list[tuple[float, float]]) -> None:
    """The bound's defining property: the profile RSS reaches the F-based limit exactly at the bound,
    stays inside the region just inside it and leaves it just outside (the region is not wider)."""
    step = 1e-3  # in log IC50
    for bound, outward in ((f.ci_low, -1), (f.ci_high, 1)):
        at = math.log(bound)
        crit = limit - rss_min
        assert _profile_rss(resid, p_hat, k, at, bounds) == pytest.approx(limit, abs=2e-3 * crit)
        assert _profile_rss(resid, p_hat, k, at - outward * step, bounds) < limit
        assert _profile_rss(resid, p_hat, k, at + outward * step, bounds) > limit


@pytest.mark.parametrize("shared", [False, True])
def test_profile_ci_is_the_extreme_of_the_likelihood_region(shared: bool) -> None:
    """Independent check: each profile bound is where the profile RSS crosses the F-based limit
    ``RSS_min (1 + F(1, n - p; 0.95) / (n - p))`` (the likelihood-ratio statistic equals its critical value),
    and the region is not wider nearby; the profile is re-derived here with multi-start least squares."""
    plate = simulate_plate(seed=21, truth=BAR_TRUTH, raw=False)
    _, fits = _fit_plate(plate, share_plateaus=shared)
    keys = list(BAR_TRUTH)
    data = []
    for cond, inh in keys:
        sub = plate[(plate["condition"] == cond) & (plate["inhibitor"] == inh)]
        data.append((sub["concentration"].to_numpy(float), sub["response"].to_numpy(float)))
    groups = [list(range(3))] if shared else [[g] for g in range(3)]
    for members in groups:
        def resid(p, members=members):  # p = (log IC50, hill) per member + top, bottom
            return np.concatenate([_lm_model(data[g][0], p[2 * i], p[2 * i + 1], p[-2], p[-1]) - data[g][1]
                                   for i, g in enumerate(members)])

        f0 = [fits[(keys[g][0], "PVEK", keys[g][1])] for g in members]
        p_hat = np.array([v for f in f0 for v in (f.log_ic50, f.hill)] + [f0[0].top, f0[0].bottom])
        rss_min = float((resid(p_hat) ** 2).sum())
        n = sum(data[g][0].size for g in members)
        df = n - p_hat.size
        assert df == f0[0].df
        limit = rss_min * (1 + stats.f.ppf(0.95, 1, df) / df)
        bounds = [(-15, 10), (0.05, 20)] * len(members) + [(-1, 2)] * 2
        for i, f in enumerate(f0):
            _check_profile_bounds(resid, p_hat, 2 * i, f, limit, rss_min, bounds)


def test_profile_ci_with_culture_scales_is_the_extreme_of_the_likelihood_region() -> None:
    """As above for the joint fit with culture scales (raw signal): the profile bounds re-optimise the 9 scales,
    so the profile over all 16 parameters crosses the F-based limit exactly at each bound."""
    plate = simulate_plate(seed=21, truth=BAR_TRUTH, raw=True)
    via = D.normalise(D.validate_plate(plate.astype(str)), "controls")
    _, fits = D.fit_curves(via, normalisation="controls")
    keys = list(BAR_TRUTH)
    data = []
    for cond, inh in keys:
        g = via[(via["condition"] == cond) & (via["inhibitor"] == inh)]
        codes = g["sample"].map({s: j for j, s in enumerate(dict.fromkeys(g["sample"]))}).to_numpy()
        data.append((g["concentration"].to_numpy(float), g["viability"].to_numpy(float), codes))

    def resid(p):  # p = (log IC50, hill) per curve, bottom, 3 scales per curve
        return np.concatenate([p[7 + 3 * k + c] * _lm_model(x, p[2 * k], p[2 * k + 1], 1.0, p[6]) - y
                               for k, (x, y, c) in enumerate(data)])

    f0 = [fits[(c, "PVEK", i)] for c, i in keys]
    p_hat = np.array([v for f in f0 for v in (f.log_ic50, f.hill)] + [f0[0].bottom / f0[0].top]
                     + [v for f in f0 for v in f.scales.values()])
    rss_min = float((resid(p_hat) ** 2).sum())
    df = sum(x.size for x, _, _ in data) - p_hat.size
    assert df == f0[0].df == 92
    limit = rss_min * (1 + stats.f.ppf(0.95, 1, df) / df)
    bounds = [(-15, 10), (0.05, 20)] * 3 + [(-1, 2)] + [(0.1, 10)] * 9
    for k, f in enumerate(f0):
        _check_profile_bounds(resid, p_hat, 2 * k, f, limit, rss_min, bounds)


def test_fixed_plateaus_are_respected() -> None:
    plate = simulate_plate(seed=4, truth=BAR_TRUTH, raw=False)
    tab, _ = _fit_plate(plate, fix_top=1.0, fix_bottom=0.05)
    assert (tab["top"] == 1.0).all() and (tab["bottom"] == 0.05).all()
    assert (tab["df"] == 36 - 2).all()


@pytest.mark.parametrize("shared", [False, True])
def test_shift_matches_hand_computation(shared: bool) -> None:
    """Separate fits: Welch-Satterthwaite on the two SEs; one joint fit: its Wald covariance and its df."""
    plate = simulate_plate(seed=5, truth=BAR_TRUTH, raw=False)
    _, fits = _fit_plate(plate, share_plateaus=shared)
    sh = D.shifts(fits).set_index(["effect", "condition"])
    a, b = fits[("resistant", "PVEK", "none")], fits[("parental", "PVEK", "none")]
    r = sh.loc[("fold_resistance", "resistant / parental")]
    if shared:
        assert a.group is b.group
        se = math.sqrt(a.se_log_ic50 ** 2 + b.se_log_ic50 ** 2 - 2 * a.group.cov[a.index, b.index])
        df = a.df
    else:
        se = math.hypot(a.se_log_ic50, b.se_log_ic50)
        df = se ** 4 / (a.se_log_ic50 ** 4 / a.df + b.se_log_ic50 ** 4 / b.df)
    assert r["df"] == pytest.approx(df, rel=1e-12)
    assert r["fold"] == pytest.approx(a.ic50 / b.ic50, rel=1e-12)
    assert r["ci_high"] == pytest.approx(a.ic50 / b.ic50 * math.exp(stats.t.ppf(0.975, df) * se), rel=1e-9)
    assert r["p"] == pytest.approx(2 * stats.t.sf(abs(math.log(a.ic50 / b.ic50)) / se, df), rel=1e-9)
    # the profile-implied SE: half the log-CI width over the t quantile
    assert a.se_log_ic50 == pytest.approx(math.log(a.ci_high / a.ci_low) / (2 * stats.t.ppf(0.975, a.df)), rel=1e-12)


def test_controls_normalisation_by_hand() -> None:
    plate = simulate_plate(seed=6, raw=True)
    via = D.normalise(D.validate_plate(plate.astype(str)), "controls")
    blank = plate.loc[plate["type"] == "blank", "response"].mean()
    g = plate[(plate["sample"] == "GEN2.2-R2") & (plate["inhibitor"] == "zosuquidar") & (plate["type"] == "treated")]
    untreated = g.loc[g["concentration"] == 0, "response"].mean()
    v = via[(via["sample"] == "GEN2.2-R2") & (via["inhibitor"] == "zosuquidar")]
    assert v["viability"].to_numpy() == pytest.approx(((g["response"] - blank) / (untreated - blank)).to_numpy())


# --------------------------------------------------------------------------- degenerate inputs


@pytest.mark.parametrize("raw", [False, True])
def test_curve_not_reaching_half_is_not_estimable_and_bounded(raw: bool) -> None:
    truth = {("parental", "none"): 0.1, ("resistant", "none"): 5000.0}
    plate = simulate_plate(seed=8, truth=truth, raw=raw, noise=0.02)
    tab, fits = _fit_plate(plate, "controls" if raw else "none")
    res = tab.set_index("condition").loc["resistant"]
    assert not res["estimable"] and math.isnan(res["ic50"]) and math.isnan(res["ic50_ci_low"])
    assert res["ic50_report"] == f"> {max(PLATE_DOSES):g}" or res["ic50_report"] == "not estimable"
    sh = D.shifts(fits).iloc[0]
    assert not sh["estimable"] and math.isnan(sh["fold"])
    if res["ic50_report"].startswith(">"):
        bound = max(PLATE_DOSES) / fits[("parental", "PVEK", "none")].ic50
        assert sh["fold_report"] == f"> {bound:.4g}"


@pytest.mark.parametrize("cultures", [False, True])
def test_flat_response_not_estimable(cultures: bool) -> None:
    """Noise around a flat line is never given an IC50 (F test, or a CI beyond 10x the dose range); with culture
    scales the F test is against one level per culture."""
    x = np.repeat(PLATE_DOSES, 3) if not cultures else np.tile(np.r_[0, 0, 0, PLATE_DOSES], 3)
    culture = np.repeat(["a", "b", "c"], 12) if cultures else None
    notes = set()
    for seed in range(30):
        f = D.fit_4pl(x, 1 + np.random.default_rng(seed).normal(0, 0.05, x.size), culture=culture)
        assert not f.estimable and math.isnan(f.ic50) and all(math.isnan(v) for v in f.ci())
        notes.add(f.note.split(" (")[0].split(":")[0])
    assert notes <= {"no dose response", "IC50 not identified by the data",
                     "curve does not reach its midpoint within the tested range",
                     "curve is past its midpoint at the lowest dose", "fitted curve increases with dose",
                     "IC50 standard error not estimable"}, notes
    assert "no dose response" in notes


def test_one_concentration_not_estimable() -> None:
    f = D.fit_4pl([1.0] * 6, [0.5, 0.6, 0.4, 0.5, 0.55, 0.45], include_zero=False)
    assert not f.estimable and f.note == "1 distinct positive concentration(s) and 6 point(s) for 4 free parameters"


def _plate_text(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "plate.tsv"
    p.write_text(text.replace("|", "\t"))
    return p


HEAD = "sample|condition|drug|inhibitor|concentration|response\n"


@pytest.mark.parametrize("body, expected", [
    ("a|parental|X|none|-1|100\n",
     "negative concentration -1 at data row 1, column 'concentration'. Concentrations must be >= 0"),
    ("a|parental|X|none|1|abc\n", "non-numeric 'response' value 'abc' at data row 1, column 'response'"),
    ("a||X|none|1|5\n", "empty 'condition' at data row 1, column 'condition'"),
])
def test_bad_plate_one_line_error(tmp_path: Path, body: str, expected: str) -> None:
    path = _plate_text(tmp_path, HEAD + body)
    with pytest.raises(RessigError) as e:
        D.read_plate(path)
    assert str(e.value).startswith(f"{path}: {expected}") and "\n" not in str(e.value)


def test_missing_untreated_and_negative_raw_signal(tmp_path: Path) -> None:
    path = _plate_text(tmp_path, HEAD + "a|parental|X|none|1|100\na|parental|X|none|10|50\n")
    with pytest.raises(RessigError, match=r"no untreated \(concentration 0\) wells for sample 'a', drug 'X', "
                                          r"inhibitor 'none'. Add vehicle wells"):
        D.normalise(D.read_plate(path), "controls", path)
    path = _plate_text(tmp_path, HEAD + "a|parental|X|none|0|100\na|parental|X|none|10|-5\n")
    with pytest.raises(RessigError, match=r"negative raw signal -5 at data row 2, column 'response'"):
        D.normalise(D.read_plate(path), "controls", path)
    out = tmp_path / "out"
    assert main(["-q", "dose-response", "--input", str(path), "--out", str(out)]) == 2
    assert not out.exists()


def test_missing_columns_error(tmp_path: Path) -> None:
    path = _plate_text(tmp_path, "sample|drug|concentration|response\na|X|1|2\n")
    with pytest.raises(RessigError, match=r"plate table has no column\(s\) 'condition', 'inhibitor'"):
        D.read_plate(path)


# --------------------------------------------------------------------------- dye efflux


def test_dye_retention_matches_t_tests() -> None:
    dye = simulate_dye(seed=11)
    res = D.dye_retention(D.validate_dye(dye.astype(str))).set_index("condition")
    per = dye.assign(l=np.log2(dye["value"])).groupby(["sample", "condition", "inhibitor"])["l"].mean().unstack()
    d = (per["zosuquidar"] - per["none"]).reset_index(level="condition")
    for cond in ("parental", "resistant"):
        v = d.loc[d["condition"] == cond, 0].to_numpy()
        t = stats.ttest_1samp(v, 0.0)
        assert res.loc[cond, "log2_ratio"] == pytest.approx(v.mean(), rel=1e-12)
        assert res.loc[cond, "p"] == pytest.approx(t.pvalue, rel=1e-9)
    both = res.loc["resistant / parental"]
    t = stats.ttest_ind(d.loc[d["condition"] == "resistant", 0], d.loc[d["condition"] == "parental", 0])
    assert both["p"] == pytest.approx(t.pvalue, rel=1e-9)  # OLS d ~ condition = pooled two-sample t
    true = (DYE_TRUTH[("resistant", "zosuquidar")] / DYE_TRUTH[("resistant", "none")]) / \
        (DYE_TRUTH[("parental", "zosuquidar")] / DYE_TRUTH[("parental", "none")])
    assert both["ci_low"] < true < both["ci_high"]


def test_dye_unpaired_sample_is_an_error() -> None:
    dye = simulate_dye(seed=11)
    dye = dye[~((dye["sample"] == "GEN2.2-R3") & (dye["inhibitor"] == "zosuquidar"))]
    with pytest.raises(RessigError, match="sample 'GEN2.2-R3' is not measured both with and without 'zosuquidar'"):
        D.dye_retention(D.validate_dye(dye.astype(str)))


# --------------------------------------------------------------------------- CLI + evidence


def test_cli_outputs_and_byte_identical_rerun(tmp_path: Path) -> None:
    args = ["-q", "dose-response", "--input", str(REPO / "resources/demo/plate.tsv"),
            "--dye", str(REPO / "resources/demo/dye.tsv")]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    for f in ("ic50.tsv", "shift.tsv", "viability.tsv", "dye.tsv", "curves.png"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    ic50 = pd.read_csv(tmp_path / "a/ic50.tsv", sep="\t")
    assert {"condition", "drug", "inhibitor", "ic50", "ic50_ci_low", "ic50_ci_high", "hill", "top", "bottom",
            "n_points", "converged"} <= set(ic50.columns)
    assert (ic50["ci_method"] == D.CI_METHOD).all() and (ic50["normalisation"] == "controls").all()


def test_demo_workflow_evidence(demo_run: Path) -> None:
    ev = pd.read_csv(demo_run / "results/functional/evidence.tsv", sep="\t", keep_default_na=False)
    summary = ev[ev["level"] == "summary"].set_index("mechanism")
    assert summary.loc["efflux", "call"] == "supported at mRNA, protein, function level"
    assert summary.loc["antigen loss", "call"] == "post-transcriptional loss"
    ant = ev[ev["mechanism"] == "antigen loss"].set_index("level")
    assert ant.loc["mRNA", "supports"] == "context" and ant.loc["protein", "supports"] == "yes"
    eff = ev[ev["mechanism"] == "efflux"].set_index("level")
    assert eff.loc["mRNA", "call"] == "up" and eff.loc["protein", "call"] == "up"
    rev = ev[ev["evidence"] == "reversal of PVEK by zosuquidar in resistant"].iloc[0]
    assert rev["call"] == "reversed" and float(rev["ci_low"]) < 20 < float(rev["ci_high"])
    for f in ("ic50.tsv", "shift.tsv", "dye.tsv", "curves.png"):
        assert (demo_run / "results/functional" / f).stat().st_size > 0


def test_dye_from_fcs_files_equals_table(tmp_path: Path) -> None:
    """FCS dye input (gated median through the protein FCS reader) gives the same result as the MFI table."""
    from test_concordance import write_fcs

    dye = simulate_dye(seed=12, wells=1)
    rows = ["sample\tcondition\tinhibitor\tfile"]
    for i, r in dye.iterrows():
        f = write_fcs(tmp_path / f"w{i}.fcs", float(r["value"]), 100.0)
        rows.append(f"{r['sample']}\t{r['condition']}\t{r['inhibitor']}\t{f}")
    (tmp_path / "dye_fcs.tsv").write_text("\n".join(rows) + "\n")
    from_fcs = D.read_dye_fcs(tmp_path / "dye_fcs.tsv", "PE-A", {"FSC-A": [1000, 1e6]})
    assert from_fcs["value"].to_numpy() == pytest.approx(dye["value"].to_numpy(), rel=1e-6)  # FCS stores float32
    a = D.dye_retention(from_fcs)
    b = D.dye_retention(D.validate_dye(dye.astype(str)))
    assert a["log2_ratio"].to_numpy() == pytest.approx(b["log2_ratio"].to_numpy(), abs=1e-6)


def test_several_arms_fold_resistance_and_per_arm_evidence(tmp_path: Path) -> None:
    """Two resistant arms on one plate: each gets its fold resistance; an arm's evidence keeps its own lines."""
    truth = {("parental", "none"): 0.1, ("resistant", "none"): 4.0, ("resistant", "zosuquidar"): 0.2,
             ("resistant_cns", "none"): 8.0, ("resistant_cns", "zosuquidar"): 0.4}
    simulate_plate(seed=11, truth=truth).to_csv(tmp_path / "plate.tsv", sep="\t", index=False)
    assert main(["-q", "dose-response", "--input", str(tmp_path / "plate.tsv"), "--treatment", "resistant",
                 "resistant_cns", "not_on_plate", "--out", str(tmp_path / "out")]) == 0
    shift = pd.read_csv(tmp_path / "out/shift.tsv", sep="\t").set_index(["effect", "condition"])
    for arm, planted in (("resistant", 40), ("resistant_cns", 80)):
        row = shift.loc[("fold_resistance", f"{arm} / parental")]
        assert row["ci_low"] < planted < row["ci_high"], (arm, row["fold"])
    assert {c for e, c in shift.index if e == "reversal"} == {"resistant", "resistant_cns"}
    de = pd.DataFrame({"log2FoldChange": [3.0], "lfcSE": [0.3], "padj": [1e-9], "baseMean": [100.0]}, index=["ABCB1"])
    for arm, other in (("resistant", "resistant_cns"), ("resistant_cns", "resistant")):
        ev = D.evidence_table(de, shift=shift.reset_index(), treatment=arm)
        assert ev["evidence"].str.contains(f"({arm} / parental", regex=False).any()
        assert not ev["evidence"].str.contains(f"{other} /|in {other}$", regex=True).any()
        assert list(ev.loc[ev["evidence"] == f"reversal of PVEK by zosuquidar in {arm}", "supports"]) == ["yes"]
    with pytest.raises(RessigError, match="condition 'resistant_bm' not in the plate table"):
        D.run_dose_response(tmp_path / "plate.tsv", tmp_path / "x", treatment=["resistant_bm", "resistant"])
    assert not (tmp_path / "x").exists()
