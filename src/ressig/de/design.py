"""The DE design: contrasts, the sample metadata with the reference level first, the design matrix, the count filter.

The design is ``~ covariate_1 + ... + condition``. The condition is a categorical with the
**reference level first** (``parental``) and every other level of the sheet after it (sorted), so
levels named in no contrast still inform the size factors and dispersions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import RessigError


def contrast_name(treatment: str, reference: str) -> str:
    """Name of a contrast as used in output file names."""
    return f"{treatment}_vs_{reference}"


def parse_contrast(text: str) -> tuple[str, str]:
    """``"TREATMENT:REFERENCE"`` -> ``(treatment, reference)``.

    Raises
    ------
    RessigError
        Not exactly one ``:``, or an empty side.
    """
    parts = text.split(":")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise RessigError(f"contrast {text!r} is not TREATMENT:REFERENCE (two condition levels separated by "
                          "one ':'); e.g. --contrast resistant:parental")
    return parts[0].strip(), parts[1].strip()


def check_contrasts(contrasts: Sequence[tuple[str, str]], levels: Sequence[str], condition: str,
                    where: str = "") -> None:
    """Refuse contrasts naming an absent level, a level against itself, or repeated contrasts."""
    seen = set()
    for treatment, reference in contrasts:
        label = f"{treatment}:{reference}"
        if treatment == reference:
            raise RessigError(f"{where}contrast {label!r} compares level {treatment!r} with itself; name two "
                              f"different levels of {condition!r}")
        for level in (treatment, reference):
            if level not in levels:
                raise RessigError(f"{where}contrast {label!r} names level {level!r}, which does not occur in "
                                  f"column {condition!r} (levels present: {', '.join(levels)}); fix the contrast "
                                  "or the sample sheet")
        if (treatment, reference) in seen:
            raise RessigError(f"{where}contrast {label!r} is given twice; list each contrast once")
        seen.add((treatment, reference))


def build_metadata(
    samples: pd.DataFrame,
    condition: str,
    reference: str,
    treatment: str,
    covariates: Sequence[str] = (),
    continuous: Sequence[str] = (),
    source: str | None = None,
) -> pd.DataFrame:
    """Build the DE metadata (condition categorical with reference first) and check the design.

    Every level of the condition column enters the model: ``reference`` first, then the other
    levels sorted (``treatment`` among them). Levels named in no contrast still share the size
    factors and dispersions.

    Raises
    ------
    RessigError
        Missing columns, reference/treatment absent, a level with fewer than two samples, a covariate with
        missing values, non-numeric continuous covariates, or a design that is not full rank
        (e.g. a batch confounded with condition).
    """
    where = f"{source}: " if source else ""
    for col in [condition, *covariates]:
        if col not in samples.columns:
            raise RessigError(f"{where}sample sheet has no column {col!r} named in the config "
                              f"(columns: {', '.join(samples.columns)})")
    values = samples[condition].astype(str)
    present = sorted(set(values))
    for level, role in ((reference, "reference"), (treatment, "treatment")):
        if level not in present:
            raise RessigError(f"{where}{role} level {level!r} does not occur in column {condition!r} (levels present: "
                              f"{', '.join(present)}); set design.{role} to a level of the sheet")
    for level in [reference, treatment, *present]:
        n = int((values == level).sum())
        if n < 2:
            role = {reference: "reference level", treatment: "treatment level"}.get(level, "level")
            raise RessigError(f"{where}{role} {level!r} of {condition!r} has {n} sample(s); DE needs at "
                              "least 2 replicates per condition level (drop the sample or add replicates)")
    meta = pd.DataFrame(index=samples.index)
    for col in covariates:
        vals = samples[col]
        if (vals.astype(str).str.strip() == "").any():
            bad = vals.index[vals.astype(str).str.strip() == ""][0]
            raise RessigError(f"{where}covariate {col!r} is empty for sample {bad!r}; fill it in or drop the covariate")
        if col in continuous:
            num = pd.to_numeric(vals, errors="coerce")
            if num.isna().any():
                bad = vals.index[num.isna()][0]
                raise RessigError(f"{where}continuous covariate {col!r} has non-numeric value {vals[bad]!r} "
                                  f"for sample {bad!r}")
            meta[col] = num.astype(float)
        else:
            if vals.nunique() < 2:
                raise RessigError(f"{where}covariate {col!r} has a single level; remove it from design.covariates")
            meta[col] = pd.Categorical(vals.astype(str), categories=sorted(vals.astype(str).unique()))
    meta[condition] = pd.Categorical(values, categories=[reference, *[lv for lv in present if lv != reference]])
    _check_full_rank(meta, condition, covariates, where)
    return meta


def design_formula(condition: str, covariates: Sequence[str] = ()) -> str:
    """``~ cov1 + cov2 + condition`` (condition last: it is the tested coefficient)."""
    return "~" + " + ".join([*covariates, condition])


def design_matrix(meta: pd.DataFrame, condition: str, covariates: Sequence[str] = ()) -> np.ndarray:
    """Model matrix of ``~ covariates + condition`` (treatment coding; condition coefficient last).

    ``meta`` holds categoricals (first category = reference level) and numeric continuous
    covariates, as made by :func:`build_metadata`.
    """
    from formulaic import model_matrix

    return np.asarray(model_matrix(design_formula(condition, covariates), meta, na_action="ignore"), dtype=float)


def _full_rank(mm: np.ndarray) -> bool:
    return bool(np.linalg.matrix_rank(mm) == mm.shape[1])


def _check_full_rank(meta: pd.DataFrame, condition: str, covariates: Sequence[str], where: str) -> None:
    mm = design_matrix(meta, condition, covariates)
    if not _full_rank(mm):
        confounded = [c for c in covariates if not _full_rank(design_matrix(meta, condition, [c]))]
        which = f"covariate(s) {', '.join(confounded)} confounded with {condition!r}" if confounded else \
            "covariates are linearly dependent"
        raise RessigError(f"{where}design {design_formula(condition, covariates)} is not full rank: {which}; "
                          "remove the covariate or add samples that break the confounding")
    if mm.shape[0] <= mm.shape[1]:
        raise RessigError(f"{where}design {design_formula(condition, covariates)} has {mm.shape[1]} coefficients "
                          f"but only {mm.shape[0]} samples: no residual degrees of freedom")


def filter_counts(counts: pd.DataFrame, min_count: int, min_samples: int) -> pd.Series:
    """Boolean mask of genes with at least ``min_count`` reads in at least ``min_samples`` samples."""
    return (counts >= min_count).sum(axis=1) >= min_samples
