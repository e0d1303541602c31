"""Local regression the way R's ``locfit`` does it by default, for one predictor.

DESeq2's ``localDispersionFit`` (the trend R substitutes when the parametric fit fails, or
``fitType = "local"``) is ``locfit(logDisps ~ logMeans, weights = means)`` followed by
``predict()``. This module reproduces that call from locfit's C sources (locfit 1.5-9,
``src/locfit.c``, ``lf_nbhd.c``, ``weight.c``, ``family.c``, ``ev_atree.c``, ``ev_interp.c``)
for the defaults R uses there:

* family ``qgaussian`` (a response without a family), identity link: at each fitting point the
  local fit is a weighted least-squares polynomial, weights = prior weight x kernel weight;
* degree 2 (basis ``1, dx, dx^2/2``), so each fitting point yields a value and a slope;
* nearest-neighbour bandwidth ``alpha = 0.7``: ``h`` = distance from the fitting point to its
  ``k``-th nearest observation, ``k = floor(n * alpha + 1e-12)``;
* tricube kernel ``(1 - (d/h)^3)^3`` for ``d < h``;
* evaluation structure ``ev = rbox()`` = the adaptive tree (``type = "tree"``, ``cut = 0.8``): fit
  at both ends of the data range; a cell ``[l, u]`` is split at its midpoint (a new fitted vertex)
  while ``u - l > cut * min(h(l), h(u))``; ``predict()`` finds the leaf cell and interpolates the
  vertex values and slopes by cubic Hermite interpolation;
* the parametric component (``pcomp.c``): a global weighted polynomial of the same degree, centred
  at the weighted mean of ``x``, is subtracted from the vertex values and slopes and added back
  after interpolation. Inside the data range this changes nothing (cubic Hermite interpolation
  reproduces a quadratic exactly); outside it, where locfit extrapolates the residual linearly
  with the end slope, the prediction keeps the global curvature.

In one dimension every new vertex is a real fit (locfit's pseudo-vertices need a cell shorter
than ``cut * h``, which is exactly when it is not split). The only numerical difference from R's
C code is the linear solver (LAPACK instead of locfit's eigen decomposition of the correlation
matrix), which agrees to rounding for well-conditioned local designs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

#: locfit defaults (``locfit.raw``: ``alpha = 0.7, deg = 2``; ``rbox()``: ``cut = 0.8``)
ALPHA = 0.7
DEGREE = 2
CUT = 0.8


def _max_vertices(alpha: float, cut: float) -> int:
    """locfit's vertex space for the adaptive tree in 1-D (``atree_guessnv``, ``mk = 100``)."""
    a0 = 1.0 if alpha > 1 else 1.0 / alpha
    cu = min(1.0, max(cut, 0.01))
    return int((5 * a0 / cu + 1) * 2)


def fit_point(x: np.ndarray, y: np.ndarray, w: np.ndarray, t: float, alpha: float = ALPHA,
              degree: int = DEGREE) -> tuple[float, float, float]:
    """Local polynomial fit at ``t``: returns ``(value, slope, bandwidth)``.

    ``x`` and ``y`` are the data, ``w`` the prior weights. The bandwidth is the distance to the
    ``floor(n * alpha)``-th nearest observation (for ``alpha >= 1``, the largest distance scaled
    by ``alpha``, as locfit's ``compbandwid``).
    """
    n = len(x)
    dist = np.abs(x - t)
    k = int(n * alpha + 1e-12)
    if k <= 0:
        raise ValueError(f"locfit: alpha = {alpha} leaves no observation in the neighbourhood of n = {n}")
    h = float(np.partition(dist, k - 1)[k - 1]) if k < n else float(dist.max()) * k / n
    if h > 0:
        u = dist / h
        kern = np.where(u < 1.0, (1.0 - u**3) ** 3, 0.0)
    else:
        kern = (dist == 0).astype(float)
    wt = w * kern
    sel = wt > 0
    dx = x[sel] - t
    basis = np.column_stack([dx**j / _factorial(j) for j in range(degree + 1)])
    sw = np.sqrt(wt[sel])
    coef = np.linalg.lstsq(basis * sw[:, None], y[sel] * sw, rcond=None)[0]
    slope = float(coef[1]) if degree >= 1 else 0.0
    return float(coef[0]), slope, h


def _factorial(j: int) -> float:
    return float(np.prod(np.arange(1, j + 1))) if j > 1 else 1.0


@dataclass(frozen=True)
class LocfitTree:
    """A fitted 1-D locfit: vertices (sorted), fitted values, slopes and bandwidths there.

    ``xbar`` and ``pc_coef`` are the parametric component (coefficients of ``1, dx, dx^2/2, ...``
    with ``dx = x - xbar``).
    """

    vertices: np.ndarray
    values: np.ndarray
    slopes: np.ndarray
    bandwidths: np.ndarray
    xbar: float = 0.0
    pc_coef: np.ndarray = field(default_factory=lambda: np.zeros(1))

    def parametric(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Value and slope of the parametric component at ``x``."""
        dx = np.asarray(x, dtype=float) - self.xbar
        val = sum(c * dx**j / _factorial(j) for j, c in enumerate(self.pc_coef))
        slope = sum(c * dx ** (j - 1) / _factorial(j - 1) for j, c in enumerate(self.pc_coef) if j >= 1)
        return val + 0.0 * dx, slope + 0.0 * dx

    def __call__(self, xnew: np.ndarray) -> np.ndarray:
        """``predict(fit, newdata)``: cubic Hermite interpolation in the leaf cell of each point."""
        xnew = np.asarray(xnew, dtype=float)
        v = self.vertices
        cell = np.clip(np.searchsorted(v, xnew, side="right") - 1, 0, len(v) - 2)
        lo, hi = v[cell], v[cell + 1]
        width = hi - lo
        h = (xnew - lo) / width
        pv, ps = self.parametric(v)                 # vertex residuals from the parametric component
        f0, f1 = (self.values - pv)[cell], (self.values - pv)[cell + 1]
        d0, d1 = (self.slopes - ps)[cell], (self.slopes - ps)[cell + 1]
        hc = np.clip(h, 0.0, 1.0)
        phi1 = hc * hc * (3 - 2 * hc)
        inside = phi1 * f1 + (1 - phi1) * f0 + (hc * (1 - hc) ** 2 * d0 + hc * hc * (hc - 1) * d1) * width
        left = f0 + (xnew - lo) * d0            # locfit hermite2: h < 0 -> phi = (1, 0, h, 0)
        right = f1 + (xnew - hi) * d1           # h > 1 -> phi = (0, 1, 0, h - 1)
        return np.where(h < 0, left, np.where(h > 1, right, inside)) + self.parametric(xnew)[0]


def locfit_1d(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, alpha: float = ALPHA,
              degree: int = DEGREE, cut: float = CUT) -> LocfitTree:
    """R ``locfit(y ~ x, weights = weights)`` with the default adaptive-tree evaluation structure.

    Raises
    ------
    ValueError
        Fewer than two distinct ``x`` values, non-finite input, or more vertices than locfit's
        vertex space (R stops with "newsplit: out of vertex space").
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if not (len(x) == len(y) == len(w)) or not np.all(np.isfinite(x) & np.isfinite(y) & np.isfinite(w)):
        raise ValueError("locfit: x, y and weights must be finite and of equal length")
    lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        raise ValueError("locfit: all x values are equal")
    nvm = _max_vertices(alpha, cut)
    fits: dict[float, tuple[float, float, float]] = {}

    def vertex(t: float) -> tuple[float, float, float]:
        if t not in fits:
            if len(fits) >= nvm:
                raise ValueError("locfit: newsplit: out of vertex space")
            fits[t] = fit_point(x, y, w, t, alpha, degree)
        return fits[t]

    def grow(left: float, right: float) -> None:        # atree_grow: split at the midpoint while too wide
        hs = [hh for hh in (vertex(left)[2], vertex(right)[2]) if hh > 0]
        score = (right - left) / min(hs) if hs else 2 * (right - left) / (hi - lo)
        if score > cut:
            mid = (left + right) / 2
            vertex(mid)
            grow(left, mid)
            grow(mid, right)

    grow(lo, hi)
    ts = np.array(sorted(fits))
    vals = np.array([fits[t] for t in ts])
    xbar = float(np.sum(w * x) / np.sum(w))          # compparcomp: global fit, prior weights only
    basis = np.column_stack([(x - xbar) ** j / _factorial(j) for j in range(degree + 1)])
    sw = np.sqrt(w)
    pc_coef = np.linalg.lstsq(basis * sw[:, None], y * sw, rcond=None)[0]
    return LocfitTree(vertices=ts, values=vals[:, 0], slopes=vals[:, 1], bandwidths=vals[:, 2], xbar=xbar,
                      pc_coef=pc_coef)


def local_dispersion_fit(means: np.ndarray, disps: np.ndarray, min_disp: float = 1e-8
                         ) -> Callable[[np.ndarray], np.ndarray]:
    """DESeq2's ``localDispersionFit``: a locfit of log dispersion on log mean, weights = means.

    ``means``/``disps`` are the genes R passes (``dispGeneEst > 100 * minDisp``); genes with
    ``disps < 10 * min_disp`` are left out of the fit, as in R. Returns the dispersion function
    ``means -> exp(predict(fit, log(means)))``. When every dispersion is below ``10 * min_disp``
    the function is the constant ``min_disp`` (R returns that constant).
    """
    means = np.asarray(means, dtype=float)
    disps = np.asarray(disps, dtype=float)
    if np.all(disps < min_disp * 10):
        return lambda m: np.full(np.shape(m), min_disp, dtype=float)
    use = disps >= min_disp * 10
    tree = locfit_1d(np.log(means[use]), np.log(disps[use]), weights=means[use])

    def dispersion_function(m: np.ndarray) -> np.ndarray:
        return np.exp(tree(np.log(np.asarray(m, dtype=float))))

    dispersion_function.tree = tree  # type: ignore[attr-defined]
    return dispersion_function
