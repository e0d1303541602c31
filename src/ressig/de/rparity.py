"""R DESeq2 numerics that PyDESeq2 does differently, public and tested against R (``tests/test_fixtures_r.py``).

* :func:`nb_loglik`: the negative-binomial log likelihood (R ``dnbinom(log = TRUE)`` summed per gene);
* :func:`gamma_identity_glm` and :func:`parametric_trend_r`: ``parametricDispersionFit``
  (``disp = a0 + a1 / mean`` by an iterated gamma GLM with identity link);
* :func:`small_df_prior_var` (with :func:`loess_quadratic`): the dispersion prior variance for
  residual df <= 3 (``estimateDispersionsPriorVar``), computed exactly instead of by Monte Carlo.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln


def nb_loglik(y: np.ndarray, mu: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Full NB log likelihood per gene (rows), ``alpha`` one per gene."""
    ainv = (1.0 / alpha)[:, None]
    return np.sum(gammaln(y + ainv) - gammaln(ainv) - gammaln(y + 1.0)
                  + ainv * np.log(ainv / (ainv + mu)) + y * np.log(mu / (ainv + mu)), axis=1)
def gamma_identity_glm(x: np.ndarray, y: np.ndarray, start: np.ndarray, maxit: int = 25,
                        epsilon: float = 1e-8) -> tuple[np.ndarray, bool]:
    """R ``glm(y ~ x, family = Gamma(link = "identity"), start = start)`` by IRLS (``glm.fit``).

    Returns the coefficients (intercept, slope) and whether the deviance converged.
    """
    design = np.column_stack([np.ones_like(x), x])
    coef = np.asarray(start, dtype=float)
    mu = design @ coef
    if np.any(mu <= 0):
        return coef, False

    def deviance(m: np.ndarray) -> float:
        return float(-2.0 * np.sum(np.log(y / m) - (y - m) / m))

    dev_old = deviance(mu)
    for _ in range(maxit):
        w = 1.0 / mu**2                      # working weights: (dmu/deta)^2 / V(mu), V = mu^2
        xtw = design.T * w
        new = np.linalg.solve(xtw @ design, xtw @ y)   # working response z = eta + (y - mu) = y
        mu_new = design @ new
        halvings = 0
        while np.any(mu_new <= 0) and halvings < 30:  # glm.fit step halving on invalid mu
            new = (new + coef) / 2.0
            mu_new = design @ new
            halvings += 1
        if np.any(mu_new <= 0):
            return new, False
        coef, mu = new, mu_new
        dev = deviance(mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            return coef, True
        dev_old = dev
    return coef, False


def parametric_trend_r(means: np.ndarray, disps: np.ndarray) -> np.ndarray | None:
    """DESeq2's ``parametricDispersionFit``: ``disp = a0 + a1 / mean`` by iterated gamma GLM.

    ``means``/``disps`` are the genes R uses for the fit (``dispGeneEst > 100 * minDisp``).
    Each round refits on genes whose ratio to the current curve lies in (1e-4, 15), starting from
    ``(0.1, 1)``. Returns ``None`` when R would give up (non-positive coefficients or no
    convergence in 10 rounds).
    """
    coefs = np.array([0.1, 1.0])
    for _ in range(11):
        ratio = disps / (coefs[0] + coefs[1] / means)
        good = (ratio > 1e-4) & (ratio < 15)
        if good.sum() < 2:
            return None
        new, converged = gamma_identity_glm(1.0 / means[good], disps[good], coefs)
        old, coefs = coefs, new
        if not np.all(coefs > 0):
            return None
        if np.sum(np.log(coefs / old) ** 2) < 1e-6 and converged:
            return coefs
    return None


PRIOR_BREAKS = np.arange(-20, 21) / 2.0


def loess_quadratic(x: np.ndarray, y: np.ndarray, xnew: np.ndarray, span: float) -> np.ndarray:
    """Local quadratic regression with tricube weights (R ``loess(degree = 2)``, exact surface)."""
    q = int(np.floor(len(x) * span))
    d = np.abs(xnew[:, None] - x[None, :])
    h = np.sort(d, axis=1)[:, q - 1]
    w = np.clip(1.0 - (d / h[:, None]) ** 3, 0.0, None) ** 3
    dx = x[None, :] - xnew[:, None]
    moments = np.stack([(w * dx**k).sum(axis=1) for k in range(5)], axis=1)
    lhs = np.stack([moments[:, i:i + 3] for i in range(3)], axis=1)       # (n_new, 3, 3)
    rhs = np.stack([(w * dx**k * y[None, :]).sum(axis=1) for k in range(3)], axis=1)
    return np.linalg.solve(lhs, rhs[:, :, None])[:, 0, 0]


def small_df_prior_var(residuals: np.ndarray, df: int, n_sim: int = 10_000) -> float:
    """DESeq2's dispersion prior variance for residual df <= 3 (``estimateDispersionsPriorVar``).

    R matches the histogram (breaks -10..10 by 0.5) of the log dispersion residuals to that of
    ``log(chisq_df / df) + N(0, v)`` by Kullback-Leibler divergence over a grid of 200 ``v`` in
    [0, 8], smooths the divergences with ``loess(span = 0.2)``, takes the argmin on a 1000-point
    grid and floors it at 0.25. R draws the reference histograms by Monte Carlo (1e4 draws,
    ``set.seed(2)``); here they are computed exactly (the expectation of R's draws), which makes
    the estimator deterministic without R's random number generator. The divergence floor
    ``small`` is the smallest positive density either histogram can show, as in R.
    """
    from scipy import stats
    from scipy.special import ndtr

    brks = PRIOR_BREAKS
    obs = residuals[(residuals > brks[0]) & (residuals < brks[-1])]
    counts, _ = np.histogram(obs, brks)
    obs_density = counts / (counts.sum() * 0.5)
    # exact mass of Y = log(chisq_df / df) in fine cells, then convolved with N(0, v)
    edges = np.arange(-30.0, 5.0 + 1e-9, 0.02)
    cell_mass = np.diff(stats.chi2.cdf(df * np.exp(edges), df))
    mids = (edges[:-1] + edges[1:]) / 2.0
    grid = np.linspace(0.0, 8.0, 200)
    kl = np.empty(len(grid))
    obs_min = obs_density[obs_density > 0].min()
    for i, v in enumerate(grid):
        if v == 0:
            mass = np.diff(stats.chi2.cdf(df * np.exp(brks), df))
        else:
            mass = cell_mass @ np.diff(ndtr((brks[None, :] - mids[:, None]) / np.sqrt(v)), axis=1)
        rand_density = mass / (mass.sum() * 0.5)
        small = min(obs_min, 1.0 / (n_sim * mass.sum() * 0.5))
        kl[i] = np.sum(obs_density * (np.log(obs_density + small) - np.log(rand_density + small)))
    fine = np.linspace(0.0, 8.0, 1000)
    return float(max(fine[np.argmin(loess_quadratic(grid, kl, fine, span=0.2))], 0.25))
