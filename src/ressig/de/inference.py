"""Vectorised DESeq2 inference: every gene fitted at once, through PyDESeq2's ``Inference`` interface.

:class:`VectorizedInference` implements :class:`pydeseq2.inference.Inference` with the same method
signatures and return values as :class:`pydeseq2.default_inference.DefaultInference`, so it is
passed as ``inference=`` to ``DeseqDataSet`` and ``DeseqStats``. Instead of one scipy optimisation
per gene, each method runs the iterations of R DESeq2 on genes × samples arrays, with R's
convergence rules:

* ``irls``: DESeq2's ``fitBeta`` (IRLS with ridge ``1e-6``, means floored at ``min_mu``, relative
  deviance change ``< beta_tol`` after at least two iterations, divergence when ``|beta| > 30``);
  the genes that do not converge go to PyDESeq2's per-gene solver (L-BFGS-B), like R's ``optim``
  fallback;
* ``alpha_mle``: DESeq2's ``fitDisp`` (Armijo backtracking line search in log dispersion on the
  Cox-Reid adjusted log likelihood, ``kappa_0 = 1``, ``tol = 1e-6``, ``maxit = 100``), then R's
  post-processing: gene-wise estimates keep their start when the posterior did not increase, and
  estimates that did not converge are refitted on R's two-stage grid (``fitDispGrid``);
* ``lfc_shrink_nbinom_glm``: R apeglm's own iterations (default; :mod:`ressig.de.apeglm`, R's values)
  or, with ``shrink_method="newton"``, the exact MAP of PyDESeq2's ``nbinomGLM`` objective by damped
  Newton; genes that do not converge go to PyDESeq2's per-gene optimiser;
* ``wald_test``: the covariance of DESeq2's ``fitBeta``, whose weights use the fitted means floored
  at ``minmu = 0.5`` (PyDESeq2 uses the unfloored means, which inflates the standard error of
  genes with an all-zero group: the cause of most R disagreement without a count pre-filter);
* ``lin_reg_mu``, rough and moment dispersions: closed forms on whole arrays.

Offsets: every fit takes the per-sample ``size_factors`` (``offset`` = their log); the internal
helpers work on a genes × samples ``nf`` array (``_as_nf``). Per-gene-and-sample normalisation
factors (DESeq2 ``normalizationFactors``, :mod:`ressig.de.normfactors`) are set for the genes of a
call with :meth:`VectorizedInference.offsets`; while set, ``lin_reg_mu``, ``irls``, ``wald_test``
(means from the coefficients) and ``lfc_shrink_nbinom_glm`` (offset) use them instead of the size
factors PyDESeq2 passes (a matrix whose shape does not match the counts is refused).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import numpy as np
import pandas as pd
from pydeseq2 import utils
from pydeseq2.inference import Inference
from scipy.special import digamma, gammaln, ndtr

from .rparity import gamma_identity_glm, nb_loglik

#: DESeq2 ``fitDisp`` constants (estimateDispersionsGeneEst / MAP defaults).
DISP_KAPPA0 = 1.0
DISP_TOL = 1e-6
DISP_MAXIT = 100
_ARMIJO_EPS = 1e-4
#: DESeq2 ``fitBeta``: coefficients beyond this are treated as divergence.
BETA_LARGE = 30.0
#: Genes processed per block (bounds the genes × samples temporaries).
BLOCK = 4096


def _as_nf(size_factors: np.ndarray, n_genes: int) -> np.ndarray:
    """Genes × samples normalisation factors from per-sample size factors (or pass a 2-D array)."""
    sf = np.asarray(size_factors, dtype=float)
    return np.broadcast_to(sf, (n_genes, sf.shape[-1])) if sf.ndim == 1 else sf


def _bsolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``a[g] @ out[g] = b[g]`` for stacks of matrices (g, p, p) and vectors (g, p)."""
    return np.linalg.solve(a, b[..., None])[..., 0]


def _xtwx(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``X' diag(w_g) X`` for every gene: (genes, p, p), as one matrix product."""
    p = x.shape[1]
    outer = (x[:, :, None] * x[:, None, :]).reshape(x.shape[0], p * p)
    return (w @ outer).reshape(w.shape[0], p, p)


class DispProblem:
    """DESeq2's log posterior of log dispersion (``log_posterior``/``dlog_posterior`` in DESeq2.cpp)."""

    def __init__(self, y: np.ndarray, mu: np.ndarray, x: np.ndarray, prior_mean: np.ndarray | None,
                 prior_var: float | None, use_cr: bool):
        self.y, self.mu, self.x = y, mu, x
        self.prior_mean, self.prior_var, self.use_cr = prior_mean, prior_var, use_cr

    def logpost(self, a: np.ndarray, rows: np.ndarray) -> np.ndarray:
        y, mu = self.y[rows], self.mu[rows]
        alpha = np.exp(a)
        ainv = (1.0 / alpha)[:, None]
        ll = np.sum(gammaln(y + ainv) - gammaln(ainv) - y * np.log(mu + ainv)
                    - ainv * np.log1p(mu * alpha[:, None]), axis=1)
        if self.use_cr:
            w = 1.0 / (1.0 / mu + alpha[:, None])
            ll -= 0.5 * np.linalg.slogdet(_xtwx(w, self.x))[1]
        if self.prior_mean is not None:
            ll -= 0.5 * (a - self.prior_mean[rows]) ** 2 / self.prior_var
        return ll

    def dlogpost(self, a: np.ndarray, rows: np.ndarray) -> np.ndarray:
        y, mu = self.y[rows], self.mu[rows]
        alpha = np.exp(a)
        ainv = (1.0 / alpha)[:, None]
        ma = mu * alpha[:, None]
        ll = (1.0 / alpha**2) * np.sum(digamma(ainv) + np.log1p(ma) - ma / (1.0 + ma) - digamma(y + ainv)
                                       + y / (mu + ainv), axis=1)
        if self.use_cr:
            w = 1.0 / (1.0 / mu + alpha[:, None])
            b = _xtwx(w, self.x)
            db = _xtwx(-(w**2), self.x)
            ll -= 0.5 * np.trace(np.linalg.solve(b, db), axis1=1, axis2=2)
        out = ll * alpha
        if self.prior_mean is not None:
            out -= (a - self.prior_mean[rows]) / self.prior_var
        return out


def fit_disp(prob: DispProblem, a0: np.ndarray, min_log_alpha: float, kappa0: float = DISP_KAPPA0,
              tol: float = DISP_TOL, maxit: int = DISP_MAXIT) -> tuple[np.ndarray, ...]:
    """DESeq2 ``fitDisp`` for all genes at once: returns log alpha, iterations, initial and last lp."""
    n = len(a0)
    a = a0.astype(float).copy()
    rows = np.arange(n)
    lp = prob.logpost(a, rows)
    dlp = prob.dlogpost(a, rows)
    initial_lp = lp.copy()
    kappa = np.full(n, kappa0)
    iters = np.zeros(n, dtype=int)
    accepts = np.zeros(n, dtype=int)
    active = np.isfinite(lp) & np.isfinite(dlp)
    for _ in range(maxit):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        iters[idx] += 1
        ai, di, ki = a[idx], dlp[idx], kappa[idx].copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            prop = ai + ki * di
            ki = np.where(prop < -30.0, (-30.0 - ai) / di, ki)
            ki = np.where(prop > 10.0, (10.0 - ai) / di, ki)
        new_a = ai + ki * di
        lp_new = prob.logpost(new_a, idx)
        accept = -lp_new <= -lp[idx] - ki * _ARMIJO_EPS * di**2
        rej = idx[~accept]
        kappa[rej] = ki[~accept] / 2.0
        acc = idx[accept]
        if acc.size == 0:
            continue
        a[acc] = new_a[accept]
        accepts[acc] += 1
        change = lp_new[accept] - lp[acc]
        small = change < tol
        gone = ~small & (a[acc] < min_log_alpha)        # R breaks before updating lp
        lp[acc[small]] = lp_new[accept][small]
        active[acc[small | gone]] = False
        go = acc[~small & ~gone]
        if go.size:
            lp[go] = lp_new[accept][~small & ~gone]
            dlp[go] = prob.dlogpost(a[go], go)
            k = np.minimum(ki[accept][~small & ~gone] * 1.1, kappa0)
            kappa[go] = np.where(accepts[go] % 5 == 0, k / 2.0, k)
            bad = go[~np.isfinite(dlp[go])]
            active[bad] = False
            iters[bad] = maxit
    iters[~(np.isfinite(initial_lp) & np.isfinite(prob.dlogpost(a0, rows)))] = maxit
    return a, iters, initial_lp, lp


def fit_disp_grid(prob: DispProblem, rows: np.ndarray, min_disp: float, max_disp: float,
                   n_grid: int = 20) -> np.ndarray:
    """DESeq2 ``fitDispGrid``: coarse grid in log alpha, then a fine grid around the best point."""
    grid = np.linspace(np.log(min_disp), np.log(max_disp), n_grid)
    delta = grid[1] - grid[0]

    def best(points: np.ndarray) -> np.ndarray:   # points: (genes, n_grid)
        lps = np.stack([prob.logpost(points[:, j], rows) for j in range(points.shape[1])], axis=1)
        lps = np.where(np.isfinite(lps), lps, -np.inf)
        return points[np.arange(len(rows)), np.argmax(lps, axis=1)]

    coarse = best(np.broadcast_to(grid, (len(rows), n_grid)))
    fine = coarse[:, None] + np.linspace(-delta, delta, n_grid)[None, :]
    return best(fine)


class VectorizedInference(Inference):
    """PyDESeq2 inference with all genes fitted together (R DESeq2's algorithms and stopping rules).

    Parameters
    ----------
    n_cpus
        Accepted for interface compatibility (``DeseqDataSet`` sets it); the engine is
        single-process and parallelism comes from NumPy/BLAS threads.
    block
        Genes per block for the dispersion and shrinkage fits (memory bound).
    wald_min_mu
        Floor of the fitted means in the Wald covariance (DESeq2's ``minmu``; ``0`` = PyDESeq2's
        unfloored means).
    shrink_method
        ``"apeglm"`` (R's iterates, default) or ``"newton"`` (exact MAP) for LFC shrinkage.
    """

    #: unconverged MAP dispersions are re-fitted by grid search *with* the prior (R's fitDispGrid),
    #: so :func:`ressig.de.fit.refit_unconverged_map` (the PyDESeq2 fallback fix) is not needed
    map_grid_with_prior = True

    def __init__(self, n_cpus: int | None = None, block: int = BLOCK, wald_min_mu: float = 0.5,
                 shrink_method: Literal["apeglm", "newton"] = "apeglm"):
        self.n_cpus = n_cpus or 1
        self.block = int(block)
        self.wald_min_mu = float(wald_min_mu)
        if shrink_method not in ("apeglm", "newton"):
            raise ValueError(f"shrink_method must be 'apeglm' or 'newton', not {shrink_method!r}")
        self.shrink_method = shrink_method
        #: samples × genes normalisation factors of the current call (see :meth:`offsets`)
        self.norm_factors: np.ndarray | None = None

    @contextmanager
    def offsets(self, norm_factors: np.ndarray | None) -> Iterator[None]:
        """Use ``norm_factors`` (samples × the genes of the next calls) instead of the size factors."""
        old = self.norm_factors
        self.norm_factors = None if norm_factors is None else np.asarray(norm_factors, dtype=float)
        try:
            yield
        finally:
            self.norm_factors = old

    def _nf(self, size_factors: np.ndarray, counts_shape: tuple[int, int]) -> np.ndarray:
        """Genes × samples normalisation factors for counts of ``counts_shape`` (samples, genes)."""
        if self.norm_factors is None:
            return _as_nf(np.asarray(size_factors, dtype=float), counts_shape[1])
        if self.norm_factors.shape != tuple(counts_shape):
            raise ValueError(f"normalisation factors of shape {self.norm_factors.shape} set for counts of shape "
                             f"{tuple(counts_shape)}")
        return self.norm_factors.T

    # ------------------------------------------------------------------ initial estimates
    def lin_reg_mu(self, counts: np.ndarray, size_factors: np.ndarray, design_matrix: np.ndarray,
                   min_mu: float) -> np.ndarray:  # noqa: D102
        nf = self._nf(size_factors, counts.shape).T           # samples x genes (R: linearModelMuNormalized)
        x = np.asarray(design_matrix, dtype=float)
        normed = counts / nf
        hat = x @ np.linalg.pinv(x)
        return np.maximum(nf * (hat @ normed), min_mu)

    @staticmethod
    def fit_rough_dispersions(normed_counts: np.ndarray, design_matrix: np.ndarray) -> np.ndarray:  # noqa: D102
        x = np.asarray(design_matrix, dtype=float)
        n, p = x.shape
        if n == p:
            raise ValueError("The number of samples and the number of design variables are equal, i.e., there "
                             "are no replicates to estimate the dispersion. Please use a design with fewer variables.")
        y_hat = np.maximum(x @ np.linalg.lstsq(x, normed_counts, rcond=None)[0], 1.0)
        alpha = (((normed_counts - y_hat) ** 2 - y_hat) / ((n - p) * y_hat**2)).sum(axis=0)
        return np.maximum(alpha, 0.0)

    fit_moments_dispersions = staticmethod(utils.fit_moments_dispersions)  # type: ignore[assignment]

    # ------------------------------------------------------------------ GLM coefficients
    def irls(self, counts: np.ndarray, size_factors: np.ndarray, design_matrix: np.ndarray, disp: np.ndarray,
             min_mu: float, beta_tol: float, min_beta: float = -30, max_beta: float = 30,
             optimizer: Literal["BFGS", "L-BFGS-B"] = "L-BFGS-B", maxiter: int = 250,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # noqa: D102
        x = np.asarray(design_matrix, dtype=float)
        y = np.ascontiguousarray(np.asarray(counts, dtype=float).T)          # genes x samples
        g, p = y.shape[0], x.shape[1]
        nf = self._nf(size_factors, np.shape(counts)) if np.ndim(size_factors) == 1 else _as_nf(size_factors, g)
        disp = np.asarray(disp, dtype=float)
        ridge = np.eye(p) * 1e-6
        if np.linalg.matrix_rank(x) == p:
            q, r = np.linalg.qr(x)
            beta = np.linalg.solve(r, q.T @ np.log(y / nf + 0.1).T).T
        else:
            beta = np.zeros((g, p))
            beta[:, 0] = np.log((y / nf).mean(axis=1))
        mu = np.maximum(nf * np.exp(beta @ x.T), min_mu)
        dev_old = np.zeros(g)
        converged = np.zeros(g, dtype=bool)
        fallback = np.zeros(g, dtype=bool)
        active = np.ones(g, dtype=bool)
        for it in range(maxiter):
            idx = np.flatnonzero(active)
            if idx.size == 0:
                break
            mi, yi, ni, di = mu[idx], y[idx], nf[idx], disp[idx]
            w = mi / (1.0 + di[:, None] * mi)
            z = np.log(mi / ni) + (yi - mi) / mi
            new = _bsolve(_xtwx(w, x) + ridge, np.einsum("gn,ni->gi", w * z, x))
            diverged = np.any(np.abs(new) > max_beta, axis=1) | ~np.all(np.isfinite(new), axis=1)
            fallback[idx[diverged]] = True
            active[idx[diverged]] = False
            ok = ~diverged
            idx, new = idx[ok], new[ok]
            beta[idx] = new
            mu[idx] = np.maximum(nf[idx] * np.exp(new @ x.T), min_mu)
            dev = -2.0 * nb_loglik(y[idx], mu[idx], disp[idx])
            with np.errstate(invalid="ignore"):
                conv = np.abs(dev - dev_old[idx]) / (np.abs(dev) + 0.1) < beta_tol
            if it == 0:
                conv[:] = False
            bad = ~np.isfinite(dev)
            fallback[idx[bad]] = True
            active[idx[bad]] = False
            converged[idx[conv & ~bad]] = True
            active[idx[conv & ~bad]] = False
            dev_old[idx] = dev
        fallback |= active                        # maxiter reached
        for i in np.flatnonzero(fallback):        # R: optim() for rows that did not converge
            b, _, _, c = utils.irls_solver(counts=y[i], size_factors=nf[i], design_matrix=x, disp=disp[i],
                                           min_mu=min_mu, beta_tol=beta_tol, min_beta=min_beta,
                                           max_beta=max_beta, optimizer=optimizer, maxiter=1)
            beta[i] = b
            converged[i] = c
            mu[i] = np.maximum(nf[i] * np.exp(x @ b), min_mu)
        w = mu / (1.0 + disp[:, None] * mu)
        inv = np.linalg.inv(_xtwx(w, x) + ridge)
        hat = np.einsum("ni,gij,nj->gn", x, inv, x, optimize=True) * w
        mu_out = nf * np.exp(beta @ x.T)
        return beta, mu_out.T, hat.T, converged

    # ------------------------------------------------------------------ dispersions
    def alpha_mle(self, counts: np.ndarray, design_matrix: np.ndarray, mu: np.ndarray, alpha_hat: np.ndarray,
                  min_disp: float, max_disp: float, prior_disp_var: float | None = None, cr_reg: bool = True,
                  prior_reg: bool = False, optimizer: Literal["BFGS", "L-BFGS-B"] = "L-BFGS-B",
                  ) -> tuple[np.ndarray, np.ndarray]:  # noqa: D102
        """Gene-wise (``prior_reg=False``) or MAP (``prior_reg=True``) dispersions, R's rules.

        For MAP estimates ``alpha_hat`` is both the start and the prior mean (the fitted trend), as
        PyDESeq2 passes it; R starts at the gene-wise estimate, which reaches the same maximum.
        """
        if prior_reg and prior_disp_var is None:
            raise ValueError("Sigma_prior is required for prior regularization")
        x = np.asarray(design_matrix, dtype=float)
        y = np.ascontiguousarray(np.asarray(counts, dtype=float).T)
        m = np.ascontiguousarray(np.asarray(mu, dtype=float).T)
        alpha_hat = np.asarray(alpha_hat, dtype=float)
        out = np.empty(len(alpha_hat))
        conv_out = np.empty(len(alpha_hat), dtype=bool)
        for s in range(0, len(alpha_hat), self.block):
            sl = slice(s, s + self.block)
            out[sl], conv_out[sl] = self._alpha_block(y[sl], m[sl], x, alpha_hat[sl], min_disp, max_disp,
                                                      prior_disp_var, cr_reg, prior_reg)
        return out, conv_out

    @staticmethod
    def _alpha_block(y, mu, x, alpha_hat, min_disp, max_disp, prior_var, cr_reg, prior_reg):
        log_init = np.log(alpha_hat)
        prob = DispProblem(y, mu, x, log_init if prior_reg else None, prior_var, cr_reg)
        a, iters, initial_lp, last_lp = fit_disp(prob, log_init, np.log(min_disp / 10.0))
        alpha = np.minimum(np.exp(a), max_disp)
        if prior_reg:
            conv = iters < DISP_MAXIT
            refit = ~conv
        else:
            no_increase = last_lp < initial_lp + np.abs(initial_lp) / 1e6
            alpha = np.where(no_increase, alpha_hat, alpha)
            conv = (iters < DISP_MAXIT) & (iters != 1)
            refit = ~conv & (alpha > min_disp * 10)
        if refit.any():
            rows = np.flatnonzero(refit)
            alpha[rows] = np.exp(fit_disp_grid(prob, rows, min_disp, max_disp))
        return alpha, conv

    def dispersion_trend_gamma_glm(self, covariates: pd.Series, targets: pd.Series,
                                   ) -> tuple[np.ndarray, np.ndarray, bool]:  # noqa: D102
        xv = np.asarray(covariates, dtype=float)
        yv = np.asarray(targets, dtype=float)
        coef, conv = gamma_identity_glm(xv, yv, np.array([1.0, 1.0]))
        return coef, coef[0] + coef[1] * xv, bool(conv)

    # ------------------------------------------------------------------ tests and shrinkage
    def wald_test(self, design_matrix: np.ndarray, disp: np.ndarray, lfc: np.ndarray, mu: np.ndarray,
                  ridge_factor: np.ndarray, contrast: np.ndarray, lfc_null: np.ndarray,
                  alt_hypothesis: Literal["greaterAbs", "lessAbs", "greater", "less"] | None = None,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: D102
        x = np.asarray(design_matrix, dtype=float)
        lfc = np.asarray(lfc, dtype=float)
        if self.norm_factors is not None:      # PyDESeq2 passes exp(X beta) * size factors
            mu = (np.exp(lfc @ x.T) * self._nf(np.ones(x.shape[0]), np.shape(mu))).T
        m = np.maximum(np.asarray(mu, dtype=float).T, self.wald_min_mu)
        c = np.asarray(contrast, dtype=float)
        disp = np.asarray(disp, dtype=float)
        g = m.shape[0]
        se = np.full(g, np.nan)
        ok = np.isfinite(m).all(axis=1) & np.isfinite(disp)
        w = m[ok] / (1.0 + m[ok] * disp[ok, None])
        big_m = _xtwx(w, x)
        hc = _bsolve(big_m + ridge_factor, np.broadcast_to(c, (int(ok.sum()), len(c))))
        se[ok] = np.sqrt(np.einsum("gi,gij,gj->g", hc, big_m, hc))

        def sf(s):
            return ndtr(-s)

        with np.errstate(invalid="ignore", divide="ignore"):
            if alt_hypothesis is None:
                stat = ((lfc - lfc_null) @ c) / se
                return 2.0 * sf(np.abs(stat)), stat, se
            if alt_hypothesis == "greater":
                stat = np.fmax((lfc - lfc_null) / se[:, None], 0) @ c
                return sf(stat), stat, se
            if alt_hypothesis == "less":
                stat = np.fmin((lfc - lfc_null) / se[:, None], 0) @ c
                return sf(np.abs(stat)), stat, se
            if alt_hypothesis == "greaterAbs":
                stat = (np.sign(lfc) * np.fmax((np.abs(lfc) - lfc_null) / se[:, None], 0)) @ c
                return 2.0 * sf(np.abs(stat)), stat, se
            if alt_hypothesis == "lessAbs":
                above = np.fmax((lfc + abs(lfc_null)) / se[:, None], 0) @ c
                below = np.fmin((lfc - abs(lfc_null)) / se[:, None], 0) @ c
                stat = np.where(np.abs(above) <= np.abs(below), above, below)
                return np.fmax(sf(above), sf(np.abs(below))), stat, se
        raise ValueError(f"unknown alt_hypothesis {alt_hypothesis!r}")

    def lfc_shrink_nbinom_glm(self, design_matrix: np.ndarray, counts: np.ndarray, size: np.ndarray,
                              offset: np.ndarray, prior_no_shrink_scale: float, prior_scale: float,
                              optimizer: str, shrink_index: int,
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: D102
        x = np.asarray(design_matrix, dtype=float)
        y = np.ascontiguousarray(np.asarray(counts, dtype=float).T)
        size = np.asarray(size, dtype=float)
        g, p = y.shape[0], x.shape[1]
        off = np.broadcast_to(np.asarray(offset, dtype=float), (g, y.shape[1])) if self.norm_factors is None \
            else np.log(self._nf(np.ones(y.shape[1]), (y.shape[1], g)))     # genes x samples log offsets
        beta = np.empty((g, p))
        inv_h = np.empty((g, p, p))
        conv = np.empty(g, dtype=bool)
        for s in range(0, g, self.block):
            sl = slice(s, s + self.block)
            if self.shrink_method == "newton":
                beta[sl], inv_h[sl], conv[sl] = _shrink_block(x, y[sl], size[sl], off[sl], prior_no_shrink_scale,
                                                              prior_scale, shrink_index)
                continue
            # issue 32: R apeglm's iterates (ressig.de.apeglm), covariance from the Hessian at them
            from .apeglm import nbinom_map_block

            beta[sl], conv[sl] = nbinom_map_block(x, y[sl], size[sl], np.asarray(off[sl]), prior_no_shrink_scale,
                                                  prior_scale, shrink_index)
            inv_h[sl] = _shrink_cov(beta[sl], x, y[sl], size[sl], off[sl], prior_no_shrink_scale, prior_scale,
                                    shrink_index)
        for i in np.flatnonzero(~conv):          # the rare hard cases: PyDESeq2's own optimiser
            beta[i], inv_h[i], conv[i] = utils.nbinomGLM(x, y[i], size[i], off[i], prior_no_shrink_scale,
                                                         prior_scale, optimizer, shrink_index)
        return beta, inv_h, conv


def _shrink_parts(beta, x, y, size, off, s0, s1, k):
    """Objective, gradient and Hessian of PyDESeq2's ``nbinomFn`` for every gene of a block."""
    xb = beta @ x.T
    eta = xb + off
    log_size = np.log(size)[:, None]
    nll = np.sum(y * xb - (y + size[:, None]) * np.logaddexp(eta, log_size), axis=1)
    bk = beta[:, k]
    mask = np.ones(x.shape[1], dtype=bool)
    mask[k] = False
    prior = np.sum((beta[:, mask]) ** 2, axis=1) / (2 * s0**2) + np.log1p((bk / s1) ** 2)
    f = prior - nll
    frac = 1.0 / (1.0 + size[:, None] * np.exp(-eta))            # mu / (mu + size)
    d_nll = (y - (y + size[:, None]) * frac) @ x
    d_prior = np.where(mask, beta / s0**2, 0.0)
    d_prior[:, k] = 2 * bk / (s1**2 + bk**2)
    grad = d_prior - d_nll
    wts = (y + size[:, None]) * frac * (1.0 - frac)
    hess = _xtwx(wts, x)
    diag = np.where(mask, 1.0 / s0**2, 0.0)
    hess[:, np.arange(x.shape[1]), np.arange(x.shape[1])] += diag
    hess[:, k, k] += 2 * (s1**2 - bk**2) / (s1**2 + bk**2) ** 2
    return f, grad, hess


def _shrink_block(x, y, size, off, s0, s1, k, maxit: int = 100, tol: float = 1e-10):
    """Damped Newton for the apeGLM-style MAP of a block of genes (start: log-linear least squares).

    ``off`` is the log offset, genes × samples (one row per gene of the block).
    """
    g, p = y.shape[0], x.shape[1]
    q, r = np.linalg.qr(x)
    beta = np.linalg.solve(r, q.T @ (np.log(y + 0.1) - off).T).T
    conv = np.zeros(g, dtype=bool)
    failed = np.zeros(g, dtype=bool)
    active = np.ones(g, dtype=bool)
    f, grad, hess = _shrink_parts(beta, x, y, size, off, s0, s1, k)
    for _ in range(maxit):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        h = hess[idx].copy()
        # where the Cauchy prior's curvature makes the Hessian indefinite (|beta_k| > prior scale),
        # drop that negative curvature: still a descent direction, the line search does the rest
        indefinite = ~np.all(np.linalg.eigvalsh(h) > 0, axis=1)
        if indefinite.any():
            bk = beta[idx[indefinite], k]
            h[indefinite, k, k] -= np.minimum(2 * (s1**2 - bk**2) / (s1**2 + bk**2) ** 2, 0.0)
            h[indefinite] += np.eye(p) * 1e-10
        step = _bsolve(h, grad[idx])
        slope = np.einsum("gi,gi->g", grad[idx], step)
        flat = (slope < 1e-12 * np.maximum(np.abs(f[idx]), 1.0)) & ~indefinite
        conv[idx[flat]] = True                   # Newton decrement ~ 0: at the optimum
        active[idx[flat]] = False
        idx, step, slope = idx[~flat], step[~flat], slope[~flat]
        t = np.ones(len(idx))
        pending = np.ones(len(idx), dtype=bool)
        for _ls in range(30):                    # Armijo backtracking on the Newton direction
            j = np.flatnonzero(pending)
            if j.size == 0:
                break
            cand = beta[idx[j]] - t[j, None] * step[j]
            fc = _shrink_parts(cand, x, y[idx[j]], size[idx[j]], off[idx[j]], s0, s1, k)[0]
            ok = fc <= f[idx[j]] - 1e-4 * t[j] * slope[j]
            pending[j[ok]] = False
            t[j[~ok]] /= 2.0
        failed[idx[pending]] = True
        active[idx[pending]] = False
        good = ~pending
        gi = idx[good]
        new = beta[gi] - t[good, None] * step[good]
        delta = np.max(np.abs(new - beta[gi]), axis=1)
        beta[gi] = new
        f[gi], grad[gi], hess[gi] = _shrink_parts(new, x, y[gi], size[gi], off[gi], s0, s1, k)
        done = delta < tol ** 0.5 * 1e-2
        conv[gi[done]] = True
        active[gi[done]] = False
    conv &= ~failed
    return beta, _shrink_cov(beta, x, y, size, off, s0, s1, k), conv


def _shrink_cov(beta, x, y, size, off, s0, s1, k):
    """Inverse Hessian of the shrinkage objective at ``beta`` (NaN where not finite)."""
    h_unscaled = _shrink_parts(beta, x, y, size, off, s0, s1, k)[2]
    inv_h = np.full(h_unscaled.shape, np.nan)
    okh = np.isfinite(h_unscaled).all(axis=(1, 2))
    with np.errstate(all="ignore"):
        inv_h[okh] = np.linalg.inv(h_unscaled[okh])
    return inv_h


