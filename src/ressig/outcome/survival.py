"""Cox proportional hazards, log-rank and Harrell's C of one standardised score (lifelines).

Per signature (see :func:`cox_row`):

* ``hr_per_sd``, its 95% Wald CI and ``p_wald``: ``coxph(Surv(time, event) ~ z + covariates
  [+ strata(s)])`` with Efron ties (lifelines ``CoxPHFitter``, Newton–Raphson run to a relative
  log-likelihood change of 1e-14, so the estimates equal R's to ~1e-8);
* ``p_lrt`` and ``concordance`` from the score-only model ``~ z [+ strata(s)]``: the likelihood
  ratio test, and Harrell's C of its linear predictor counted as R's ``concordance`` does
  (:func:`harrell_c`);
* ``logrank_chisq``/``logrank_p``: the log-rank test of ``score > median`` vs the rest (R's
  ``survdiff``; stratified: summed over strata, as ``survdiff(... + strata(s))``);
* ``ph_p``: the proportional-hazards check of the score term of the full model, computed as R's
  ``cox.zph`` (survival >= 3.0, ``transform = "km"``) does (:func:`zph_test`): a score test for a
  time-varying coefficient g(t) = 1 − KM(t−), whose Schoenfeld-residual form is the
  Grambsch–Therneau test. lifelines' ``proportional_hazard_test`` is the older approximation
  (scaled Schoenfeld residuals with the overall variance, as ``cox.zph`` before survival 3.0) and
  differs from current R by up to ~20% in p on real data, hence the R algorithm here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .._log import logger

#: Minimum number of events for a Cox model of one signature.
MIN_EVENTS = 10
#: Newton–Raphson options: tight enough that coefficients match R's coxph to ~1e-8.
FIT_OPTIONS = {"precision": 1e-10, "r_precision": 1e-14, "max_steps": 500}
Z95 = float(stats.norm.ppf(0.975))


def harrell_c(time: np.ndarray, event: np.ndarray, risk: np.ndarray,
              strata: np.ndarray | None = None) -> tuple[float, dict[str, float]]:
    """Harrell's concordance of a risk score with right-censored times, as R's ``concordance``.

    A pair is comparable when the earlier time is an event; a censored time equal to an event
    time counts as later (at risk at that time); pairs of events at the same time (R's
    ``tied.y``) are not used. Higher risk should mean an earlier event. Ties in the risk count
    ½: C = (concordant + tied_x / 2) / (concordant + discordant + tied_x). With ``strata`` only
    pairs within a stratum are compared.

    Returns
    -------
    (c, counts)
        C and the pair counts ``concordant, discordant, tied_x, tied_y``.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float) > 0
    risk = np.asarray(risk, dtype=float)
    groups = np.zeros(time.size, dtype=int) if strata is None else pd.factorize(np.asarray(strata))[0]
    conc = disc = tx = ty = 0.0
    for g in np.unique(groups):
        m = groups == g
        t, e, r = time[m], event[m], risk[m]
        for i in np.flatnonzero(e):
            later = (t > t[i]) | ((t == t[i]) & ~e)
            rj = r[later]
            conc += np.count_nonzero(r[i] > rj)
            disc += np.count_nonzero(r[i] < rj)
            tx += np.count_nonzero(r[i] == rj)
            ty += np.count_nonzero((t == t[i]) & e) - 1
    counts = {"concordant": conc, "discordant": disc, "tied_x": tx, "tied_y": ty / 2}
    denom = conc + disc + tx
    return (float((conc + tx / 2) / denom) if denom else float("nan")), counts


def logrank(time: np.ndarray, event: np.ndarray, group: np.ndarray,
            strata: np.ndarray | None = None) -> tuple[float, float]:
    """Log-rank chi-square (1 df) and p of a two-group comparison; stratified when ``strata``
    is given (observed − expected and the hypergeometric variance summed over strata, as R's
    ``survdiff(Surv(time, event) ~ group + strata(s))``). Unstratified it is lifelines'
    ``logrank_test``."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    group = np.asarray(group, dtype=bool)
    if strata is None:
        from lifelines.statistics import logrank_test

        res = logrank_test(time[group], time[~group], event[group], event[~group])
        return float(res.test_statistic), float(res.p_value)
    o_e = var = 0.0
    for s in pd.unique(np.asarray(strata)):
        m = np.asarray(strata) == s
        t, e, g = time[m], event[m], group[m]
        for u in np.unique(t[e > 0]):
            at_risk = t >= u
            n, n1 = at_risk.sum(), (at_risk & g).sum()
            d = ((t == u) & (e > 0)).sum()
            d1 = ((t == u) & (e > 0) & g).sum()
            o_e += d1 - d * n1 / n
            if n > 1:
                var += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    chisq = o_e**2 / var if var > 0 else float("nan")
    return float(chisq), float(stats.chi2.sf(chisq, 1))


def _fit(df: pd.DataFrame, strata: list[str] | None):
    from lifelines import CoxPHFitter

    cph = CoxPHFitter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cph.fit(df, duration_col="time", event_col="event", strata=strata, fit_options=dict(FIT_OPTIONS))
    for w in caught:
        logger.info("lifelines: %s", str(w.message).strip().splitlines()[0])
    return cph


def km_transform(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """1 − S(t−): the left-continuous Kaplan–Meier estimate of all patients (strata ignored, as
    ``cox.zph(transform = "km")``), at each patient's time (lifelines ``KaplanMeierFitter``)."""
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(time, event)
    grid = kmf.survival_function_.index.to_numpy(float)
    surv = kmf.survival_function_.iloc[:, 0].to_numpy(float)
    before = np.searchsorted(grid, time, side="left") - 1  # last grid time strictly before t
    return 1.0 - np.where(before >= 0, surv[np.clip(before, 0, None)], 1.0)


def zph_test(time: np.ndarray, event: np.ndarray, x: np.ndarray, beta: np.ndarray, column: int,
             strata: np.ndarray | None = None) -> tuple[float, float]:
    """Proportional-hazards test of one covariate, as R's ``cox.zph`` (survival >= 3.0, default
    ``transform = "km"``, Efron ties): the score test, at the fitted ``beta``, of adding
    ``g(t) × x[:, column]`` to the model, ``g`` = 1 − KM(t−) centred over the events.

    The Cox fit itself is lifelines'; this is the one-step score statistic R computes in C
    (``zph1``): U = Σ_events g(t)(x − x̄(t)) and the information of the model (x, g(t)x) at
    γ = 0, both with Efron's weighting of tied deaths, and U' I⁻¹ U over the block of all β and
    this γ.

    Returns
    -------
    (chisq, p)
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float) > 0
    x = np.asarray(x, dtype=float)
    x = x - x.mean(axis=0)
    p = x.shape[1]
    g = km_transform(time, event.astype(float))
    g = g - g[event].mean()
    risk = np.exp(x @ np.asarray(beta, dtype=float))
    groups = np.zeros(time.size, dtype=int) if strata is None else pd.factorize(np.asarray(strata))[0]
    u = np.zeros(p)
    i_bb = np.zeros((p, p))
    i_bg = np.zeros((p, p))
    i_gg = np.zeros((p, p))
    for s in np.unique(groups):
        m = groups == s
        t, e, xs, r, gs = time[m], event[m], x[m], risk[m], g[m]
        for tt in np.unique(t[e]):
            at_risk = t >= tt
            dead = (t == tt) & e
            d = int(dead.sum())
            s0, s0d = r[at_risk].sum(), r[dead].sum()
            s1, s1d = r[at_risk] @ xs[at_risk], r[dead] @ xs[dead]
            s2 = (xs[at_risk] * r[at_risk, None]).T @ xs[at_risk]
            s2d = (xs[dead] * r[dead, None]).T @ xs[dead]
            gt = gs[dead][0]
            vsum = np.zeros((p, p))
            msum = np.zeros(p)
            for k in range(d):
                f = k / d  # Efron: a fraction k/d of the tied deaths left the risk set
                a0, a1, a2 = s0 - f * s0d, s1 - f * s1d, s2 - f * s2d
                mean = a1 / a0
                msum += mean
                vsum += a2 / a0 - np.outer(mean, mean)
            u += gt * (xs[dead].sum(axis=0) - msum)
            i_bb += vsum
            i_bg += gt * vsum
            i_gg += gt * gt * vsum
    block = np.zeros((p + 1, p + 1))
    block[:p, :p] = i_bb
    block[:p, p] = block[p, :p] = i_bg[:, column]
    block[p, p] = i_gg[column, column]
    score = np.zeros(p + 1)
    score[p] = u[column]
    chisq = float(score @ np.linalg.solve(block, score))
    return chisq, float(stats.chi2.sf(chisq, 1))


def _ph_p(cph, df: pd.DataFrame, strata: list[str] | None) -> float:
    cols = [c for c in df.columns if c not in ("time", "event", *(strata or []))]
    beta = cph.params_.reindex(cols).to_numpy(float)
    return zph_test(df["time"].to_numpy(), df["event"].to_numpy(), df[cols].to_numpy(float), beta,
                    cols.index("z"), None if not strata else df[strata[0]].to_numpy())[1]


def na_row(signature: str, n: int, events: int, covariates: str, reason: str) -> dict:
    """A survival row without estimates, saying why."""
    return {"signature": signature, "n": n, "events": events, "covariates": covariates, "reason": reason}


def cox_row(signature: str, data: pd.DataFrame, covariate_cols: list[str], covariates_label: str,
            strata: str | None = None, min_events: int = MIN_EVENTS) -> dict:
    """All survival statistics of one signature on its complete cases.

    Parameters
    ----------
    data
        Complete cases: ``time``, ``event`` (0/1), ``score``, the covariate model columns and, with
        ``strata``, the stratum column.
    covariate_cols
        Numeric model columns of the covariates (dummies already made).
    """
    n, events = len(data), int(data["event"].sum())
    if events < min_events:
        return na_row(signature, n, events, covariates_label,
                      f"{events} events in {n} complete cases, fewer than {min_events}")
    sd = float(data["score"].std(ddof=1))
    if not np.isfinite(sd) or sd == 0:
        return na_row(signature, n, events, covariates_label, "score is constant in the complete cases")
    df = pd.DataFrame({"time": data["time"].to_numpy(float), "event": data["event"].to_numpy(float),
                       "z": ((data["score"] - data["score"].mean()) / sd).to_numpy(float)}, index=data.index)
    used = []
    for c in covariate_cols:
        if data[c].nunique() < 2:
            logger.info("%s: covariate column %s is constant in the %d complete cases; left out (R: NA coefficient)",
                        signature, c, n)
            continue
        df[c] = data[c].to_numpy(float)
        used.append(c)
    st = None
    if strata is not None:
        df["_stratum"] = data[strata].astype(str).to_numpy()
        st = ["_stratum"]
    try:
        full = _fit(df, st)
        alone = _fit(df[["time", "event", "z", *(st or [])]], st)
    except Exception as exc:  # lifelines ConvergenceError and linear-algebra failures
        msg = " ".join(str(exc).split())[:200]
        return na_row(signature, n, events, covariates_label, f"Cox model did not converge ({msg})")
    coef = float(full.params_["z"])
    se = float(full.standard_errors_["z"])
    lp = float(alone.params_["z"]) * df["z"].to_numpy()
    conc, _ = harrell_c(df["time"].to_numpy(), df["event"].to_numpy(), lp,
                        None if st is None else df["_stratum"].to_numpy())
    z = df["z"].to_numpy()
    high = z > np.median(z)
    if high.all() or not high.any():
        lr_chi, lr_p = float("nan"), float("nan")
        logger.info("%s: the median split leaves one group empty (tied scores); no log-rank test", signature)
    else:
        lr_chi, lr_p = logrank(df["time"].to_numpy(), df["event"].to_numpy(), high,
                               None if st is None else df["_stratum"].to_numpy())
    try:
        ph = _ph_p(full, df, st)
    except Exception as exc:  # the residual test can fail on degenerate data; say so, keep the row
        logger.info("%s: proportional-hazards test failed (%s)", signature, exc)
        ph = float("nan")
    return {
        "signature": signature, "n": n, "events": events, "covariates": covariates_label,
        "hr_per_sd": float(np.exp(coef)), "hr_ci_low": float(np.exp(coef - Z95 * se)),
        "hr_ci_high": float(np.exp(coef + Z95 * se)), "coef": coef, "se": se,
        "p_wald": float(2 * stats.norm.sf(abs(coef / se))),
        "p_lrt": float(alone.log_likelihood_ratio_test().p_value), "concordance": conc,
        "logrank_chisq": lr_chi, "logrank_p": lr_p, "n_high": int(high.sum()), "n_low": int((~high).sum()),
        "ph_p": ph, "reason": "",
    }
