"""Plate tables of the viability assay: reading, validation, normalisation to untreated wells.

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
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._log import logger
from ..errors import RessigError, input_error

PLATE_COLUMNS = ("sample", "condition", "drug", "inhibitor", "concentration", "response")


NO_INHIBITOR = "none"


NORMALISATIONS = ("controls", "none")


def norm_inhibitor(s: pd.Series) -> pd.Series:
    """The inhibitor column with every spelling of "no inhibitor" (empty, none, -, NA, vehicle, ...) as :data:`NO_INHIBITOR`."""
    s = s.astype(str).str.strip()
    return s.where(~s.str.lower().isin({"", "none", "-", "na", "n/a", "no", "vehicle"}), NO_INHIBITOR)


def numeric_column(df: pd.DataFrame, col: str, path: str | Path | None, what: str) -> np.ndarray:
    """Column ``col`` as finite floats, or one input error naming the first bad cell (row and column)."""
    raw = df[col].astype(str).str.strip()
    num = pd.to_numeric(raw, errors="coerce")
    bad = num.isna() | ~np.isfinite(num.fillna(0))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        shown = raw.iat[i] or "(empty)"
        raise input_error(path, f"non-numeric {col!r} value {shown!r} at data row {i + 1}, column {col!r}",
                          f"Column {col!r} of the {what} must hold finite numbers")
    return num.to_numpy(dtype=float)


def string_columns(df: pd.DataFrame, cols: Sequence[str], path: str | Path | None, optional: Sequence[str] = ()) -> None:
    """Strip the text columns ``cols`` in place; an empty cell (outside ``optional``) is an input error naming it."""
    for col in cols:
        df[col] = df[col].astype(str).str.strip()
        if col in optional:
            continue
        empty = df[col] == ""
        if empty.any():
            i = int(np.flatnonzero(empty.to_numpy())[0])
            raise input_error(path, f"empty {col!r} at data row {i + 1}, column {col!r}", f"Fill in the {col}")


def require_columns(df: pd.DataFrame, cols: Sequence[str], path: str | Path | None, what: str, expected: str) -> None:
    """Strip the column names in place and refuse a table lacking any of ``cols``."""
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise input_error(path, f"{what} has no column(s) {', '.join(map(repr, missing))} "
                          f"(columns: {', '.join(df.columns)})", f"Expected columns: {expected}")


def validate_plate(df: pd.DataFrame, path: str | Path | None = None) -> pd.DataFrame:
    """Validate a plate table (string cells) and return it typed (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        Columns ``sample, condition, drug, inhibitor, replicate, type, concentration, response``;
        ``inhibitor`` is :data:`NO_INHIBITOR` for no inhibitor; blank rows keep their sample.
    """
    df = df.copy()
    require_columns(df, PLATE_COLUMNS, path, "plate table",
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
    string_columns(df, ("sample", "condition", "drug", "inhibitor"), path, optional=("condition", "drug", "inhibitor"))
    for col in ("condition", "drug"):  # blank wells need no condition/drug
        empty = (df[col] == "").to_numpy() & ~blank
        if empty.any():
            i = int(np.flatnonzero(empty)[0])
            raise input_error(path, f"empty {col!r} at data row {i + 1}, column {col!r}", f"Fill in the {col}")
    raw_conc = df["concentration"].astype(str).str.strip()
    df["concentration"] = raw_conc.where(~(blank & (raw_conc == "").to_numpy()), "0")  # blanks need no dose
    conc = numeric_column(df, "concentration", path, "plate table")
    neg = conc < 0
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise input_error(path, f"negative concentration {conc[i]:g} at data row {i + 1}, column 'concentration'",
                          "Concentrations must be >= 0 (linear scale, not log; 0 = untreated control)")
    response = numeric_column(df, "response", path, "plate table")
    rep = df["replicate"].astype(str).str.strip() if "replicate" in df.columns else pd.Series("", index=df.index)
    return pd.DataFrame({
        "sample": df["sample"].to_numpy(), "condition": df["condition"].to_numpy(), "drug": df["drug"].to_numpy(),
        "inhibitor": norm_inhibitor(df["inhibitor"]).to_numpy(),
        "replicate": rep.where(rep != "", "1").to_numpy(), "type": kind.to_numpy(),
        "concentration": conc, "response": response,
    })


def read_plate(path: str | Path) -> pd.DataFrame:
    """Read and validate a plate table file (:func:`validate_plate`)."""
    from ..io import read_table

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


def treatment_arms(treatment: str | Sequence[str]) -> list[str]:
    """Treatment arms as a list (one name or several, e.g. the resistant clones or sanctuary sites)."""
    return [treatment] if isinstance(treatment, str) else list(dict.fromkeys(treatment))
