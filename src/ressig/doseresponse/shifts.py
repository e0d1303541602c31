"""Fold resistance and reversal from fitted IC50s, and the file-level dose-response driver.

Shifts
------
**Fold resistance** = IC50(treatment) / IC50(reference) per (drug, inhibitor); **reversal** =
IC50(no inhibitor) / IC50(inhibitor) per (condition, drug, inhibitor). Both are computed on the
log scale from the profile-implied SEs: within one joint fit ``SE² = SE₁² + SE₂² − 2 cov₁₂`` (the
Wald covariance of the two log IC50s) with the fit's ``n − p`` df; from two separate fits
``SE² = SE₁² + SE₂²`` with Welch–Satterthwaite df; t-based 95% CI and two-sided p-value for "fold = 1".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from scipy import stats

from .._log import logger
from ..errors import RessigError, input_error
from .dye import dye_retention, read_dye, read_dye_fcs
from .fourpl import Fit, fit_curves, four_pl
from .plate import NO_INHIBITOR, normalise, read_plate, treatment_arms

SHIFT_COLUMNS = [
    "effect", "drug", "condition", "inhibitor", "numerator", "denominator", "fold", "ci_low", "ci_high",
    "fold_report", "log2_fold", "se_log2_fold", "df", "p", "estimable", "note",
]


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


def shifts(fits: dict[tuple[str, str, str], Fit], reference: str = "parental",
           treatment: str | Sequence[str] = "resistant") -> pd.DataFrame:
    """Fold resistance (each treatment arm / reference, per drug and inhibitor) and reversal (no
    inhibitor / inhibitor, per condition)."""
    rows = []
    drugs = list(dict.fromkeys(k[1] for k in fits))
    for drug in drugs:
        inhibitors = list(dict.fromkeys(k[2] for k in fits if k[1] == drug))
        inhibitors.sort(key=lambda s: s != NO_INHIBITOR)
        for arm in treatment_arms(treatment):
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
    from .._atomic import save_figure, write_table
    from ..pl.doseresponse import dose_response_curves

    plate = read_plate(plate_path)
    via = normalise(plate, normalisation, plate_path)
    conds = set(via["condition"])
    arms = treatment_arms(treatment)
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
    fig = dose_response_curves(via, fits, four_pl)
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
