"""Functional evidence: viability dose–response (IC50 shift, reversal by a P-gp inhibitor) and dye efflux.

Dose–response input
-------------------
A tidy **plate table** (TSV/CSV): ``sample``, ``condition``, ``drug``, ``inhibitor``,
``concentration``, ``response``, optional ``replicate`` and optional ``type`` (``treated``,
the default, or ``blank`` for medium-only wells). ``inhibitor`` is empty, ``none`` or ``-``
for no inhibitor. ``concentration`` is in any one unit (≥ 0); rows at concentration 0 are
the **untreated** (vehicle, or inhibitor-alone) controls.

Normalisation (stated in ``ic50.tsv``):

* ``controls`` (default; raw signal such as luminescence): per (sample, drug, inhibitor)
  ``response = (signal − mean blank) / (mean untreated − mean blank)``, where the blank mean
  is over all ``blank`` wells of the table (0 without any) and the untreated wells are that
  sample's concentration-0 wells *with the same inhibitor* (so inhibitor toxicity is divided
  out). A group without untreated wells is an error. Raw signals must be ≥ 0.
* ``none``: ``response`` already is a viability fraction (1 = untreated); it may dip slightly
  below 0 by noise.

Concentration-0 wells anchor the normalisation and are also points of the fit (there the model
equals ``top``), so untreated wells inform the top plateau (with ``controls``: the culture scales
below).

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

Shifts
------
**Fold resistance** = IC50(treatment) / IC50(reference) per (drug, inhibitor); **reversal** =
IC50(no inhibitor) / IC50(inhibitor) per (condition, drug, inhibitor). Both are computed on the
log scale from the profile-implied SEs: within one joint fit ``SE² = SE₁² + SE₂² − 2 cov₁₂`` (the
Wald covariance of the two log IC50s) with the fit's ``n − p`` df; from two separate fits
``SE² = SE₁² + SE₂²`` with Welch–Satterthwaite df; t-based 95% CI and two-sided p-value for "fold = 1".

Dye efflux
----------
A **dye table**: ``sample``, ``condition``, ``inhibitor``, ``value`` (MFI of rhodamine 123,
calcein, ...; > 0) and optional ``replicate``; or FCS files (``sample``, ``condition``,
``inhibitor``, ``file``, optional ``replicate``) summarised by the median of one channel in a
gate with the readers of :mod:`ressig.protein`. Per well ``log2(value)``; per sample and
inhibitor the mean over replicate wells; every sample must be measured with and without the
inhibitor. The per-sample log2 **retention ratio** ``d = log2 MFI(+inhibitor) − log2
MFI(−inhibitor)`` is summarised per condition (mean, t-based CI) and compared treatment vs
reference with the protein linear model of :func:`ressig.concordance.protein_effect`
(``d ~ condition``, OLS), i.e. the ratio of retention ratios.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ._log import logger
from .errors import RessigError, input_error

PLATE_COLUMNS = ("sample", "condition", "drug", "inhibitor", "concentration", "response")
DYE_COLUMNS = ("sample", "condition", "inhibitor", "value")
NO_INHIBITOR = "none"
NORMALISATIONS = ("controls", "none")
IC50_COLUMNS = [
    "condition", "drug", "inhibitor", "ic50", "ic50_ci_low", "ic50_ci_high", "ic50_report", "estimable",
    "hill", "top", "bottom", "log10_ic50", "se_log10_ic50", "n_points", "n_concentrations", "min_dose",
    "max_dose", "sigma", "df", "flat_p", "converged", "note", "plateaus", "plateau_p", "normalisation",
    "culture_scales", "ci_method",
]
SHIFT_COLUMNS = [
    "effect", "drug", "condition", "inhibitor", "numerator", "denominator", "fold", "ci_low", "ci_high",
    "fold_report", "log2_fold", "se_log2_fold", "df", "p", "estimable", "note",
]
CI_METHOD = "profile likelihood on log IC50, F(1, n - p)"


def _norm_inhibitor(s: pd.Series) -> pd.Series:
    s = s.astype(str).str.strip()
    return s.where(~s.str.lower().isin({"", "none", "-", "na", "n/a", "no", "vehicle"}), NO_INHIBITOR)


def _numbers(df: pd.DataFrame, col: str, path: str | Path | None, what: str) -> np.ndarray:
    raw = df[col].astype(str).str.strip()
    num = pd.to_numeric(raw, errors="coerce")
    bad = num.isna() | ~np.isfinite(num.fillna(0))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        shown = raw.iat[i] or "(empty)"
        raise input_error(path, f"non-numeric {col!r} value {shown!r} at data row {i + 1}, column {col!r}",
                          f"Column {col!r} of the {what} must hold finite numbers")
    return num.to_numpy(dtype=float)


def _strings(df: pd.DataFrame, cols: Sequence[str], path: str | Path | None, optional: Sequence[str] = ()) -> None:
    for col in cols:
        df[col] = df[col].astype(str).str.strip()
        if col in optional:
            continue
        empty = df[col] == ""
        if empty.any():
            i = int(np.flatnonzero(empty.to_numpy())[0])
            raise input_error(path, f"empty {col!r} at data row {i + 1}, column {col!r}", f"Fill in the {col}")


def _require(df: pd.DataFrame, cols: Sequence[str], path: str | Path | None, what: str, expected: str) -> None:
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise input_error(path, f"{what} has no column(s) {', '.join(map(repr, missing))} "
                          f"(columns: {', '.join(df.columns)})", f"Expected columns: {expected}")


# --------------------------------------------------------------------------- plate input


def validate_plate(df: pd.DataFrame, path: str | Path | None = None) -> pd.DataFrame:
    """Validate a plate table (string cells) and return it typed (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        Columns ``sample, condition, drug, inhibitor, replicate, type, concentration, response``;
        ``inhibitor`` is :data:`NO_INHIBITOR` for no inhibitor; blank rows keep their sample.
    """
    df = df.copy()
    _require(df, PLATE_COLUMNS, path, "plate table",
             "sample, condition, drug, inhibitor, concentration, response, optional replicate, type")
    if df.empty:
        raise input_error(path, "plate table has no data rows", "Add one row per well")
    kind = df["type"].astype(str).str.strip().str.lower() if "type" in df.columns else pd.Series("", index=df.index)
    kind = kind.where(kind != "", "treated")
    bad = ~kind.isin({"treated", "blank"})
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise input_error(path, f"unknown type {kind.iat[i]!r} at data row {i + 1}, column 'type'",
                          "Use 'treated' (or leave empty) or 'blank' (medium-only well)")
    blank = (kind == "blank").to_numpy()
    _strings(df, ("sample", "condition", "drug", "inhibitor"), path, optional=("condition", "drug", "inhibitor"))
    for col in ("condition", "drug"):  # blank wells need no condition/drug
        empty = (df[col] == "").to_numpy() & ~blank
        if empty.any():
            i = int(np.flatnonzero(empty)[0])
            raise input_error(path, f"empty {col!r} at data row {i + 1}, column {col!r}", f"Fill in the {col}")
    raw_conc = df["concentration"].astype(str).str.strip()
    df["concentration"] = raw_conc.where(~(blank & (raw_conc == "").to_numpy()), "0")  # blanks need no dose
    conc = _numbers(df, "concentration", path, "plate table")
    neg = conc < 0
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise input_error(path, f"negative concentration {conc[i]:g} at data row {i + 1}, column 'concentration'",
                          "Concentrations must be >= 0 (linear scale, not log; 0 = untreated control)")
    response = _numbers(df, "response", path, "plate table")
    rep = df["replicate"].astype(str).str.strip() if "replicate" in df.columns else pd.Series("", index=df.index)
    return pd.DataFrame({
        "sample": df["sample"].to_numpy(), "condition": df["condition"].to_numpy(), "drug": df["drug"].to_numpy(),
        "inhibitor": _norm_inhibitor(df["inhibitor"]).to_numpy(),
        "replicate": rep.where(rep != "", "1").to_numpy(), "type": kind.to_numpy(),
        "concentration": conc, "response": response,
    })


def read_plate(path: str | Path) -> pd.DataFrame:
    """Read and validate a plate table file (:func:`validate_plate`)."""
    from .io import read_table

    plate = validate_plate(read_table(path, "plate table"), path)
    logger.info("%s: %d wells, conditions %s, drugs %s, inhibitors %s", path, len(plate),
                ", ".join(dict.fromkeys(plate.loc[plate["type"] == "treated", "condition"])),
                ", ".join(dict.fromkeys(plate.loc[plate["type"] == "treated", "drug"])),
                ", ".join(dict.fromkeys(plate["inhibitor"])))
    return plate


def normalise(plate: pd.DataFrame, method: str = "controls", source: str | Path | None = None) -> pd.DataFrame:
    """Viability fractions of the treated wells (see the module docstring); adds column ``viability``."""
    if method not in NORMALISATIONS:
        raise RessigError(f"normalisation must be one of {', '.join(NORMALISATIONS)}, not {method!r}")
    treated = plate[plate["type"] == "treated"].copy()
    if method == "none":
        treated["viability"] = treated["response"]
        return treated.reset_index(drop=True)
    neg = plate["response"] < 0
    if neg.any():
        i = int(np.flatnonzero(neg.to_numpy())[0])
        raise input_error(source, f"negative raw signal {plate['response'].iat[i]:g} at data row {i + 1}, "
                          "column 'response'",
                          "Raw signals must be >= 0; for already normalised fractions use normalisation 'none'")
    blanks = plate.loc[plate["type"] == "blank", "response"]
    blank = float(blanks.mean()) if len(blanks) else 0.0
    keys = ["sample", "drug", "inhibitor"]
    untreated = treated[treated["concentration"] == 0].groupby(keys, sort=False)["response"].mean()
    out = []
    for key, g in treated.groupby(keys, sort=False):
        if key not in untreated.index:
            raise input_error(source, f"no untreated (concentration 0) wells for sample {key[0]!r}, drug {key[1]!r}, "
                              f"inhibitor {key[2]!r}",
                              "Add vehicle wells (concentration 0, same inhibitor) or use normalisation 'none' "
                              "for responses that already are viability fractions")
        span = float(untreated[key]) - blank
        if span <= 0:
            raise input_error(source, f"untreated wells of sample {key[0]!r}, drug {key[1]!r}, inhibitor {key[2]!r} "
                              f"are not above the blank ({untreated[key]:g} <= {blank:g})",
                              "Check the blank and untreated wells")
        g = g.copy()
        g["viability"] = (g["response"] - blank) / span
        out.append(g)
    logger.info("normalised to untreated wells per sample/drug/inhibitor; blank %.6g from %d well(s)",
                blank, len(blanks))
    return pd.concat(out).sort_index().reset_index(drop=True)


# --------------------------------------------------------------------------- 4PL fit


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

# --------------------------------------------------------------------------- shifts


def _ratio(effect: str, drug: str, condition: str, inhibitor: str, num: tuple[str, Fit], den: tuple[str, Fit],
           level: float = 0.95) -> dict:
    (nname, a), (dname, b) = num, den
    row = {"effect": effect, "drug": drug, "condition": condition, "inhibitor": inhibitor, "numerator": nname,
           "denominator": dname, "fold": math.nan, "ci_low": math.nan, "ci_high": math.nan, "fold_report": "",
           "log2_fold": math.nan, "se_log2_fold": math.nan, "df": math.nan, "p": math.nan, "estimable": False,
           "note": ""}
    if a.estimable and b.estimable:
        d = a.log_ic50 - b.log_ic50
        va, vb = a.se_log_ic50 ** 2, b.se_log_ic50 ** 2
        if a.group is not None and a.group is b.group:  # one joint fit: its covariance and df
            se = math.sqrt(max(va + vb - 2 * float(a.group.cov[a.index, b.index]), 0.0))
            df = float(a.df)
        else:
            se = math.sqrt(va + vb)
            df = (va + vb) ** 2 / (va ** 2 / a.df + vb ** 2 / b.df)
        q = float(stats.t.ppf(0.5 + level / 2, df))
        row.update(fold=math.exp(d), ci_low=math.exp(d - q * se), ci_high=math.exp(d + q * se),
                   log2_fold=d / math.log(2), se_log2_fold=se / math.log(2), df=df,
                   p=float(2 * stats.t.sf(abs(d) / se, df)), estimable=True, fold_report=f"{math.exp(d):.4g}")
        return row
    # a bound on the ratio when one IC50 is censored by the dose range and the other is estimable
    if b.estimable and a.report.startswith(">"):
        row["fold_report"] = f"> {a.max_dose / b.ic50:.4g}"
    elif b.estimable and a.report.startswith("<"):
        row["fold_report"] = f"< {a.min_dose / b.ic50:.4g}"
    elif a.estimable and b.report.startswith(">"):
        row["fold_report"] = f"< {a.ic50 / b.max_dose:.4g}"
    elif a.estimable and b.report.startswith("<"):
        row["fold_report"] = f"> {a.ic50 / b.min_dose:.4g}"
    else:
        row["fold_report"] = "not estimable"
    why = [f"{n} IC50 {f.report}" for n, f in ((nname, a), (dname, b)) if not f.estimable]
    row["note"] = "not estimable: " + "; ".join(why)
    return row


def _arms(treatment: str | Sequence[str]) -> list[str]:
    """Treatment arms as a list (one name or several, e.g. the resistant clones or sanctuary sites)."""
    return [treatment] if isinstance(treatment, str) else list(dict.fromkeys(treatment))


def shifts(fits: dict[tuple[str, str, str], Fit], reference: str = "parental",
           treatment: str | Sequence[str] = "resistant") -> pd.DataFrame:
    """Fold resistance (each treatment arm / reference, per drug and inhibitor) and reversal (no
    inhibitor / inhibitor, per condition)."""
    rows = []
    drugs = list(dict.fromkeys(k[1] for k in fits))
    for drug in drugs:
        inhibitors = list(dict.fromkeys(k[2] for k in fits if k[1] == drug))
        inhibitors.sort(key=lambda s: s != NO_INHIBITOR)
        for arm in _arms(treatment):
            for inh in inhibitors:
                t, r = fits.get((arm, drug, inh)), fits.get((reference, drug, inh))
                if t is not None and r is not None:
                    rows.append(_ratio("fold_resistance", drug, f"{arm} / {reference}", inh, (arm, t), (reference, r)))
        conditions = list(dict.fromkeys(k[0] for k in fits if k[1] == drug))
        for cond in conditions:
            base = fits.get((cond, drug, NO_INHIBITOR))
            for inh in inhibitors:
                if inh == NO_INHIBITOR or base is None or (cond, drug, inh) not in fits:
                    continue
                rows.append(_ratio("reversal", drug, cond, inh, (NO_INHIBITOR, base),
                                   (f"+ {inh}", fits[(cond, drug, inh)])))
    return pd.DataFrame(rows, columns=SHIFT_COLUMNS)


# --------------------------------------------------------------------------- dye efflux


DYE_RESULT_COLUMNS = [
    "comparison", "condition", "inhibitor", "retention_ratio", "ci_low", "ci_high", "log2_ratio", "se", "df",
    "p", "n_samples", "note",
]


def validate_dye(df: pd.DataFrame, path: str | Path | None = None) -> pd.DataFrame:
    """Validate a dye table (string cells): ``sample, condition, inhibitor, value[, replicate]``; values > 0."""
    df = df.copy()
    _require(df, DYE_COLUMNS, path, "dye table", "sample, condition, inhibitor, value, optional replicate")
    if df.empty:
        raise input_error(path, "dye table has no data rows", "Add one row per well")
    _strings(df, ("sample", "condition", "inhibitor"), path, optional=("inhibitor",))
    value = _numbers(df, "value", path, "dye table")
    if (value <= 0).any():
        i = int(np.flatnonzero(value <= 0)[0])
        raise input_error(path, f"non-positive dye signal {value[i]:g} at data row {i + 1}, column 'value'",
                          "Dye MFIs must be > 0 (linear scale, background already subtracted if at all)")
    rep = df["replicate"].astype(str).str.strip() if "replicate" in df.columns else pd.Series("", index=df.index)
    out = pd.DataFrame({"sample": df["sample"].to_numpy(), "condition": df["condition"].to_numpy(),
                        "inhibitor": _norm_inhibitor(df["inhibitor"]).to_numpy(),
                        "replicate": rep.where(rep != "", "1").to_numpy(), "value": value})
    cond = out.groupby("sample")["condition"].nunique()
    if (cond > 1).any():
        s = cond.index[cond > 1][0]
        raise input_error(path, f"sample {s!r} has more than one condition, column 'condition'",
                          "A sample belongs to one condition")
    dup = out.duplicated(["sample", "inhibitor", "replicate"])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise input_error(path, f"duplicated sample/inhibitor/replicate at data row {i + 1}, column 'replicate'",
                          "Give replicate wells distinct 'replicate' ids")
    return out


def read_dye(path: str | Path) -> pd.DataFrame:
    """Read and validate a dye table file (:func:`validate_dye`)."""
    from .io import read_table

    return validate_dye(read_table(path, "dye table"), path)


def read_dye_fcs(path: str | Path, channel: str, gate: dict | None = None, min_events: int = 100) -> pd.DataFrame:
    """Dye table from FCS files: a table ``sample, condition, inhibitor, file[, replicate]``; value = gated median."""
    from .io import read_table
    from .protein import fcs_median, read_fcs

    df = read_table(path, "dye FCS table")
    _require(df, ("sample", "condition", "inhibitor", "file"), path, "dye FCS table",
             "sample, condition, inhibitor, file, optional replicate")
    _strings(df, ("file",), path)
    df["value"] = [repr(fcs_median(read_fcs(f), channel, gate, min_events)[0]) for f in df["file"]]
    return validate_dye(df.drop(columns="file"), path)


def dye_retention(dye: pd.DataFrame, reference: str = "parental", treatment: str | Sequence[str] = "resistant",
                  alpha: float = 0.05, source: str | Path | None = None) -> pd.DataFrame:
    """Retention ratios per condition and each treatment arm's ratio of ratios against the reference
    (module docstring)."""
    from .concordance import protein_effect

    d = dye.assign(log2=np.log2(dye["value"]))
    per = d.groupby(["sample", "condition", "inhibitor"], sort=False)["log2"].mean().reset_index()
    rows = []
    for inh in [i for i in dict.fromkeys(per["inhibitor"]) if i != NO_INHIBITOR]:
        wide = per[per["inhibitor"].isin([inh, NO_INHIBITOR])].pivot(index="sample", columns="inhibitor",
                                                                         values="log2")
        if NO_INHIBITOR not in wide.columns:
            raise input_error(source, "no wells without inhibitor, column 'inhibitor'",
                              "Measure every sample with and without the inhibitor (inhibitor 'none')")
        missing = wide.index[wide.isna().any(axis=1)]
        if len(missing):
            raise input_error(source, f"sample {missing[0]!r} is not measured both with and without {inh!r}, "
                              "column 'inhibitor'", "Measure every sample with and without the inhibitor")
        ratio = (wide[inh] - wide[NO_INHIBITOR]).rename("d")
        sheet = per.drop_duplicates("sample").set_index("sample").loc[ratio.index, ["condition"]]
        for cond in dict.fromkeys(sheet["condition"]):
            v = ratio[sheet["condition"] == cond].to_numpy(dtype=float)
            n = v.size
            row = {"comparison": "retention ratio (+ inhibitor / - inhibitor)", "condition": cond, "inhibitor": inh,
                   "n_samples": n, "note": ""}
            m = float(v.mean())
            if n >= 2 and v.std(ddof=1) > 0:
                se = float(v.std(ddof=1) / math.sqrt(n))
                q = float(stats.t.ppf(1 - alpha / 2, n - 1))
                row.update(log2_ratio=m, se=se, df=n - 1, ci_low=2 ** (m - q * se), ci_high=2 ** (m + q * se),
                           p=float(2 * stats.t.sf(abs(m) / se, n - 1)))
            else:
                row.update(log2_ratio=m, se=math.nan, df=math.nan, ci_low=math.nan, ci_high=math.nan, p=math.nan,
                           note="fewer than 2 samples or zero variance: no CI")
            row["retention_ratio"] = 2 ** m
            rows.append(row)
        for arm in _arms(treatment):
            if not {reference, arm} <= set(sheet["condition"]):
                continue
            keep = sheet["condition"].isin([reference, arm])
            e = protein_effect(ratio[keep], sheet[keep], "condition", reference, arm, alpha=alpha)
            rows.append({"comparison": "ratio of retention ratios (linear model)",
                         "condition": f"{arm} / {reference}", "inhibitor": inh,
                         "retention_ratio": 2 ** e.log2fc, "ci_low": 2 ** e.ci_low, "ci_high": 2 ** e.ci_high,
                         "log2_ratio": e.log2fc, "se": e.se, "df": e.df, "p": e.p,
                         "n_samples": e.n_reference + e.n_treatment, "note": e.note})
    if not rows:
        raise input_error(source, "dye table has no inhibitor-treated wells, column 'inhibitor'",
                          "Add wells with the P-gp inhibitor (e.g. zosuquidar)")
    return pd.DataFrame(rows, columns=DYE_RESULT_COLUMNS)


# --------------------------------------------------------------------------- file-level driver


def run_dose_response(
    plate_path: str | Path,
    outdir: str | Path,
    normalisation: str = "controls",
    fix_top: float | None = None,
    fix_bottom: float | None = None,
    share_plateaus: bool = True,
    reference: str = "parental",
    treatment: str | Sequence[str] = "resistant",
    dye_path: str | Path | None = None,
    dye_fcs_path: str | Path | None = None,
    dye_channel: str | None = None,
    gate: dict | None = None,
    min_events: int = 100,
) -> list[Path]:
    """Read a plate (and optional dye assay), fit, and write every output (nothing is written on error).

    Outputs in ``outdir``: ``ic50.tsv``, ``shift.tsv``, ``viability.tsv`` (normalised wells),
    ``curves.png`` and, with a dye assay, ``dye.tsv``. ``treatment``: one arm or several (fold
    resistance and dye ratios for each against ``reference``); the reference and the first arm
    must be conditions of the plate, further arms absent from it are skipped (logged).
    """
    from . import plots
    from ._atomic import save_figure, write_table

    plate = read_plate(plate_path)
    via = normalise(plate, normalisation, plate_path)
    conds = set(via["condition"])
    arms = _arms(treatment)
    for level in (reference, arms[0]):
        if level not in conds:
            raise input_error(plate_path, f"condition {level!r} not in the plate table (conditions: "
                              f"{', '.join(sorted(conds))}), column 'condition'",
                              "Use the reference/treatment level names of the design")
    for arm in arms[1:]:
        if arm not in conds:
            logger.info("%s: treatment arm %r is not on the plate: no fold resistance for it", plate_path, arm)
    treatment = [a for a in arms if a in conds]
    ic50, fits = fit_curves(via, fix_top, fix_bottom, normalisation, share_plateaus)
    shift = shifts(fits, reference, treatment)
    dye = None
    if dye_path is not None and dye_fcs_path is not None:
        raise RessigError("give at most one dye input: a dye table or a dye FCS table")
    if dye_path is not None:
        dye = dye_retention(read_dye(dye_path), reference, treatment, source=dye_path)
    elif dye_fcs_path is not None:
        if not dye_channel:
            raise RessigError("a dye FCS table needs the dye channel ($PnN or $PnS)")
        dye = dye_retention(read_dye_fcs(dye_fcs_path, dye_channel, gate, min_events), reference, treatment,
                            source=dye_fcs_path)
    fig = plots.dose_response_curves(via, fits, four_pl)
    outdir = Path(outdir)
    paths = [write_table(ic50, outdir / "ic50.tsv", index=False),
             write_table(shift, outdir / "shift.tsv", index=False),
             write_table(via, outdir / "viability.tsv", index=False)]
    if dye is not None:
        paths.append(write_table(dye, outdir / "dye.tsv", index=False))
    paths.append(save_figure(fig, outdir / "curves.png"))
    for _, r in shift.iterrows():
        logger.info("%s %s %s %s: %s (95%% CI %.4g-%.4g)", r["effect"], r["drug"], r["condition"], r["inhibitor"],
                    r["fold_report"], r["ci_low"], r["ci_high"])
    return paths



# --------------------------------------------------------------------------- evidence per mechanism


EVIDENCE_COLUMNS = ["mechanism", "level", "evidence", "measure", "estimate", "ci_low", "ci_high", "p", "call",
                    "supports", "detail"]


def _ev(mechanism: str, level: str, evidence: str, measure: str, estimate: float = math.nan,
        ci: tuple[float, float] = (math.nan, math.nan), p: float = math.nan, call: str = "", supports: str = "no",
        detail: str = "") -> dict:
    return {"mechanism": mechanism, "level": level, "evidence": evidence, "measure": measure, "estimate": estimate,
            "ci_low": ci[0], "ci_high": ci[1], "p": p, "call": call, "supports": supports, "detail": detail}


def _mrna_row(mechanism: str, de: pd.DataFrame, gene: str, direction: str, alpha: float) -> dict:
    from .concordance import resolve_gene

    try:
        g = resolve_gene(gene, gene, de.index)
    except RessigError:
        return _ev(mechanism, "mRNA", f"{gene} mRNA", "log2FC", call="missing", supports="unknown",
                   detail=f"{gene} has no row in the DE table")
    r = de.loc[g]
    lfc, se, padj = float(r["log2FoldChange"]), float(r["lfcSE"]), float(r["padj"])
    q = float(stats.norm.ppf(1 - alpha / 2))
    sig = np.isfinite(padj) and padj < alpha
    call = ("up" if lfc > 0 else "down") if sig else "not significant"
    return _ev(mechanism, "mRNA", f"{g} mRNA", "log2FC (Wald CI, padj)", lfc, (lfc - q * se, lfc + q * se), padj,
               call, "yes" if call == direction else "no", f"baseMean {float(r['baseMean']):.4g}")


def _protein_row(mechanism: str, conc: pd.DataFrame | None, marker: str, direction: str) -> dict:
    if conc is None or marker not in set(conc["marker"]):
        return _ev(mechanism, "protein", f"{marker} protein", "log2FC", call="missing", supports="unknown",
                   detail="no protein measurement (concordance step not run or marker absent)")
    r = conc.set_index("marker").loc[marker]
    state = str(r["protein_state"])
    return _ev(mechanism, "protein", f"{marker} protein", "log2FC (linear model CI, p)",
               float(r["protein_log2fc"]), (float(r["protein_ci_low"]), float(r["protein_ci_high"])),
               float(r["protein_p"]), state, "yes" if state == direction else ("unknown" if state in
                                                                             ("untested", "unclear") else "no"),
               f"concordance call: {r['call']}")


def _other_arms(shift: pd.DataFrame | None, treatment: str) -> set[str]:
    """Treatment arms of a multi-arm plate other than ``treatment`` (numerators of fold resistance)."""
    if shift is None or shift.empty:
        return set()
    return {_arm_of(c) for c in shift.loc[shift["effect"] == "fold_resistance", "condition"]} - {treatment}


def _arm_of(condition: str) -> str:
    """The arm a shift/dye row is about: ``A`` of ``A / reference``, or the condition itself."""
    return str(condition).split(" / ")[0]


def _shift_rows(shift: pd.DataFrame | None, treatment: str, alpha: float, others: set[str]) -> list[dict]:
    rows = []
    if shift is None or shift.empty:
        return [_ev("efflux", "function", "dose-response", "IC50 ratio", call="missing", supports="unknown",
                    detail="no dose-response plate")]
    for _, r in shift.iterrows():
        if _arm_of(r["condition"]) in others:  # another arm's lines belong to that arm's evidence table
            continue
        est = bool(str(r["estimable"]).lower() == "true")
        fold, p = float(r["fold"]), float(r["p"])
        if r["effect"] == "fold_resistance":
            name, measure = f"fold resistance to {r['drug']} ({r['condition']}, inhibitor {r['inhibitor']})", \
                "IC50 ratio"
            shown = est and p < alpha and fold > 1
            call = "resistant" if shown else ("not estimable" if not est else "not shown")
            supports = "context"
        else:
            name = f"reversal of {r['drug']} by {r['inhibitor']} in {r['condition']}"
            measure = "IC50 ratio (no inhibitor / inhibitor)"
            shown = est and p < alpha and fold > 1
            call = "reversed" if shown else ("not estimable" if not est else "not shown")
            supports = ("yes" if shown else ("unknown" if not est else "no")) if r["condition"] == treatment \
                else "control"
        rows.append(_ev("efflux", "function", name, measure, fold, (float(r["ci_low"]), float(r["ci_high"])), p,
                        call, supports, f"fold {r['fold_report']}" + (f"; {r['note']}" if str(r["note"]) else "")))
    return rows


def _dye_rows(dye: pd.DataFrame | None, alpha: float, others: set[str]) -> list[dict]:
    if dye is None:
        return []
    rows = []
    for _, r in dye.iterrows():
        if _arm_of(r["condition"]) in others:
            continue
        cmp_row = r["comparison"].startswith("ratio of retention ratios")
        ratio, p = float(r["retention_ratio"]), float(r["p"])
        shown = np.isfinite(p) and p < alpha and ratio > 1
        rows.append(_ev("efflux", "function", f"dye retention with {r['inhibitor']} ({r['condition']})",
                        r["comparison"], ratio, (float(r["ci_low"]), float(r["ci_high"])), p,
                        ("more inhibitor-sensitive efflux" if shown else "not shown") if cmp_row else
                        ("inhibitor increases retention" if shown else "not shown"),
                        ("yes" if shown else "no") if cmp_row else "context",
                        f"{int(r['n_samples'])} samples" + (f"; {r['note']}" if str(r["note"]) else "")))
    return rows


def evidence_table(de: pd.DataFrame, concordance: pd.DataFrame | None = None, shift: pd.DataFrame | None = None,
                   dye: pd.DataFrame | None = None, treatment: str = "resistant", alpha: float = 0.05,
                   efflux_gene: str = "ABCB1", efflux_marker: str = "P-gp", antigen_gene: str = "IL3RA",
                   antigen_marker: str = "CD123") -> pd.DataFrame:
    """One row per line of evidence, grouped by mechanism, plus one ``summary`` row per mechanism.

    Efflux: transporter mRNA (DE), protein (concordance), function (reversal of the IC50 by the
    inhibitor in treatment cells, and the dye-retention ratio of ratios). ``supports`` is
    ``yes``/``no``/``unknown`` for the lines that test the mechanism, ``context``/``control``
    for the others. Antigen loss: target protein (tests the loss), target mRNA (context:
    transcriptional vs post-transcriptional) and their concordance call. With a multi-arm plate
    (several resistant clones or sites in ``shift``), only ``treatment``'s own lines are kept.
    """
    others = _other_arms(shift, treatment)  # other arms' lines belong to their own evidence tables
    rows = [_mrna_row("efflux", de, efflux_gene, "up", alpha), _protein_row("efflux", concordance, efflux_marker, "up"),
            *_shift_rows(shift, treatment, alpha, others), *_dye_rows(dye, alpha, others)]
    lines = {"mRNA": [], "protein": [], "function": []}
    for r in rows:
        if r["supports"] in ("yes", "no", "unknown"):
            lines[r["level"]].append(r["supports"])
    shown = [lv for lv, s in lines.items() if "yes" in s]
    against = [lv for lv, s in lines.items() if s and "yes" not in s and "no" in s]
    summary = (f"supported at {', '.join(shown)} level" if shown else "not supported") + \
        (f"; not shown at {', '.join(against)} level" if against else "")
    rows.append(_ev("efflux", "summary", "efflux (P-gp) mechanism", "lines of evidence", call=summary,
                    supports="yes" if shown else "no", detail=f"{len(shown)} of 3 levels support"))
    ant = [_mrna_row("antigen loss", de, antigen_gene, "down", alpha),
           _protein_row("antigen loss", concordance, antigen_marker, "down")]
    # the target's mRNA tells transcriptional from post-transcriptional loss; it does not test the loss itself
    ant[0]["supports"] = "context"
    if concordance is not None and antigen_marker in set(concordance["marker"]):
        c = concordance.set_index("marker").loc[antigen_marker]
        ant.append(_ev("antigen loss", "summary", f"{antigen_marker} vs {c['gene']} concordance", "call",
                       call=str(c["call"]), supports="yes" if str(c["call"]).endswith("loss") else "no",
                       detail=str(c["reason"])))
    else:
        ant.append(_ev("antigen loss", "summary", f"{antigen_marker} vs {antigen_gene} concordance", "call",
                       call="missing", supports="unknown", detail="no concordance table"))
    return pd.DataFrame(rows + ant, columns=EVIDENCE_COLUMNS)


def run_evidence(de_path: str | Path, out: str | Path, concordance_path: str | Path | None = None,
                 shift_path: str | Path | None = None, dye_path: str | Path | None = None, **kwargs) -> Path:
    """Read the DE table, concordance table, ``shift.tsv`` and ``dye.tsv`` and write the evidence table."""
    from ._atomic import write_table
    from .de import read_de
    from .io import read_table

    def num(path: str | Path | None, what: str) -> pd.DataFrame | None:
        if path is None:
            return None
        df = read_table(path, what)
        for col in df.columns:
            conv = pd.to_numeric(df[col].replace("", "nan"), errors="coerce")
            if conv.notna().sum() == (df[col] != "").sum() and col not in ("note", "reason", "fold_report"):
                df[col] = conv
        return df

    table = evidence_table(read_de(de_path), num(concordance_path, "concordance table"), num(shift_path, "shift table"),
                           num(dye_path, "dye result table"), **kwargs)
    for _, r in table[table["level"] == "summary"].iterrows():
        logger.info("evidence %s: %s", r["mechanism"], r["call"])
    return write_table(table, out, index=False)
