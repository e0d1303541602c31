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
* ``ph_p``: the proportional-hazards check of the score term of the full model on scaled
  Schoenfeld residuals against Kaplan–Meier-transformed time (lifelines
  ``proportional_hazard_test(time_transform="km")``). This is the Grambsch–Therneau test that R's
  ``cox.zph`` used before survival 3.0; since 3.0 ``cox.zph`` computes an exact score test, so the
  two agree closely but not to many digits (see tests/fixtures/outcome_r/README.md).
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


def _ph_p(cph, df: pd.DataFrame) -> float:
    from lifelines.statistics import proportional_hazard_test

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = proportional_hazard_test(cph, df, time_transform="km")
    summ = res.summary
    row = summ.loc["z"] if "z" in summ.index else summ.xs("z", level=0).iloc[0]
    return float(row["p"])


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
        ph = _ph_p(full, df)
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
