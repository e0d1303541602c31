"""The dye-efflux assay: retention ratios with and without a P-gp inhibitor and their ratio between conditions.

Dye efflux
----------
A **dye table**: ``sample``, ``condition``, ``inhibitor``, ``value`` (MFI of rhodamine 123,
calcein, ...; > 0) and optional ``replicate``; or FCS files (``sample``, ``condition``,
``inhibitor``, ``file``, optional ``replicate``) summarised by the median of one channel in a
gate with the readers of :mod:`ressig.protein`. Per well ``log2(value)``; per sample and
inhibitor the mean over replicate wells; every sample must be measured with and without the
inhibitor. The per-sample log2 **retention ratio** ``d = log2 MFI(+inhibitor) − log2
MFI(−inhibitor)`` is summarised per condition (mean, t-based CI) and compared treatment vs
reference with the protein linear model of :func:`ressig.protein.protein_effect`
(``d ~ condition``, OLS), i.e. the ratio of retention ratios.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import input_error
from .plate import (
    NO_INHIBITOR,
    norm_inhibitor,
    numeric_column,
    require_columns,
    string_columns,
    treatment_arms,
)

DYE_COLUMNS = ("sample", "condition", "inhibitor", "value")


DYE_RESULT_COLUMNS = [
    "comparison", "condition", "inhibitor", "retention_ratio", "ci_low", "ci_high", "log2_ratio", "se", "df",
    "p", "n_samples", "note",
]


def validate_dye(df: pd.DataFrame, path: str | Path | None = None) -> pd.DataFrame:
    """Validate a dye table (string cells): ``sample, condition, inhibitor, value[, replicate]``; values > 0."""
    df = df.copy()
    require_columns(df, DYE_COLUMNS, path, "dye table", "sample, condition, inhibitor, value, optional replicate")
    if df.empty:
        raise input_error(path, "dye table has no data rows", "Add one row per well")
    string_columns(df, ("sample", "condition", "inhibitor"), path, optional=("inhibitor",))
    value = numeric_column(df, "value", path, "dye table")
    if (value <= 0).any():
        i = int(np.flatnonzero(value <= 0)[0])
        raise input_error(path, f"non-positive dye signal {value[i]:g} at data row {i + 1}, column 'value'",
                          "Dye MFIs must be > 0 (linear scale, background already subtracted if at all)")
    rep = df["replicate"].astype(str).str.strip() if "replicate" in df.columns else pd.Series("", index=df.index)
    out = pd.DataFrame({"sample": df["sample"].to_numpy(), "condition": df["condition"].to_numpy(),
                        "inhibitor": norm_inhibitor(df["inhibitor"]).to_numpy(),
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
    from ..io import read_table

    return validate_dye(read_table(path, "dye table"), path)


def read_dye_fcs(path: str | Path, channel: str, gate: dict | None = None, min_events: int = 100) -> pd.DataFrame:
    """Dye table from FCS files: a table ``sample, condition, inhibitor, file[, replicate]``; value = gated median."""
    from ..io import read_table
    from ..protein import fcs_median, read_fcs

    df = read_table(path, "dye FCS table")
    require_columns(df, ("sample", "condition", "inhibitor", "file"), path, "dye FCS table",
             "sample, condition, inhibitor, file, optional replicate")
    string_columns(df, ("file",), path)
    df["value"] = [repr(fcs_median(read_fcs(f), channel, gate, min_events)[0]) for f in df["file"]]
    return validate_dye(df.drop(columns="file"), path)


def dye_retention(dye: pd.DataFrame, reference: str = "parental", treatment: str | Sequence[str] = "resistant",
                  alpha: float = 0.05, source: str | Path | None = None) -> pd.DataFrame:
    """Retention ratios per condition and each treatment arm's ratio of ratios against the reference
    (module docstring)."""
    from ..protein import protein_effect

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
        for arm in treatment_arms(treatment):
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
