"""Clinical tables and score tables: read, validate and join them by sample id.

The join is explicit: every score sample and every clinical row is accounted for in a matching
table (``matched``, ``matched_normalised`` or ``unmatched``), so no patient is dropped silently.
Codings are decided once and stated: the event column's mapping (``0/1``, ``1/2`` as R's
``Surv``, ``TRUE/FALSE`` or two named levels) and the dummy coding of categorical covariates
(reference = first level in sorted order, as R's factors).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._log import logger
from ..errors import RessigError, input_error
from ..io import read_table

#: Cell texts read as "not recorded" (compared case-insensitively after stripping).
NA_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a", ".", "?", "missing", "unknown"})
#: Columns of a long score table besides ``score`` that are not signatures (wide-table suffixes).
SCORE_COLUMNS = ("up_score", "down_score", "dispersion", "n_genes_used", "n_genes_missing",
                 "n_genes_measured", "pvalue", "pvalue_low", "cohort_qvalue", "cohort_qvalue_low",
                 "call", "percentile", "zscore", "reference")
_TRUE = frozenset({"true", "t", "yes", "y"})
_FALSE = frozenset({"false", "f", "no", "n"})


def is_missing(values: pd.Series) -> pd.Series:
    """Boolean mask of cells that are empty or an NA token (``NA``, ``N/A``, ``#N/A``, ...)."""
    text = values.astype("string").fillna("").str.strip().str.lower()
    return text.isin(NA_TOKENS)


def read_scores(path: str | Path, signatures: list[str] | None = None) -> pd.DataFrame:
    """Read a score table as samples × signatures (float).

    Parameters
    ----------
    path
        A long table (``signature, sample, score, ...``: bulk and pseudobulk cohorts) or a wide
        one (``sample`` then one column per signature, ``<signature>_<column>`` extras ignored);
        TSV/CSV, or parquet.
    signatures
        Keep only these signatures (all by default); an unknown name is an error.
    """
    path = Path(path)
    if path.suffix in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(path).astype(str)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise input_error(path, f"cannot read the score table ({type(exc).__name__}: {exc})") from None
    else:
        df = read_table(path, "score table")
    if "sample" not in df.columns:
        raise input_error(path, "score table has no 'sample' column",
                          "Give the table written by 'ressig score' (long or wide layout)")
    if {"signature", "score"} <= set(df.columns):
        dup = df.duplicated(["signature", "sample"])
        if dup.any():
            row = int(np.flatnonzero(dup.to_numpy())[0]) + 2
            raise input_error(path, f"score table row {row}: signature {df['signature'].iloc[row - 2]!r}, "
                              f"sample {df['sample'].iloc[row - 2]!r} appears twice", "One row per signature × sample")
        order = list(dict.fromkeys(df["signature"]))
        wide = df.pivot(index="sample", columns="signature", values="score")
        wide = wide.loc[list(dict.fromkeys(df["sample"])), order]
    else:
        extras = {f"{c}" for c in df.columns for s in SCORE_COLUMNS if c.endswith(f"_{s}")}
        cols = [c for c in df.columns if c != "sample" and c not in extras]
        if df["sample"].duplicated().any():
            dups = sorted(set(df.loc[df["sample"].duplicated(), "sample"]))[:3]
            raise input_error(path, f"score table: sample(s) {', '.join(dups)} appear more than once",
                              "One row per sample in a wide table")
        wide = df.set_index("sample")[cols]
    wide.index = wide.index.astype(str).str.strip()
    wide.columns = wide.columns.astype(str)
    if signatures:
        missing = [s for s in signatures if s not in wide.columns]
        if missing:
            raise input_error(path, f"signature(s) {', '.join(missing)} not in the score table",
                              f"Choose among: {', '.join(map(str, wide.columns))}")
        wide = wide[list(dict.fromkeys(signatures))]
    out = pd.DataFrame(index=wide.index)
    for sig in wide.columns:
        col = wide[sig]
        miss = is_missing(col)
        num = pd.to_numeric(col.where(~miss), errors="coerce")
        bad = num.isna() & ~miss
        if bad.any():
            sample = bad.index[bad.to_numpy()][0]
            raise input_error(path, f"signature {sig}, sample {sample}: score {col[sample]!r} is not a number",
                              "Scores must be numbers (empty or NA for not scored)")
        out[sig] = num.astype(float)
    if out.shape[1] == 0:
        raise input_error(path, "score table has no signature columns", "Give a long or wide 'ressig score' table")
    return out


def read_clinical(path: str | Path, sample_col: str, columns: list[str]) -> pd.DataFrame:
    """Read a clinical table (TSV, or CSV by suffix) with string cells, indexed by sample id.

    Every column in ``columns`` must exist; sample ids must be unique and non-empty.
    """
    path = Path(path)
    df = read_table(path, "clinical table")
    needed = [sample_col, *columns]
    missing = [c for c in dict.fromkeys(needed) if c not in df.columns]
    if missing:
        raise input_error(path, f"clinical table has no column(s) {', '.join(repr(c) for c in missing)}",
                          f"Columns present: {', '.join(df.columns)}; name the right ones in the options/config")
    ids = df[sample_col].str.strip()
    empty = is_missing(ids)
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0]) + 2
        raise input_error(path, f"row {row}: column {sample_col!r} is empty", "Every clinical row needs a sample id")
    dup = ids.duplicated(keep=False)
    if dup.any():
        first = ids[dup].iloc[0]
        rows = [str(i + 2) for i in np.flatnonzero((ids == first).to_numpy())]
        raise input_error(path, f"sample {first!r} appears in rows {', '.join(rows)} of column {sample_col!r}",
                          "Keep one row per patient")
    df = df.set_index(ids.rename("sample"))
    return df[list(dict.fromkeys(columns))]


def _normalise_id(s: str) -> str:
    """Case- and separator-insensitive key; R's ``make.names`` ``X`` before a leading digit is dropped."""
    key = re.sub(r"[-._ ]", ".", s.strip().upper())
    return key[1:] if re.match(r"^X[0-9]", key) else key


def match_samples(score_ids: pd.Index, clinical_ids: pd.Index, clinical_path: str | Path | None = None
                  ) -> tuple[dict[str, str], pd.DataFrame]:
    """Match score samples to clinical rows: exactly, then (for ids left over) case- and separator-
    insensitively (``TCGA-AB-2803`` = ``TCGA.AB.2803``; R's ``X01005`` = ``01005``) when that match
    is one-to-one.

    Returns
    -------
    (mapping, report)
        clinical id -> score id, and a table ``sample, in_scores, in_clinical, status`` with one row
        per id of either side (``status``: ``matched``, ``matched_normalised: <other id>``,
        ``unmatched``).
    """
    scores = list(map(str, score_ids))
    clin = list(map(str, clinical_ids))
    exact = set(scores) & set(clin)
    mapping = {c: c for c in clin if c in exact}
    rest_s = [s for s in scores if s not in exact]
    rest_c = [c for c in clin if c not in exact]
    norm_s: dict[str, list[str]] = {}
    for s in rest_s:
        norm_s.setdefault(_normalise_id(s), []).append(s)
    norm_c: dict[str, list[str]] = {}
    for c in rest_c:
        norm_c.setdefault(_normalise_id(c), []).append(c)
    for key, cs in norm_c.items():
        ss = norm_s.get(key, [])
        if len(cs) == 1 and len(ss) == 1:
            mapping[cs[0]] = ss[0]
    if not mapping:
        raise input_error(clinical_path, f"no sample in common between the clinical table ({len(clin)} rows, e.g. "
                          f"{', '.join(clin[:3])}) and the score table ({len(scores)} samples, e.g. "
                          f"{', '.join(scores[:3])})", "Check the sample column (--sample-col) and the ids")
    by_score = {v: k for k, v in mapping.items()}
    rows = []
    for s in scores:
        c = by_score.get(s)
        status = "unmatched" if c is None else ("matched" if c == s else f"matched_normalised: {c}")
        rows.append((s, True, c is not None, status))
    for c in clin:
        if c not in mapping:
            rows.append((c, False, True, "unmatched"))
        elif mapping[c] != c:
            rows.append((c, False, True, f"matched_normalised: {mapping[c]}"))
    report = pd.DataFrame(rows, columns=["sample", "in_scores", "in_clinical", "status"])
    n_norm = sum(1 for k, v in mapping.items() if k != v)
    un_s = [s for s in scores if s not in by_score]
    un_c = [c for c in clin if c not in mapping]
    logger.info("matched %d patients (%d exactly, %d case/separator-insensitively); %d score sample(s) without "
                "a clinical row%s; %d clinical row(s) without scores%s", len(mapping), len(mapping) - n_norm,
                n_norm, len(un_s), f" ({', '.join(un_s[:10])}{', ...' if len(un_s) > 10 else ''})" if un_s else "",
                len(un_c), f" ({', '.join(un_c[:10])}{', ...' if len(un_c) > 10 else ''})" if un_c else "")
    return mapping, report


def parse_time(values: pd.Series, column: str, path: str | Path | None = None) -> pd.Series:
    """Numeric follow-up times (NaN where missing); non-numbers and negative times are errors."""
    miss = is_missing(values)
    num = pd.to_numeric(values.where(~miss).str.strip(), errors="coerce")
    bad = num.isna() & ~miss
    if bad.any():
        sid = bad.index[bad.to_numpy()][0]
        raise input_error(path, f"sample {sid}: time column {column!r} holds {values[sid]!r}, not a number",
                          "Times must be numbers (empty or NA when unknown)")
    neg = num < 0
    if neg.any():
        sid = neg.index[neg.to_numpy()][0]
        raise input_error(path, f"sample {sid}: negative time {values[sid].strip()} in column {column!r}",
                          "Follow-up times must be >= 0; check the dates the time was computed from")
    return num.astype(float)


def _two_levels(levels: list[str], what: str, column: str, path, chosen: str | None) -> tuple[str, str]:
    if chosen is not None:
        if chosen not in levels:
            raise input_error(path, f"{what} level {chosen!r} is not in column {column!r} (levels: "
                              f"{', '.join(levels)})", "Give one of the levels present")
        other = [lv for lv in levels if lv != chosen]
        return chosen, (other[0] if other else "")
    return levels[1], levels[0]


def parse_event(values: pd.Series, column: str, path: str | Path | None = None,
                event_level: str | None = None) -> tuple[pd.Series, str]:
    """Event indicator (1 = event, 0 = censored, NaN = missing) and the mapping used, in words.

    Accepted: ``0/1``; ``1/2`` (2 = event, as R's ``Surv``); ``TRUE/FALSE`` (also ``T/F``,
    ``yes/no``); any two named levels — the event is ``event_level`` if given, else the second
    level in sorted order (``alive < dead``, ``censored < relapse``, ``no < yes``).
    """
    miss = is_missing(values)
    text = values.where(~miss).str.strip()
    levels = sorted(set(text.dropna()))
    if not levels:
        raise input_error(path, f"event column {column!r} has no values", "Fill in the event indicator")
    if len(levels) > 2:
        raise input_error(path, f"event column {column!r} has {len(levels)} levels ({', '.join(levels[:6])}), "
                          "expected 0/1, TRUE/FALSE or two named levels", "Recode it to two levels")
    num = pd.to_numeric(pd.Series(levels), errors="coerce")
    if num.notna().all():
        vals = set(num.astype(float))
        if vals <= {0.0, 1.0}:
            ev = {lv: float(v) for lv, v in zip(levels, num, strict=True)}
            mapping = "1=event, 0=censored"
        elif vals <= {1.0, 2.0}:
            ev = {lv: float(v) - 1.0 for lv, v in zip(levels, num, strict=True)}
            mapping = "2=event, 1=censored (R Surv coding)"
        else:
            raise input_error(path, f"event column {column!r} holds numbers {', '.join(levels)}, expected 0/1 "
                              "(or 1/2)", "Code events as 1 and censored follow-up as 0")
    elif {lv.lower() for lv in levels} <= (_TRUE | _FALSE) and not (
            {lv.lower() for lv in levels} <= _TRUE or {lv.lower() for lv in levels} <= _FALSE):
        ev = {lv: 1.0 if lv.lower() in _TRUE else 0.0 for lv in levels}
        mapping = ", ".join(f"{lv}={'event' if v else 'censored'}" for lv, v in sorted(ev.items(), key=lambda x: -x[1]))
    else:
        if len(levels) == 1 and event_level is None:
            raise input_error(path, f"event column {column!r} has the single level {levels[0]!r}",
                              "Say which level is the event (--event-level) or recode it to 0/1")
        if len(levels) == 1:
            levels = sorted({levels[0], event_level})
        event, other = _two_levels(levels, "event", column, path, event_level)
        ev = {event: 1.0, other: 0.0}
        mapping = f"{event}=event, {other}=censored" + ("" if event_level else " (second level in sorted order)")
    out = text.map(ev).astype(float)
    logger.info("event column %r: %s", column, mapping)
    return out, mapping


def parse_response(values: pd.Series, column: str, positive: str, path: str | Path | None = None
                   ) -> tuple[pd.Series, str]:
    """Binary response (1 = ``positive``, 0 = the other level, NaN = missing) and the other level."""
    miss = is_missing(values)
    text = values.where(~miss).str.strip()
    levels = sorted(set(text.dropna()))
    if positive not in levels:
        raise input_error(path, f"positive level {positive!r} is not in response column {column!r} (levels: "
                          f"{', '.join(levels) or 'none'})", "Give --positive as one of the levels present")
    if len(levels) > 2:
        raise input_error(path, f"response column {column!r} has {len(levels)} levels ({', '.join(levels[:6])}), "
                          "expected two", "Recode it to two levels (or set the others to NA)")
    other = next((lv for lv in levels if lv != positive), "")
    logger.info("response column %r: %s=1 (positive), %s=0", column, positive, other or "(none)")
    return (text == positive).astype(float).where(text.notna()), other


@dataclass
class Covariates:
    """Covariates turned into numeric model columns.

    ``columns`` maps each covariate to its model columns (a numeric covariate to itself; a
    categorical one to ``<name><level>`` dummies for every level but the first in sorted order).
    """

    frame: pd.DataFrame
    columns: dict[str, list[str]] = field(default_factory=dict)
    coding: list[str] = field(default_factory=list)


def parse_covariates(table: pd.DataFrame, names: list[str], path: str | Path | None = None) -> Covariates:
    """Numeric covariates as floats; others dummy-coded against their first sorted level (R's factors).

    Missing cells stay NaN in every model column of that covariate (the patient is not a complete case).
    """
    frame = pd.DataFrame(index=table.index)
    cov = Covariates(frame=frame)
    for name in names:
        col = table[name]
        miss = is_missing(col)
        text = col.where(~miss).str.strip()
        num = pd.to_numeric(text, errors="coerce")
        if (num.notna() | text.isna()).all():
            if num.notna().sum() == 0:
                raise input_error(path, f"covariate {name!r} has no values", "Drop it or fill it in")
            frame[name] = num.astype(float)
            cov.columns[name] = [name]
            cov.coding.append(f"{name}: numeric")
            continue
        levels = sorted(set(text.dropna()))
        if len(levels) < 2:
            raise input_error(path, f"covariate {name!r} has a single level ({levels[0]})", "Drop it from the covariates")
        cols = []
        for lv in levels[1:]:
            cname = f"{name}{lv}"
            frame[cname] = (text == lv).astype(float).where(text.notna())
            cols.append(cname)
        cov.columns[name] = cols
        cov.coding.append(f"{name}: {levels[0]} (reference) vs {', '.join(levels[1:])}")
    for line in cov.coding:
        logger.info("covariate %s", line)
    return cov


def require(condition: bool, message: str) -> None:
    """Raise a one-line :class:`RessigError` unless ``condition``."""
    if not condition:
        raise RessigError(message)
