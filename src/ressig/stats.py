"""Statistics shared across ressig: Benjamini-Hochberg and cohort-level calls, percentile/z-score against a
reference, effects with t/z CIs and TOST equivalence, and the linear model shared by the protein and dye assays."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import RessigError


def bh_distinct(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted value of each **distinct** p-value, from how often each occurs.

    ``values`` sorted ascending (no NaN), ``counts`` their multiplicities. Tied p-values share one
    adjusted value (that of the tie's last rank), so this equals BH on the expanded vector while
    holding only the distinct values: empirical p-values take at most ``null_draws + 1`` values,
    so a cohort of any size needs O(null_draws) memory (the streaming single-cell path).
    """
    values = np.asarray(values, dtype=float)
    counts = np.asarray(counts, dtype=np.int64)
    q = values * int(counts.sum()) / np.cumsum(counts)
    return np.minimum(1.0, np.minimum.accumulate(q[::-1])[::-1])


def bh_adjust(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN kept and left out of the number of tests)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        values, inverse, counts = np.unique(p[ok], return_inverse=True, return_counts=True)
        out[ok] = bh_distinct(values, counts)[inverse.ravel()]
    return out


def independent_filtering(pvalues: pd.Series, base_mean: pd.Series, alpha: float) -> pd.Series:
    """Benjamini–Hochberg adjusted p-values with DESeq2's independent filtering on ``base_mean``.

    As DESeq2 (Love et al. 2014) and pydeseq2's ``DeseqStats``: for 50 ``base_mean`` quantile
    cut-offs (from the fraction of zero means to 0.95) the BH-adjusted p-values of the genes above
    the cut-off are computed and their rejections at ``alpha`` counted; the first cut-off whose
    count exceeds the lowess fit's maximum minus the residual RMS is used (the lowest one when at
    most 10 genes are ever rejected). Genes below the cut-off, or with a NaN p-value, get NaN.
    """
    from pydeseq2.utils import lowess
    from scipy.stats import false_discovery_control

    p = pd.to_numeric(pvalues, errors="coerce")
    bm = pd.to_numeric(base_mean, errors="coerce").reindex(p.index)
    lower = float(np.mean(bm.to_numpy() == 0))
    theta = np.linspace(lower, 0.95 if lower < 0.95 else 1.0, 50)
    cutoffs = np.quantile(bm.to_numpy(dtype=float), theta)
    adjusted = []
    for cut in cutoffs:
        use = (bm >= cut) & p.notna()
        adj = pd.Series(np.nan, index=p.index)
        if use.any():
            adj[use] = false_discovery_control(p[use].to_numpy(dtype=float), method="bh")
        adjusted.append(adj)
    rejections = np.array([int((a < alpha).sum()) for a in adjusted])
    fit = lowess(theta, rejections, frac=1 / 5)
    j = 0
    if rejections.max() > 10:
        resid = rejections[rejections > 0] - fit[rejections > 0]
        above = np.flatnonzero(rejections > fit.max() - np.sqrt(np.mean(resid ** 2)))
        j = int(above[0]) if above.size else 0
    return adjusted[j]


#: Columns added by :func:`cohort_calls`.
CALL_COLUMNS = ["cohort_qvalue", "cohort_qvalue_low", "call"]


def cohort_calls(scores: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """**Cohort-level** calls from the per-sample p-values (the p-values themselves are not changed).

    For each signature, the ``pvalue`` (``pvalue_low``) of the samples in ``scores`` are BH-adjusted
    across those samples (``cohort_qvalue``, ``cohort_qvalue_low``); ``call`` is ``high`` when
    ``cohort_qvalue < alpha``, ``low`` when ``cohort_qvalue_low < alpha``, else ``ns`` (empty when
    the sample has no p-value). Unlike ``pvalue``, these depend on which samples are in the table:
    they control the expected fraction of false "high" (or "low") samples among those called in it.
    """
    if not 0 < float(alpha) < 1:
        raise RessigError(f"alpha must be between 0 and 1, got {alpha}")
    q_high = np.full(len(scores), np.nan)
    q_low = np.full(len(scores), np.nan)
    sig = scores["signature"].to_numpy()
    for name in pd.unique(sig):
        sel = sig == name
        q_high[sel] = bh_adjust(scores.loc[sel, "pvalue"].to_numpy(dtype=float))
        q_low[sel] = bh_adjust(scores.loc[sel, "pvalue_low"].to_numpy(dtype=float))
    return scores.assign(cohort_qvalue=q_high, cohort_qvalue_low=q_low, call=call_labels(q_high, q_low, alpha))


def call_labels(q_high: np.ndarray, q_low: np.ndarray, alpha: float) -> np.ndarray:
    """``high`` (``q_high < alpha``), ``low`` (``q_low < alpha``), ``ns``, or ``""`` without a q-value."""
    q_high = np.asarray(q_high, dtype=float)
    call = np.where(q_high < alpha, "high", np.where(np.asarray(q_low, dtype=float) < alpha, "low", "ns")).astype(object)
    call[np.isnan(q_high)] = ""
    return call


def percentile_zscore(values: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mid-rank percentile (0-100) and z-score (mean / SD with ddof 1) of ``values`` in ``reference``.

    NaN where the value is NaN or there is no reference (z-score also when it has < 2 scores or
    no spread).
    """
    values = np.asarray(values, dtype=float)
    ref = np.sort(np.asarray(reference, dtype=float))
    ref = ref[np.isfinite(ref)]
    pct = np.full(values.shape, np.nan)
    z = np.full(values.shape, np.nan)
    if ref.size:
        below = np.searchsorted(ref, values, side="left")
        upto = np.searchsorted(ref, values, side="right")
        pct = np.where(np.isnan(values), np.nan, 100.0 * (below + 0.5 * (upto - below)) / ref.size)
    if ref.size >= 2 and np.std(ref) > 0:
        z = (values - ref.mean()) / ref.std(ddof=1)
    return pct, z


@dataclass
class Effect:
    """A log2 fold change with its uncertainty and tests."""

    log2fc: float = math.nan
    se: float = math.nan
    df: float = math.inf  # inf = z-based
    ci_low: float = math.nan
    ci_high: float = math.nan
    p: float = math.nan  # difference test (two-sided)
    tost_p: float = math.nan
    tost_ci_low: float = math.nan  # (1 - 2 alpha) CI: TOST p < alpha <=> it lies inside (-margin, margin)
    tost_ci_high: float = math.nan
    n_reference: int = 0
    n_treatment: int = 0
    note: str = ""

    @property
    def usable(self) -> bool:
        return bool(np.isfinite(self.log2fc) and np.isfinite(self.se) and self.se > 0 and self.df >= 1)


def t_cdf(x: float, df: float) -> float:
    """CDF of the t distribution with ``df`` degrees of freedom (standard normal if ``df`` is inf)."""
    from scipy import special  # imported when used (~40 ms of every command's start)

    return float(special.ndtr(x) if not np.isfinite(df) else special.stdtr(df, x))


def t_ppf(q: float, df: float) -> float:
    """Quantile function matching :func:`t_cdf`."""
    from scipy import special

    return float(special.ndtri(q) if not np.isfinite(df) else special.stdtrit(df, q))


def tost_p(est: float, se: float, margin: float, df: float = math.inf) -> float:
    """Two one-sided tests p-value for ``-margin < effect < margin`` (z-based if ``df`` is inf)."""
    if not (np.isfinite(est) and np.isfinite(se) and se > 0):
        return math.nan
    p_lower = t_cdf(-(est + margin) / se, df)  # H0: effect <= -margin
    p_upper = t_cdf((est - margin) / se, df)   # H0: effect >= +margin
    return max(p_lower, p_upper)


def fill_effect(e: Effect, margin: float, alpha: float) -> Effect:
    """Complete a usable :class:`Effect`: its (1 - alpha) CI, (1 - 2 alpha) TOST CI, two-sided p (unless given) and TOST p for ``margin``."""
    if not e.usable:
        return e
    q = t_ppf(1 - alpha / 2, e.df)
    e.ci_low, e.ci_high = e.log2fc - q * e.se, e.log2fc + q * e.se
    q2 = t_ppf(1 - alpha, e.df)
    e.tost_ci_low, e.tost_ci_high = e.log2fc - q2 * e.se, e.log2fc + q2 * e.se
    if not np.isfinite(e.p):
        e.p = 2 * t_cdf(-abs(e.log2fc) / e.se, e.df)
    e.tost_p = tost_p(e.log2fc, e.se, margin, e.df)
    return e


def ols_last_coefficient(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Ordinary least squares ``y ~ x``: the last coefficient, its standard error and the residual df.

    Parameters
    ----------
    x
        Full-rank design matrix (samples × coefficients), the coefficient of interest last.
    y
        Response per sample.

    Returns
    -------
    tuple
        ``(estimate, se, n - p)``; the SE is ``sqrt(sigma² (XᵀX)⁻¹)`` of the last coefficient with
        ``sigma² = RSS / (n - p)``. Shared by the protein model and the dye assay's ratio of ratios.
    """
    n, p = x.shape
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    sigma2 = float(resid @ resid) / (n - p)
    cov = sigma2 * np.linalg.inv(x.T @ x)
    return float(beta[-1]), float(np.sqrt(cov[-1, -1])), float(n - p)


def welch_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Welch two-sample difference ``mean(a) - mean(b)``, its SE and Welch–Satterthwaite df (NaN without spread)."""
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff, se = float(a.mean() - b.mean()), float(np.sqrt(va + vb))
    df = float((va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))) if va + vb > 0 else math.nan
    return diff, se, df
