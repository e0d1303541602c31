"""apeglm's MAP the way R computes it for ``lfcShrink(type = "apeglm")``, iterate for iterate.

DESeq2's ``lfcShrink`` calls ``apeglm(..., method = "nbinomCR")``. Its MAP is found in C++
(apeglm ``src/nbinomGLM.cpp``) by L-BFGS (RcppNumerical's ``optim_lbfgs``, LBFGS++, ``m = 6``,
``eps_f = eps_g = 1e-8``, at most 300 iterations) on a *scaled* negative log posterior
``f(beta) / cnst + 10``, ``cnst = max(f(0), 1)``, from ``(0.1, -0.1, ...)``; a second run from
``(-0.1, 0.1, ...)`` flags the gene as not converged when the two differ by more than 0.01, and
such genes (and genes whose Hessian gives a non-positive variance) are re-optimised in R by
``optim(method = "BFGS")`` (``vmmin``) from the C++ result.

The C++ stopping rule is relative to the scaled value (``|f_(k-1) - f_k| / |f_k| < 1e-8``), so for
a gene with very large counts (``f(0)`` in the millions) R stops measurably before the exact
optimum: on PyDESeq2's ``large_counts`` test gene (490,000 reads) R's shrunk log2 fold change is
-0.4096, the exact MAP -0.3992 (their log posteriors differ by 0.002 on a scale of 2.6e5), PyDESeq2's
L-BFGS-B gives -0.4046. An exact optimiser is 2.5 % from R there; running R's algorithm reproduces
R's values (all five genes of that test to 3e-7 relative). The L-BFGS ported here is LBFGS++ as
shipped in RcppNumerical 0.4-0 (backtracking Wolfe line search): that is the version that
reproduces PyDESeq2's R references; RcppNumerical >= 0.5-0 (LBFGS++ >= 0.2, More-Thuente /
Nocedal-Wright line searches) stops elsewhere on that gene.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: RcppNumerical ``optim_lbfgs`` as apeglm calls it: maxit 300, eps_f 1e-8, eps_g 1e-8
MAXIT = 300
EPS_F = 1e-8
EPS_G = 1e-8
#: LBFGS++ (RcppNumerical 0.4-0) defaults: history, sufficient decrease, Wolfe curvature, line-search budget
M_HISTORY = 6
FTOL = 1e-4
WOLFE = 0.9
MAX_LINESEARCH = 100


def lbfgs(fg: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray, maxit: int = MAXIT,
          eps_f: float = EPS_F, eps_g: float = EPS_G) -> tuple[np.ndarray, float, bool]:
    """LBFGS++ ``LBFGSSolver::minimize`` as RcppNumerical 0.4-0's ``optim_lbfgs`` runs it.

    Backtracking line search with the (weak) Wolfe conditions (step x 0.5 when the decrease is
    insufficient, x 2.1 when the slope is still too steep; first step ``1 / |g|``, then 1); stop
    when ``|g| <= eps_g * max(|x|, 1)`` or ``|f_(k-1) - f_k| / |f_k| < eps_f`` or after ``maxit``
    iterations; two-loop recursion with ``m = 6`` corrections scaled by ``s'y / y'y``.

    Returns ``(x, f(x), ok)``; ``ok`` is false where R's ``optim_lbfgs`` returns status -1 (the
    line search ran out of steps; ``x`` is then its last point, as in R).
    """
    x = np.asarray(x0, dtype=float).copy()
    fx, grad = fg(x)
    if np.linalg.norm(grad) <= eps_g * max(np.linalg.norm(x), 1.0):
        return x, fx, True
    drt = -grad
    step = 1.0 / np.linalg.norm(drt)
    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    f_past = fx
    k = 1
    while True:
        xp, gp, fx_init = x, grad, fx
        dg_init = float(grad @ drt)
        for it in range(MAX_LINESEARCH):
            x = xp + step * drt
            fx, grad = fg(x)
            if fx > fx_init + step * FTOL * dg_init:
                width = 0.5
            elif float(grad @ drt) < WOLFE * dg_init:
                width = 2.1
            else:
                break
            if it == MAX_LINESEARCH - 1 or not np.isfinite(step):
                return x, fx, False
            step *= width
        if np.linalg.norm(grad) <= eps_g * max(np.linalg.norm(x), 1.0):
            return x, fx, True
        if abs((f_past - fx) / fx) < eps_f:
            return x, fx, True
        f_past = fx
        if maxit and k >= maxit:
            return x, fx, True
        s_hist.append(x - xp)
        y_hist.append(grad - gp)
        if len(s_hist) > M_HISTORY:
            s_hist.pop(0)
            y_hist.pop(0)
        drt = _two_loop(grad, s_hist, y_hist)
        step = 1.0
        k += 1


def _two_loop(grad: np.ndarray, s_hist: list[np.ndarray], y_hist: list[np.ndarray]) -> np.ndarray:
    """The L-BFGS direction ``-H grad`` (two-loop recursion, initial scaling ``s'y / y'y`` of the newest pair)."""
    res = -grad.copy()
    alphas = []
    for s, y in zip(reversed(s_hist), reversed(y_hist), strict=True):
        a = float(s @ res) / float(y @ s)
        alphas.append(a)
        res = res - a * y
    s, y = s_hist[-1], y_hist[-1]
    res = res * (float(y @ s) / float(y @ y))
    for (s, y), a in zip(zip(s_hist, y_hist, strict=True), reversed(alphas), strict=True):
        b = float(y @ res) / float(y @ s)
        res = res + (a - b) * s
    return res


def nbinom_map(x: np.ndarray, y: np.ndarray, size: float, offset: np.ndarray, sigma: float, scale: float,
               shrink: int) -> tuple[np.ndarray, bool]:
    """apeglm ``nbinomCppRoutine`` for one gene: the MAP R reports, and whether R's C++ fit converged.

    Parameters
    ----------
    x
        Design matrix (samples x coefficients); ``y`` counts; ``size`` = 1 / dispersion;
        ``offset`` = log size factors (or normalisation factors) per sample.
    sigma, scale
        Prior scales: normal with sd ``sigma`` on the unshrunk coefficients, Cauchy with scale
        ``scale`` on coefficient ``shrink``.
    """
    p = x.shape[1]
    shrink_mask = np.zeros(p, dtype=bool)
    shrink_mask[shrink] = True

    def neg_post(beta: np.ndarray) -> float:
        xb = x @ beta
        lik = np.sum(y * xb - (y + size) * np.log(size + np.exp(xb + offset)))
        prior = np.sum(beta[~shrink_mask] ** 2) / (2 * sigma**2) + np.sum(np.log1p(beta[shrink_mask] ** 2 / scale**2))
        return float(-lik + prior)

    cnst = max(neg_post(np.zeros(p)), 1.0)

    def fg(beta: np.ndarray) -> tuple[float, np.ndarray]:
        xb = x @ beta
        e = np.exp(xb + offset)
        a, b = y + size, e + size
        lik = np.sum(y * xb - a * np.log(b))
        prior = np.sum(beta[~shrink_mask] ** 2) / (2 * sigma**2) + np.sum(np.log1p(beta[shrink_mask] ** 2 / scale**2))
        d_prior = np.where(shrink_mask, 2 * beta / (scale**2 + beta**2), beta / sigma**2)
        d_lik = x.T @ (y - a * e / b)
        return float(-lik / cnst + prior / cnst + 10.0), (-d_lik + d_prior) / cnst

    init = 0.1 * (-1.0) ** np.arange(p)
    beta, _, ok = lbfgs(fg, init)
    beta2, _, _ = lbfgs(fg, -init)
    converged = ok and bool(np.all(np.isfinite(beta))) and float(np.max(np.abs(beta - beta2))) <= 0.01
    if converged:
        with np.errstate(all="ignore"):
            var = np.diag(np.linalg.pinv(_hessian(beta, x, y, size, offset, sigma, scale, shrink_mask)))
        converged = bool(np.all(var > 0))
    if converged or not np.all(np.isfinite(beta)):
        return beta, converged
    # R: optimNbinom -- optim(method = "BFGS") from the C++ result, on f(beta) - f(init) - 1
    shift = -neg_post(beta) - 1.0

    def grad(b: np.ndarray) -> np.ndarray:
        e = np.exp(x @ b + offset)
        d_prior = np.where(shrink_mask, 2 * b / (scale**2 + b**2), b / sigma**2)
        return -(x.T @ (y - (y + size) * e / (size + e))) + d_prior

    refit, _ = vmmin(lambda b: neg_post(b) + shift, grad, beta)
    return refit, bool(np.all(np.isfinite(refit)))


def _hessian(beta, x, y, size, offset, sigma, scale, shrink_mask):
    """Hessian of the (unscaled) negative log posterior."""
    e = np.exp(x @ beta + offset)
    w = (y + size) * size * e / (size + e) ** 2
    h = (x.T * w) @ x
    diag = np.where(shrink_mask, 2 * (scale**2 - beta**2) / (scale**2 + beta**2) ** 2, 1.0 / sigma**2)
    return h + np.diag(diag)


#: R ``optim(method = "BFGS")`` defaults (``vmmin`` in R's ``src/appl/optim.c``)
BFGS_MAXIT = 100
BFGS_RELTOL = float(np.sqrt(np.finfo(float).eps))
_STEPREDN, _ACCTOL, _RELTEST = 0.2, 0.0001, 10.0


def vmmin(fn: Callable[[np.ndarray], float], gr: Callable[[np.ndarray], np.ndarray], b0: np.ndarray,
          maxit: int = BFGS_MAXIT, reltol: float = BFGS_RELTOL, abstol: float = -np.inf) -> tuple[np.ndarray, float]:
    """R's ``vmmin`` (``optim(method = "BFGS")``), step for step: returns the parameters and value."""
    b = np.asarray(b0, dtype=float).copy()
    n = len(b)
    f = fn(b)
    if not np.isfinite(f):
        raise ValueError("initial value in 'vmmin' is not finite")
    fmin = f
    funcount = gradcount = 1
    g = gr(b)
    it = 1
    ilast = gradcount
    big_b = np.eye(n)
    while True:
        if ilast == gradcount:
            big_b = np.eye(n)
        x_old, c = b.copy(), g.copy()
        t = -(big_b @ g)
        gradproj = float(t @ g)
        if gradproj < 0.0:
            steplength = 1.0
            accpoint = False
            while True:
                b = x_old + steplength * t
                count = int(np.sum(_RELTEST + x_old == _RELTEST + b))
                if count < n:
                    f = fn(b)
                    funcount += 1
                    accpoint = bool(np.isfinite(f) and f <= fmin + gradproj * steplength * _ACCTOL)
                    if not accpoint:
                        steplength *= _STEPREDN
                if count == n or accpoint:
                    break
            enough = (f > abstol) and abs(f - fmin) > reltol * (abs(fmin) + reltol)
            if not enough:
                count = n
                fmin = f
            if count < n:
                fmin = f
                g = gr(b)
                gradcount += 1
                it += 1
                t = steplength * t
                c = g - c
                d1 = float(t @ c)
                if d1 > 0:
                    xv = big_b @ c
                    d2 = 1.0 + float(xv @ c) / d1
                    big_b = big_b + (d2 * np.outer(t, t) - np.outer(xv, t) - np.outer(t, xv)) / d1
                else:
                    ilast = gradcount
            else:
                if ilast < gradcount:
                    count = 0
                    ilast = gradcount
        else:
            count = 0
            if ilast == gradcount:
                count = n
            else:
                ilast = gradcount
        if it >= maxit:
            break
        if gradcount - ilast > 2 * n:
            ilast = gradcount
        if count == n and ilast == gradcount:
            break
    return b, fmin


def lbfgs_block(fg: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]], x0: np.ndarray,
                maxit: int = MAXIT, eps_f: float = EPS_F, eps_g: float = EPS_G) -> tuple[np.ndarray, np.ndarray]:
    """:func:`lbfgs` for many independent problems at once (rows of ``x0``), identical iterates.

    ``fg(x, rows)`` returns the values and gradients of problems ``rows`` at ``x`` (one row each).
    Every problem runs exactly the iterations :func:`lbfgs` would run for it alone (the problems
    advance in lockstep; a problem's line search waits while others still search). Returns the
    solutions and the ``ok`` flags.
    """
    x = np.array(x0, dtype=float)
    g_n, p = x.shape
    rows = np.arange(g_n)
    fx, grad = fg(x, rows)
    ok = np.ones(g_n, dtype=bool)
    active = ~(np.linalg.norm(grad, axis=1) <= eps_g * np.maximum(np.linalg.norm(x, axis=1), 1.0))
    drt = -grad
    step = np.zeros(g_n)
    step[active] = 1.0 / np.linalg.norm(drt[active], axis=1)
    s_hist = np.zeros((M_HISTORY, g_n, p))
    y_hist = np.zeros((M_HISTORY, g_n, p))
    f_past = fx.copy()
    k = 1
    while active.any():
        idx = np.flatnonzero(active)
        xp, gp, f_init = x[idx].copy(), grad[idx].copy(), fx[idx].copy()
        d = drt[idx]
        dg_init = np.einsum("gp,gp->g", gp, d)
        st = step[idx].copy()
        searching = np.ones(len(idx), dtype=bool)
        for it in range(MAX_LINESEARCH):
            j = np.flatnonzero(searching)
            if j.size == 0:
                break
            xt = xp[j] + st[j, None] * d[j]
            ft, gt = fg(xt, idx[j])
            x[idx[j]], fx[idx[j]], grad[idx[j]] = xt, ft, gt
            insufficient = ft > f_init[j] + st[j] * FTOL * dg_init[j]
            steep = ~insufficient & (np.einsum("gp,gp->g", gt, d[j]) < WOLFE * dg_init[j])
            done = ~insufficient & ~steep
            searching[j[done]] = False
            if it == MAX_LINESEARCH - 1:
                failed = j[~done]
                ok[idx[failed]] = False
                active[idx[failed]] = False
                searching[failed] = False
                break
            st[j] = st[j] * np.where(insufficient, 0.5, 2.1)
        alive = active[idx]
        idx, xp, gp = idx[alive], xp[alive], gp[alive]
        gnorm = np.linalg.norm(grad[idx], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            stop = (gnorm <= eps_g * np.maximum(np.linalg.norm(x[idx], axis=1), 1.0)) | \
                (np.abs((f_past[idx] - fx[idx]) / fx[idx]) < eps_f)
        if maxit and k >= maxit:
            stop[:] = True
        active[idx[stop]] = False
        f_past[idx] = fx[idx]
        s_hist = np.roll(s_hist, -1, axis=0)
        y_hist = np.roll(y_hist, -1, axis=0)
        s_hist[-1, idx] = x[idx] - xp
        y_hist[-1, idx] = grad[idx] - gp
        go = idx[~stop]
        if go.size:
            drt[go] = _two_loop_block(grad[go], s_hist[-min(k, M_HISTORY):, go], y_hist[-min(k, M_HISTORY):, go])
            step[go] = 1.0
        k += 1
    return x, ok


def _two_loop_block(grad: np.ndarray, s_hist: np.ndarray, y_hist: np.ndarray) -> np.ndarray:
    """:func:`_two_loop` for many problems: histories (m, genes, p), oldest first."""
    res = -grad.copy()
    m = s_hist.shape[0]
    alphas = np.empty((m, grad.shape[0]))
    ys = np.einsum("mgp,mgp->mg", y_hist, s_hist)
    for i in range(m - 1, -1, -1):
        alphas[i] = np.einsum("gp,gp->g", s_hist[i], res) / ys[i]
        res = res - alphas[i][:, None] * y_hist[i]
    res = res * (ys[-1] / np.einsum("gp,gp->g", y_hist[-1], y_hist[-1]))[:, None]
    for i in range(m):
        b = np.einsum("gp,gp->g", y_hist[i], res) / ys[i]
        res = res + (alphas[i] - b)[:, None] * s_hist[i]
    return res


def nbinom_map_block(x: np.ndarray, y: np.ndarray, size: np.ndarray, offset: np.ndarray, sigma: float,
                     scale: float, shrink: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`nbinom_map` for many genes (``y``, ``offset``: genes x samples; ``size`` per gene).

    The C++ stage runs vectorised (:func:`lbfgs_block`); the genes R would re-optimise in R
    (second start off by > 0.01, a failed line search or a non-positive variance) go through
    :func:`nbinom_map` one by one. Returns the MAP coefficients and the convergence flags.
    """
    g_n, p = y.shape[0], x.shape[1]
    shrink_mask = np.zeros(p, dtype=bool)
    shrink_mask[shrink] = True
    size = np.asarray(size, dtype=float)

    def unscaled(beta: np.ndarray, rows: np.ndarray) -> np.ndarray:
        xb = beta @ x.T
        lik = np.sum(y[rows] * xb - (y[rows] + size[rows, None]) * np.log(size[rows, None] + np.exp(xb + offset[rows])),
                     axis=1)
        prior = np.sum(beta[:, ~shrink_mask] ** 2, axis=1) / (2 * sigma**2) + \
            np.sum(np.log1p(beta[:, shrink_mask] ** 2 / scale**2), axis=1)
        return -lik + prior

    cnst = np.maximum(unscaled(np.zeros((g_n, p)), np.arange(g_n)), 1.0)

    def fg(beta: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xb = beta @ x.T
        e = np.exp(xb + offset[rows])
        a, b = y[rows] + size[rows, None], e + size[rows, None]
        lik = np.sum(y[rows] * xb - a * np.log(b), axis=1)
        prior = np.sum(beta[:, ~shrink_mask] ** 2, axis=1) / (2 * sigma**2) + \
            np.sum(np.log1p(beta[:, shrink_mask] ** 2 / scale**2), axis=1)
        d_prior = np.where(shrink_mask, 2 * beta / (scale**2 + beta**2), beta / sigma**2)
        d_lik = (y[rows] - a * e / b) @ x
        c = cnst[rows]
        return -lik / c + prior / c + 10.0, (-d_lik + d_prior) / c[:, None]

    init = 0.1 * (-1.0) ** np.arange(p)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        beta, ok = lbfgs_block(fg, np.tile(init, (g_n, 1)))
        beta2, _ = lbfgs_block(fg, np.tile(-init, (g_n, 1)))
    conv = ok & np.all(np.isfinite(beta), axis=1) & (np.max(np.abs(beta - beta2), axis=1) <= 0.01)
    for i in np.flatnonzero(conv):
        h = _hessian(beta[i], x, y[i], size[i], offset[i], sigma, scale, shrink_mask)
        with np.errstate(all="ignore"):
            conv[i] = bool(np.all(np.diag(np.linalg.pinv(h)) > 0))
    for i in np.flatnonzero(~conv):
        beta[i], conv[i] = nbinom_map(x, y[i], float(size[i]), offset[i], sigma, scale, shrink)
    return beta, conv
