"""Four-parameter log-logistic fits of viability curves: separate and joint fits, profile CIs, culture scales.

Fit
---
Per (condition, drug, inhibitor), over all samples and replicates, the four-parameter
log-logistic model ``y = bottom + (top − bottom) / (1 + (x / IC50)^hill)`` is fitted by
bounded least squares (:func:`scipy.optimize.least_squares`, trust-region reflective, analytic
Jacobian, a start at the best point of a deterministic grid) in the parameters ``log IC50, hill,
top, bottom``; ``top`` and/or ``bottom`` may be fixed. IC50 is the inflection (relative) IC50:
the concentration halfway between ``top`` and ``bottom``.

Each curve is first fitted on its own (the flat-response test and range checks below). With
``share_plateaus`` (default) the estimable curves of one drug are then fitted **jointly**: each
keeps its ``log IC50`` and ``hill``, all share one ``top`` and one ``bottom`` (those not fixed)
and one residual variance. After normalisation to untreated wells every curve's top is the
same 1 and a cytotoxic drug has one floor, so this spends no parameters on differences that are
not there; the curves that plateau early (parental) then pin the bottom of the one that reaches
it only at the highest doses (resistant), which is where most of the IC50 error of separate fits
comes from. ``plateau_p`` is the extra-sum-of-squares F test of the shared plateaus against the
separate fits (small = the plateaus differ; then use ``share_plateaus=False``).

The 95% CI of IC50 is the **profile likelihood on log IC50** (as in drc / GraphPad): the set of
values ``c`` whose profile residual sum of squares (``log IC50`` held at ``c``, every other
parameter re-optimised) satisfies ``RSS(c) − RSS ≤ RSS / (n − p) · F(1, n − p; 0.95)``,
exponentiated. Unlike the Wald (delta-method) interval ``log IC50 ± t · SE`` it follows the
curvature of the model, which gave the delta method 92–95% coverage on bar-style plates.
``se_log10_ic50`` is the SE the profile CI implies, ``log(high / low) / (2 t(0.975, n − p))``.

Culture scales (``controls`` normalisation)
-------------------------------------------
Each culture — a sample's wells of one drug and inhibitor, normalised together — is divided by
the mean of its own few untreated wells. That mean is noisy (sd σ/√3 with three wells) and its
error is shared by every well of the culture, so a fit that takes the fractions as exact treats
a culture-level error as independent well noise: on bar plates (benchmarks/ic50_bar.py, raw
signal) the per-curve 95% CIs covered the truth 91–94% of the time. With ``controls``
normalisation and a free top the fit therefore gives every culture *i* of a curve its own
multiplicative **scale** ``s_i``: its wells follow ``s_i · four_pl(x; log IC50, hill, 1, bottom)``.
Top is fixed at 1 because the scales carry the untreated level (one scale per culture instead of
one top per curve; fixing ``top`` turns the scales off and takes the normalisation as exact);
``bottom`` is a fraction of the culture's untreated signal and is shared between the curves of a
drug like the plateaus above. The untreated wells, points of the fit at x = 0, inform ``s_i``
together with the culture's treated wells; the profile CI re-optimises the scales with every
other parameter, and the flat-response test compares against one level per culture. This is
the raw-signal model with a span per culture (``signal − blank = span_i · four_pl``), divided by
a known constant per culture, so it costs nothing to keep the fractions on the viability scale
(tables, plots, ``viability.tsv``) rather than fitting raw signal. ``ic50.tsv`` reports the
scales (``culture_scales``) and ``top``/``bottom`` of the curve's typical culture (geometric
mean of its scales, ≈ 1). ``none`` normalisation fits no scales. On 300 bar plates the per-curve
coverage with raw signal went from 0.91–0.94 to 0.92–0.95 (pass rate 0.777 → 0.807; multiplicative
noise 0.910 → 0.943), the same as fraction plates fitted with unknown culture levels: the rest of
the gap to fractions is information the raw plate does not hold (each culture's level).

An IC50 is **not estimable** (``ic50`` empty, ``ic50_report`` says why) when the curve shows
no dose response (extra-sum-of-squares F test of the 4PL against a flat line, p ≥ 0.05), when
there are fewer distinct positive concentrations than free parameters, when the fitted IC50
lies outside the tested range (reported as ``> max dose`` or ``< min dose`` — never
extrapolated silently), or when its 95% CI reaches more than 10× beyond the tested range
(the data do not identify it, e.g. noise around a flat line that the F test lets through).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .._log import logger

IC50_COLUMNS = [
    "condition", "drug", "inhibitor", "ic50", "ic50_ci_low", "ic50_ci_high", "ic50_report", "estimable",
    "hill", "top", "bottom", "log10_ic50", "se_log10_ic50", "n_points", "n_concentrations", "min_dose",
    "max_dose", "sigma", "df", "flat_p", "converged", "note", "plateaus", "plateau_p", "normalisation",
    "culture_scales", "ci_method",
]
CI_METHOD = "profile likelihood on log IC50, F(1, n - p)"






def four_pl(x: np.ndarray, log_ic50: float, hill: float, top: float, bottom: float) -> np.ndarray:
    """``bottom + (top − bottom) / (1 + (x / IC50)^hill)`` with ``IC50 = exp(log_ic50)`` (``x ≥ 0``)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", over="ignore"):
        z = np.exp(np.clip(hill * (np.log(x) - log_ic50), -700, 700))
    return bottom + (top - bottom) / (1.0 + z)


@dataclass
class Fit:
    """One curve of a 4PL fit; ``log_ic50`` and its SE are natural logs.

    ``ci_low``/``ci_high`` are the 95% profile-likelihood bounds of IC50 (linear scale);
    ``se_log_ic50`` is the SE they imply (half-width of the log CI / t quantile) and
    ``se_delta`` the Wald (delta-method) SE from the Jacobian. Curves fitted jointly share a
    ``group`` object holding the Wald covariance of their log IC50s (``cov``, ``index``).
    ``scales`` holds the fitted scale per culture when the fit had culture scales; ``top`` and
    ``bottom`` are then those of the curve's typical culture (geometric mean of its scales).
    """

    n_points: int = 0
    n_concentrations: int = 0
    min_dose: float = math.nan
    max_dose: float = math.nan
    log_ic50: float = math.nan
    se_log_ic50: float = math.nan
    se_delta: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    hill: float = math.nan
    top: float = math.nan
    bottom: float = math.nan
    sigma: float = math.nan
    df: int = 0
    flat_p: float = math.nan
    converged: bool = False
    estimable: bool = False
    report: str = ""
    note: str = ""
    plateaus: str = "own"
    plateau_p: float = math.nan
    scales: dict[str, float] = field(default_factory=dict)
    group: object = None
    index: int = 0

    def ci(self) -> tuple[float, float]:
        """95% profile-likelihood CI of IC50 (linear scale); NaN when not estimable."""
        if not self.estimable:
            return math.nan, math.nan
        return self.ci_low, self.ci_high

    @property
    def ic50(self) -> float:
        return math.exp(self.log_ic50) if self.estimable else math.nan


@dataclass
class _Joint:
    """Wald covariance of the log IC50s of curves fitted together (for ratios of their IC50s)."""

    cov: np.ndarray


class _Model:
    """Parameter layout of a joint 4PL fit of several curves (one curve = the ordinary fit).

    Every curve has its own ``log IC50`` and ``hill``; ``top``/``bottom`` are fixed, own per
    curve, or (``share``) one parameter for all curves. A curve given with culture labels
    (``(x, y, culture)``) gets one multiplicative **scale** per culture: its points are
    ``scale[culture] · four_pl(x, log IC50, hill, top, bottom)`` with ``top`` fixed (at 1).
    """

    def __init__(self, curves: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]], fix_top: float | None,
                 fix_bottom: float | None, share: bool) -> None:
        self.curves, self.fixed = [(x, y) for x, y, _ in curves], (fix_top, fix_bottom)
        self.names: list[str] = []
        self.idx: list[list[int | None]] = []
        for g in range(len(curves)):
            row: list[int | None] = [self._add(f"log_ic50[{g}]"), self._add(f"hill[{g}]"), None, None]
            for k, (nm, fixv) in enumerate((("top", fix_top), ("bottom", fix_bottom))):
                if fixv is None and not share:
                    row[2 + k] = self._add(f"{nm}[{g}]")
            self.idx.append(row)
        for k, (nm, fixv) in enumerate((("top", fix_top), ("bottom", fix_bottom))):
            if fixv is None and share:
                j = self._add(nm)
                for row in self.idx:
                    row[2 + k] = j
        # per-culture scales: names in order of appearance, codes per point, parameter index per culture
        self.cultures: list[list[str]] = []
        self.codes: list[np.ndarray | None] = []
        self.sidx: list[np.ndarray | None] = []
        for g, (_, _, cult) in enumerate(curves):
            if cult is None:
                self.cultures.append([])
                self.codes.append(None)
                self.sidx.append(None)
                continue
            if fix_top is None:
                raise ValueError("culture scales need a fixed top (the scales carry the untreated level)")
            names = list(dict.fromkeys(str(c) for c in cult))
            pos = {c: i for i, c in enumerate(names)}
            self.cultures.append(names)
            self.codes.append(np.array([pos[str(c)] for c in cult], dtype=int))
            self.sidx.append(np.array([self._add(f"scale {c}[{g}]") for c in names], dtype=int))
        ys = np.concatenate([y for _, y in self.curves])
        pad = max(float(ys.max() - ys.min()), 0.1)
        self.lo, self.hi = np.empty(len(self.names)), np.empty(len(self.names))
        for g, (x, _) in enumerate(self.curves):
            lxp = np.log(x[x > 0])
            il, ih = self.idx[g][:2]
            self.lo[il], self.hi[il] = lxp.min() - math.log(100), lxp.max() + math.log(100)
            self.lo[ih], self.hi[ih] = 0.05, 20.0
            if self.sidx[g] is not None:
                self.lo[self.sidx[g]], self.hi[self.sidx[g]] = 0.1, 10.0
        for j, nm in enumerate(self.names):
            if nm.startswith(("top", "bottom")):
                self.lo[j], self.hi[j] = ys.min() - pad, ys.max() + pad
        self.n = int(ys.size)
        self.y = ys

    def _add(self, name: str) -> int:
        self.names.append(name)
        return len(self.names) - 1

    def curve_params(self, p: np.ndarray, g: int) -> tuple[float, float, float, float]:
        il, ih, it, ib = self.idx[g]
        return (float(p[il]), float(p[ih]), self.fixed[0] if it is None else float(p[it]),
                self.fixed[1] if ib is None else float(p[ib]))

    def point_scales(self, p: np.ndarray, g: int) -> np.ndarray | None:
        """Scale of every point of curve ``g`` (its culture's), or ``None`` without culture scales."""
        return None if self.sidx[g] is None else p[self.sidx[g]][self.codes[g]]

    def culture_scales(self, p: np.ndarray, g: int) -> dict[str, float]:
        """Fitted scale per culture of curve ``g`` (empty without culture scales)."""
        return {} if self.sidx[g] is None else dict(zip(self.cultures[g], map(float, p[self.sidx[g]]), strict=True))

    def resid(self, p: np.ndarray) -> np.ndarray:
        out = []
        for g, (x, y) in enumerate(self.curves):
            m = four_pl(x, *self.curve_params(p, g))
            sc = self.point_scales(p, g)
            out.append((m if sc is None else sc * m) - y)
        return np.concatenate(out)

    def jac(self, p: np.ndarray) -> np.ndarray:
        """Analytic Jacobian of :meth:`resid` (points x parameters)."""
        out = np.zeros((self.n, len(self.names)))
        row = 0
        for g, (x, _) in enumerate(self.curves):
            lg, h, t, b = self.curve_params(p, g)
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                u = np.where(x > 0, np.log(np.where(x > 0, x, 1.0)) - lg, -np.inf)
                z = np.exp(np.clip(h * u, -700, 700))
                s = 1.0 / (1.0 + z)
                dz = np.where(x > 0, s * s * z, 0.0)  # d s / d(h u) = -s^2 z; zero at x = 0
            rows = slice(row, row + x.size)
            il, ih, it, ib = self.idx[g]
            sc = self.point_scales(p, g)
            k = 1.0 if sc is None else sc  # d(scale · f)/dθ = scale · df/dθ
            out[rows, il] = k * (t - b) * dz * h
            out[rows, ih] = -k * (t - b) * dz * np.where(x > 0, u, 0.0)
            if it is not None:
                out[rows, it] += k * s
            if ib is not None:
                out[rows, ib] += k * (1.0 - s)
            if sc is not None:
                out[np.arange(row, row + x.size), self.sidx[g][self.codes[g]]] = b + (t - b) * s
            row += x.size
        return out

    def start(self) -> np.ndarray:
        """Best point of a per-curve (log IC50, hill) grid with the plateaus at crude values."""
        p = np.empty(len(self.names))
        tops, bots = [], []
        for x, y in self.curves:
            tops.append(float(np.mean(y[x == x.min()])) if self.fixed[0] is None else self.fixed[0])
            bots.append(float(np.mean(y[x == x.max()])) if self.fixed[1] is None else self.fixed[1])
        for g, (x, y) in enumerate(self.curves):
            with np.errstate(divide="ignore"):
                lx = np.log(x)  # -inf at concentration 0
            lxp = lx[x > 0]
            top0, bot0 = float(np.mean(tops)), float(np.mean(bots))
            if self.idx[g][2] is not None and self.names[self.idx[g][2]] != "top":
                top0 = tops[g]
            if self.idx[g][3] is not None and self.names[self.idx[g][3]] != "bottom":
                bot0 = bots[g]
            grid_l = np.linspace(lxp.min(), lxp.max(), 25)
            grid_h = np.array([0.5, 1.0, 2.0, 4.0])
            gl, gh = np.meshgrid(grid_l, grid_h, indexing="ij")
            z = np.exp(np.clip(gh[..., None] * (lx[None, None, :] - gl[..., None]), -700, 700))
            sse = ((bot0 + (top0 - bot0) / (1.0 + z) - y) ** 2).sum(axis=-1)
            i, j = np.unravel_index(int(np.argmin(sse)), sse.shape)
            il, ih, it, ib = self.idx[g]
            p[il], p[ih] = grid_l[i], grid_h[j]
            if it is not None:
                p[it] = top0
            if ib is not None:
                p[ib] = bot0
            if self.sidx[g] is not None:  # each culture at its untreated (else overall) mean over top
                for c, j in enumerate(self.sidx[g]):
                    mine = self.codes[g] == c
                    zero = mine & (x == 0)
                    p[j] = float(np.mean(y[zero if zero.any() else mine])) / top0
        eps = 1e-9
        return np.clip(p, self.lo + eps, self.hi - eps)

    def solve(self, p0: np.ndarray, hold: int | None = None, value: float = math.nan) -> optimize.OptimizeResult:
        """Bounded least squares from ``p0``; ``hold`` keeps parameter ``hold`` at ``value`` (profiling)."""
        free = np.array([j for j in range(len(p0)) if j != hold])
        full = np.array(p0, dtype=float)
        if hold is not None:
            full[hold] = value

        def r(q: np.ndarray) -> np.ndarray:
            full[free] = q
            return self.resid(full)

        def jac(q: np.ndarray) -> np.ndarray:
            full[free] = q
            return self.jac(full)[:, free]

        eps = 1e-9
        q0 = np.clip(full[free], self.lo[free] + eps, self.hi[free] - eps)
        res = optimize.least_squares(r, q0, jac=jac, bounds=(self.lo[free], self.hi[free]), method="trf",
                                     x_scale="jac",
                                     xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=5000)
        out = full.copy()
        out[free] = res.x
        res.full = out
        return res


def _profile_bound(model: _Model, p: np.ndarray, j: int, rss: float, crit: float, step: float, limit: float) -> float:
    """Where the profile RSS of parameter ``j`` rises by ``crit`` on the side of ``limit`` (NaN if beyond it).

    ``step`` is a first guess of the distance (the Wald half-width); the bracket doubles until the
    profile crosses; a quadratic through the optimum and the first point above ``crit`` narrows it,
    then Brent's method finds the crossing (to 1e-5 on the log scale).
    """
    hat = float(p[j])
    sign = 1.0 if limit > hat else -1.0

    def excess(c: float) -> float:
        return 2 * float(model.solve(p, j, c).cost) - rss - crit

    a, b = hat, hat + sign * min(abs(step), abs(limit - hat))
    while True:
        eb = excess(b)
        if eb > 0:
            break
        if b == limit:
            return math.nan
        a, b = b, hat + sign * min(2 * abs(b - hat), abs(limit - hat))
    guess = hat + (b - hat) * math.sqrt(crit / (eb + crit))  # profile RSS ~ quadratic in the parameter
    if min(a, b) < guess < max(a, b):
        if excess(guess) < 0:
            a = guess
        else:
            b = guess
    return float(optimize.brentq(excess, a, b, xtol=1e-5))


def _fit_curves_jointly(curves: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]], fix_top: float | None,
                        fix_bottom: float | None, share: bool, level: float = 0.95,
                        profile: bool = True) -> tuple[list[Fit], float]:
    """One least-squares fit of ``curves`` (``(x, y, culture or None)``, see :class:`_Model`).

    Returns per-curve :class:`Fit` with profile (or Wald) CIs, and the RSS.
    """
    model = _Model(curves, fix_top, fix_bottom, share)
    best = model.solve(model.start())
    p = best.full
    k = len(model.names)
    df = model.n - k
    rss = float(2 * best.cost)
    sigma = math.sqrt(rss / df)
    jac = best.jac  # columns of the free parameters = all parameters
    try:
        cov = np.linalg.inv(jac.T @ jac) * sigma ** 2
    except np.linalg.LinAlgError:
        cov = np.full((k, k), math.nan)
    q = float(stats.t.ppf(0.5 + level / 2, df))
    crit = rss * q ** 2 / df  # profile likelihood: RSS(c) - RSS <= RSS/df * F(1, df; level), F = t^2
    at_bound = [nm for j, nm in enumerate(model.names) if np.isclose(p[j], model.lo[j]) or np.isclose(p[j], model.hi[j])]
    il_all = [row[0] for row in model.idx]
    group = _Joint(cov=cov[np.ix_(il_all, il_all)]) if len(curves) > 1 else None
    fits = []
    for g, (x, _) in enumerate(model.curves):
        xpos = x[x > 0]
        f = Fit(n_points=int(x.size), n_concentrations=int(np.unique(xpos).size), min_dose=float(xpos.min()),
                max_dose=float(xpos.max()), df=df, sigma=sigma, converged=bool(best.success), group=group, index=g)
        f.log_ic50, f.hill, f.top, f.bottom = model.curve_params(p, g)
        f.scales = model.culture_scales(p, g)
        if f.scales:  # the curve of its typical culture: geometric mean of the scales
            typical = math.exp(float(np.mean(np.log(list(f.scales.values())))))
            f.top, f.bottom = typical * f.top, typical * f.bottom
        il = model.idx[g][0]
        f.se_delta = float(math.sqrt(cov[il, il])) if cov[il, il] > 0 else math.nan
        mine = [nm for nm in at_bound if nm.endswith(f"[{g}]") or "[" not in nm]
        _classify(f, model, p, il, rss, crit, q, mine, best, profile)
        fits.append(f)
    return fits, rss


def _classify(f: Fit, model: _Model, p: np.ndarray, il: int, rss: float, crit: float, q: float,
              at_bound: list[str], best: optimize.OptimizeResult, profile: bool = True) -> None:
    """Profile (or Wald) CI and estimability of one curve (see the module docstring)."""
    ic50 = math.exp(f.log_ic50)
    if f.top <= f.bottom:
        f.report, f.note = "not estimable", "fitted curve increases with dose (top <= bottom)"
    elif ic50 > f.max_dose:
        f.report = f"> {f.max_dose:g}"
        f.note = f"curve does not reach its midpoint within the tested range (fitted IC50 {ic50:.3g} > max dose)"
    elif ic50 < f.min_dose:
        f.report = f"< {f.min_dose:g}"
        f.note = f"curve is past its midpoint at the lowest dose (fitted IC50 {ic50:.3g} < min dose)"
    elif not (np.isfinite(f.se_delta) and f.se_delta > 0):
        f.report, f.note = "not estimable", "IC50 standard error not estimable (singular Jacobian)"
    else:
        step = q * f.se_delta
        lo_lim, hi_lim = math.log(f.min_dose / 10), math.log(f.max_dose * 10)
        if profile:
            lo = _profile_bound(model, p, il, rss, crit, step, lo_lim)
            hi = _profile_bound(model, p, il, rss, crit, step, hi_lim)
        else:
            lo, hi = f.log_ic50 - step, f.log_ic50 + step
            lo, hi = (lo, hi) if lo > lo_lim and hi < hi_lim else (math.nan, math.nan)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            f.report = "not estimable"
            f.note = (f"IC50 not identified by the data: its 95% CI reaches more than 10x beyond the tested range "
                      f"(fitted IC50 {ic50:.3g})")
        else:
            f.estimable = True
            f.ci_low, f.ci_high = math.exp(lo), math.exp(hi)
            f.se_log_ic50 = (hi - lo) / (2 * q)
            f.report = f"{ic50:.4g}"
            if at_bound:
                f.note = f"parameter(s) at a bound: {', '.join(at_bound)}"
    if not f.converged:
        f.note = "; ".join(x for x in (f.note, f"optimizer did not converge: {best.message}") if x)


def fit_4pl(conc: Sequence[float], response: Sequence[float], fix_top: float | None = None,
            fix_bottom: float | None = None, alpha: float = 0.05, include_zero: bool = True,
            profile: bool = True, culture: Sequence[str] | None = None) -> Fit:
    """Fit the 4PL model to one curve (see the module docstring).

    Parameters
    ----------
    conc, response
        Concentrations (>= 0) and viability fractions.
    fix_top, fix_bottom
        Fixed plateau values (e.g. 1 and 0) or ``None`` to estimate them.
    alpha
        Level of the flat-response F test.
    include_zero
        Concentration-0 (untreated) wells are points of the fit, where the model equals ``top``;
        ``False`` drops them.
    profile
        ``False``: Wald CI instead of the profile CI (a cheaper estimability check before a joint refit).
    culture
        Culture (sample) of every point, for responses normalised per culture: each culture gets
        its own multiplicative scale and ``top`` is 1 (needs ``fix_top=None``); ``None``: no scales.
    """
    x = np.asarray(conc, dtype=float)
    y = np.asarray(response, dtype=float)
    keep = x >= 0 if include_zero else x > 0
    x, y = x[keep], y[keep]
    cult = None if culture is None else np.asarray(culture, dtype=str)[keep]
    if cult is not None and fix_top is not None:
        raise ValueError("culture scales replace the top plateau: give fix_top=None")
    xpos = x[x > 0]
    k = 2 + (fix_top is None) + (fix_bottom is None)
    n_flat = 1  # parameters of the flat line: one level, or one per culture
    if cult is not None:
        n_flat = len(set(cult))
        k += n_flat - 1  # the scales replace top
    f = Fit(n_points=int(x.size), n_concentrations=int(np.unique(xpos).size))
    if xpos.size:
        f.min_dose, f.max_dose = float(xpos.min()), float(xpos.max())
    needed = k - n_flat + 1 - (1 if fix_top is None and (x == 0).any() else 0)  # untreated wells measure top
    if f.n_concentrations < needed or x.size <= k:
        f.report = "not estimable"
        f.note = f"{f.n_concentrations} distinct positive concentration(s) and {x.size} point(s) for {k} free parameters"
        return f
    # flat-response F test and range checks first (Wald); the profile search only for an estimable IC50
    top = fix_top if cult is None else 1.0
    (f,), rss = _fit_curves_jointly([(x, y, cult)], top, fix_bottom, share=False, profile=False)
    if cult is None:
        rss0 = float(((y - y.mean()) ** 2).sum())
    else:
        rss0 = float(sum(((y[cult == c] - y[cult == c].mean()) ** 2).sum() for c in dict.fromkeys(cult)))
    if rss0 <= 0 or rss <= 0:
        f.flat_p = 1.0 if rss0 <= 0 else 0.0
    else:
        f.flat_p = float(stats.f.sf(((rss0 - rss) / (k - n_flat)) / (rss / f.df), k - n_flat, f.df))
    if not (f.flat_p < alpha):
        f.estimable, f.ci_low, f.ci_high, f.se_log_ic50 = False, math.nan, math.nan, math.nan
        f.report = "not estimable"
        f.note = "; ".join(x for x in (f"no dose response (4PL vs flat line F test p = {f.flat_p:.3g})",
                                        *[n for n in f.note.split("; ") if n.startswith("optimizer")]) if x)
    elif f.estimable and profile:
        flat_p = f.flat_p
        (f,), _ = _fit_curves_jointly([(x, y, cult)], top, fix_bottom, share=False, profile=True)
        f.flat_p = flat_p
    return f


def fit_curves(viability: pd.DataFrame, fix_top: float | None = None, fix_bottom: float | None = None,
               normalisation: str = "controls",
               share_plateaus: bool = True) -> tuple[pd.DataFrame, dict[tuple[str, str, str], Fit]]:
    """Fit every (condition, drug, inhibitor) curve; returns the ``ic50.tsv`` table and the fits.

    Each curve is first fitted on its own (flat-response test, range checks). With
    ``share_plateaus`` the estimable curves of one drug are then refitted jointly with one
    ``top`` and one ``bottom`` (those not fixed) and one residual variance; ``plateau_p`` is the
    extra-sum-of-squares F test of the shared plateaus against the separate fits. With
    ``controls`` normalisation and a free top, every culture (``sample`` of a curve) gets its own
    scale and the top is 1 (module docstring); then only ``bottom`` is shared.
    """
    fits: dict[tuple[str, str, str], Fit] = {}
    data = {}
    scaled = normalisation == "controls" and fix_top is None
    top = 1.0 if scaled else fix_top  # the top of the model: the culture scales carry the untreated level
    share = share_plateaus and (top is None or fix_bottom is None)
    for key, g in viability.groupby(["condition", "drug", "inhibitor"], sort=False):
        x, y = g["concentration"].to_numpy(float), g["viability"].to_numpy(float)
        cult = g["sample"].to_numpy(str) if scaled else None
        fits[key] = fit_4pl(x, y, fix_top, fix_bottom, profile=not share, culture=cult)
        data[key] = (x[x >= 0], y[x >= 0], None if cult is None else cult[x >= 0])
    if share:
        for drug in dict.fromkeys(k[1] for k in fits):
            keys = [k for k, f in fits.items() if k[1] == drug and f.estimable]
            if len(keys) < 2:
                for k in keys:  # nothing to share with: the curve's own fit, with its profile CI
                    x, y, cult = data[k]
                    fits[k] = fit_4pl(x, y, fix_top, fix_bottom, culture=cult)
                continue
            joint, rss = _fit_curves_jointly([data[k] for k in keys], top, fix_bottom, share=True)
            sep_rss = sum(fits[k].sigma ** 2 * fits[k].df for k in keys)
            sep_df = sum(fits[k].df for k in keys)
            extra = joint[0].df - sep_df
            plateau_p = float(stats.f.sf(max(rss - sep_rss, 0.0) / extra / (sep_rss / sep_df), extra, sep_df))
            for k, f in zip(keys, joint, strict=True):
                f.flat_p, f.plateau_p, f.plateaus = fits[k].flat_p, plateau_p, f"shared by {len(keys)} curves"
                fits[k] = f
    rows = []
    for key, f in fits.items():
        lo, hi = f.ci()
        rows.append({"condition": key[0], "drug": key[1], "inhibitor": key[2], "ic50": f.ic50,
                     "ic50_ci_low": lo, "ic50_ci_high": hi, "ic50_report": f.report, "estimable": f.estimable,
                     "hill": f.hill, "top": f.top, "bottom": f.bottom, "log10_ic50": f.log_ic50 / math.log(10),
                     "se_log10_ic50": f.se_log_ic50 / math.log(10), "n_points": f.n_points,
                     "n_concentrations": f.n_concentrations, "min_dose": f.min_dose, "max_dose": f.max_dose,
                     "sigma": f.sigma, "df": f.df, "flat_p": f.flat_p, "converged": f.converged, "note": f.note,
                     "plateaus": f.plateaus, "plateau_p": f.plateau_p, "normalisation": normalisation,
                     "culture_scales": "; ".join(f"{c} {v:.4g}" for c, v in f.scales.items()),
                     "ci_method": CI_METHOD})
        logger.info("IC50 %s / %s / %s: %s (95%% CI %.4g-%.4g), hill %.3g, %d points, plateaus %s%s", *key,
                    f.report, lo, hi, f.hill, f.n_points, f.plateaus, f"; {f.note}" if f.note else "")
    return pd.DataFrame(rows, columns=IC50_COLUMNS), fits









