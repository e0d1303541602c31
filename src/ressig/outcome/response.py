"""A binary response against one standardised score: logistic regression and AUC with DeLong CI.

* ``odds_ratio_per_sd`` and ``p``: ``glm(response ~ z, family = binomial)`` fitted by statsmodels'
  GLM with R's IRLS: the same starting values and R's stopping rule (|Δdeviance| / (|deviance| +
  0.1) < 1e-8), so the estimates and the standard errors (R's come from the weights of the last
  iteration) equal R's to ~1e-12 rather than to the convergence tolerance; Wald CI ``exp(b ± 1.96 se)`` (R's ``confint.default``; R's
  ``confint`` profiles the likelihood instead and gives slightly different bounds).
* ``auc``: the probability that a positive patient scores higher than a negative one, ties ½
  (Mann–Whitney); its CI by DeLong's variance on the AUC scale, clipped to [0, 1] (pROC
  ``ci.auc(method = "delong")`` with ``direction = "<"``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .._log import logger

Z95 = float(stats.norm.ppf(0.975))


def auc_delong(score: np.ndarray, positive: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """AUC (ties ½) and its DeLong confidence interval.

    Parameters
    ----------
    score
        Scores of all patients.
    positive
        True for patients with the positive response.

    Returns
    -------
    (auc, ci_low, ci_high)
    """
    score = np.asarray(score, dtype=float)
    positive = np.asarray(positive, dtype=bool)
    x, y = score[positive], score[~positive]
    m, n = x.size, y.size
    if m == 0 or n == 0:
        return float("nan"), float("nan"), float("nan")
    psi = (x[:, None] > y[None, :]).astype(float) + 0.5 * (x[:, None] == y[None, :])
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    auc = float(v10.mean())
    s10 = float(np.var(v10, ddof=1)) if m > 1 else 0.0
    s01 = float(np.var(v01, ddof=1)) if n > 1 else 0.0
    se = np.sqrt(s10 / m + s01 / n)
    z = float(stats.norm.ppf(0.5 + level / 2))
    return auc, float(max(0.0, auc - z * se)), float(min(1.0, auc + z * se))


def na_row(signature: str, response: str, positive: str, n: int, n_pos: int, reason: str) -> dict:
    """A response row without estimates, saying why."""
    return {"signature": signature, "response": response, "positive": positive, "n": n,
            "n_positive": n_pos, "reason": reason}


def logistic_row(signature: str, score: pd.Series, outcome: pd.Series, response: str, positive: str) -> dict:
    """Logistic regression and AUC of one signature on its complete cases.

    Parameters
    ----------
    score, outcome
        Complete cases only: raw scores and 1 (positive) / 0.
    """
    import statsmodels.api as sm

    n, n_pos = len(score), int(outcome.sum())
    if n_pos == 0 or n_pos == n:
        return na_row(signature, response, positive, n, n_pos,
                      f"only one response level among the {n} complete cases")
    sd = float(score.std(ddof=1))
    if not np.isfinite(sd) or sd == 0:
        return na_row(signature, response, positive, n, n_pos, "score is constant in the complete cases")
    z = ((score - score.mean()) / sd).to_numpy(float)
    y = outcome.to_numpy(float)
    exog = np.column_stack([np.ones(n), z])
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # atol + rtol * |dev| = 1e-9 + 1e-8 |dev|: R's glm.control(epsilon = 1e-8) criterion
            fit = sm.GLM(y, exog, family=sm.families.Binomial()).fit(method="IRLS", maxiter=25, tol=1e-8,
                                                                     atol=1e-9, rtol=1e-8)
    except Exception as exc:  # perfect separation, singular Hessian
        msg = " ".join(str(exc).split())[:200]
        return na_row(signature, response, positive, n, n_pos, f"logistic model failed ({msg})")
    for w in caught:
        logger.info("%s: statsmodels: %s", signature, str(w.message).strip().splitlines()[0])
    if any("separation" in str(w.message).lower() for w in caught) or not fit.converged:
        return na_row(signature, response, positive, n, n_pos,
                      "logistic model did not converge (perfect or quasi-perfect separation)")
    b, se = float(fit.params[1]), float(fit.bse[1])
    auc, lo, hi = auc_delong(z, y > 0)
    return {
        "signature": signature, "response": response, "positive": positive, "n": n, "n_positive": n_pos,
        "odds_ratio_per_sd": float(np.exp(b)), "or_ci_low": float(np.exp(b - Z95 * se)),
        "or_ci_high": float(np.exp(b + Z95 * se)), "p": float(2 * stats.norm.sf(abs(b / se))),
        "auc": auc, "auc_ci_low": lo, "auc_ci_high": hi, "reason": "",
    }
