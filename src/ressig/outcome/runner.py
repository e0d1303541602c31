"""``associate``: signature scores against survival and a binary response, written to one directory.

Outputs (all written together, atomically): ``survival.tsv`` (with a time and an event column),
``response.tsv`` (with a response column), ``matching.tsv`` (every score sample and clinical row,
matched or not), and the figures ``km.png``, ``forest.png``, ``response.png``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._atomic import atomic_group, save_figure, write_table
from .._log import logger
from ..errors import RessigError
from ..stats import bh_adjust
from . import clinical as cl
from .response import logistic_row
from .survival import MIN_EVENTS, cox_row

SURVIVAL_COLUMNS = ["signature", "n", "events", "covariates", "hr_per_sd", "hr_ci_low", "hr_ci_high",
                    "p_wald", "p_lrt", "concordance", "logrank_chisq", "logrank_p", "ph_p", "qvalue",
                    "n_high", "n_low", "n_incomplete", "coef", "se", "time_unit", "event_coding", "strata",
                    "reason"]
RESPONSE_COLUMNS = ["signature", "response", "positive", "n", "n_positive", "odds_ratio_per_sd", "or_ci_low",
                    "or_ci_high", "p", "auc", "auc_ci_low", "auc_ci_high", "qvalue", "n_incomplete", "reason"]


@dataclass
class OutcomeSpec:
    """What to test: clinical column names and options (see :func:`associate`)."""

    time: str | None = None
    event: str | None = None
    covariates: list[str] = field(default_factory=list)
    strata: str | None = None
    response: str | None = None
    positive: str | None = None
    sample_col: str = "sample"
    event_level: str | None = None
    time_unit: str | None = None
    min_events: int = MIN_EVENTS

    def check(self) -> None:
        if (self.time is None) != (self.event is None):
            raise RessigError("give both --time and --event (survival), or neither")
        if self.time is None and self.response is None:
            raise RessigError("nothing to test: give --time and --event, and/or --response with --positive")
        if (self.response is None) != (self.positive is None):
            raise RessigError("--response and --positive go together: name the response column and its positive level")
        if self.strata is not None and self.strata in self.covariates:
            raise RessigError(f"--strata {self.strata} is also a covariate; use it in one place")
        if self.min_events < 1:
            raise RessigError("--min-events must be at least 1")

    def columns(self) -> list[str]:
        cols = [self.time, self.event, *self.covariates, self.strata, self.response]
        return [c for c in dict.fromkeys(cols) if c is not None]


def _order(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for c in columns:
        if c not in df.columns:
            df[c] = np.nan
    return df[columns]


def _survival(scores: pd.DataFrame, clin: pd.DataFrame, spec: OutcomeSpec, cov: cl.Covariates,
              coding: str) -> tuple[pd.DataFrame, list[dict]]:
    cov_cols = [c for cols in cov.columns.values() for c in cols]
    label = ",".join(spec.covariates)
    unit = spec.time_unit or f"units of {spec.time}"
    rows, panels = [], []
    for sig in scores.columns:
        data = pd.DataFrame({"time": clin["_time"], "event": clin["_event"], "score": scores[sig]})
        for c in cov_cols:
            data[c] = cov.frame[c]
        if spec.strata is not None:
            data[spec.strata] = clin[spec.strata].where(~cl.is_missing(clin[spec.strata]))
        complete = data.notna().all(axis=1)
        if (~complete).any():
            source = {c: name for name, cols in cov.columns.items() for c in cols}
            missing = {}
            for c in data.columns:
                if data[c].isna().any():
                    missing.setdefault(source.get(c, c), int(data[c].isna().sum()))
            why = ", ".join(f"{c}: {k}" for c, k in missing.items())
            logger.info("%s: %d of %d matched patients are not complete cases for survival (missing %s)",
                        sig, int((~complete).sum()), len(data), why)
        row = cox_row(sig, data[complete], cov_cols, label, spec.strata, spec.min_events)
        row.update({"n_incomplete": int((~complete).sum()), "time_unit": unit, "event_coding": coding,
                    "strata": spec.strata or ""})
        rows.append(row)
        if np.isfinite(row.get("hr_per_sd", np.nan)):
            d = data[complete]
            panels.append({"signature": sig, "time": d["time"].to_numpy(), "event": d["event"].to_numpy(),
                           "high": (d["score"] > d["score"].median()).to_numpy(),
                           "logrank_p": row["logrank_p"], "hr_per_sd": row["hr_per_sd"]})
        logger.info("%s: %s", sig, "; ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                             for k, v in row.items() if k in ("n", "events", "hr_per_sd",
                                                                            "p_wald", "logrank_p", "reason") and v != ""))
    table = _order(rows, SURVIVAL_COLUMNS)
    table["qvalue"] = bh_adjust(table["p_wald"].to_numpy(float))
    return table, panels


def _response(scores: pd.DataFrame, clin: pd.DataFrame, spec: OutcomeSpec, other: str
              ) -> tuple[pd.DataFrame, list[dict]]:
    rows, panels = [], []
    for sig in scores.columns:
        data = pd.DataFrame({"score": scores[sig], "y": clin["_response"]})
        complete = data.notna().all(axis=1)
        if (~complete).any():
            logger.info("%s: %d of %d matched patients are not complete cases for the response (missing "
                        "response: %d, score: %d)", sig, int((~complete).sum()), len(data),
                        int(data["y"].isna().sum()), int(data["score"].isna().sum()))
        d = data[complete]
        row = logistic_row(sig, d["score"], d["y"], spec.response, spec.positive)
        row["n_incomplete"] = int((~complete).sum())
        rows.append(row)
        panels.append({"signature": sig, "score": d["score"].to_numpy(), "positive": (d["y"] > 0).to_numpy(),
                       "positive_label": spec.positive, "negative_label": other or "other",
                       "auc": row.get("auc"), "auc_ci_low": row.get("auc_ci_low"),
                       "auc_ci_high": row.get("auc_ci_high")})
    table = _order(rows, RESPONSE_COLUMNS)
    table["qvalue"] = bh_adjust(table["p"].to_numpy(float))
    return table, panels


def read_score_tables(paths: list[str | Path], signatures: list[str] | None = None) -> pd.DataFrame:
    """Samples × signatures of one or several score tables (e.g. the signature's and a gene-set
    table of the same cohort); a signature in two tables is an error, samples are the union."""
    tables = [cl.read_scores(p) for p in paths]
    seen: dict[str, str] = {}
    for path, t in zip(paths, tables, strict=True):
        for sig in t.columns:
            if sig in seen:
                raise RessigError(f"{path}: signature {sig} is also in {seen[sig]}; give each signature once")
            seen[sig] = str(path)
    table = tables[0] if len(tables) == 1 else pd.concat(tables, axis=1, join="outer")
    if signatures:
        missing = [s for s in signatures if s not in table.columns]
        if missing:
            raise RessigError(f"{', '.join(map(str, paths))}: signature(s) {', '.join(missing)} not in the score "
                              f"table(s). Choose among: {', '.join(map(str, table.columns))}")
        table = table[list(dict.fromkeys(signatures))]
    return table


def associate(scores: str | Path | list[str | Path], clinical: str | Path, out: str | Path, spec: OutcomeSpec,
              signatures: list[str] | None = None, figures: bool = True) -> dict[str, Path]:
    """Test every signature's score against survival and/or a binary response.

    Parameters
    ----------
    scores
        Score table(s) of ``ressig score`` (long bulk layout, or wide); several tables are joined by
        sample (their signatures must differ).
    clinical
        Clinical table (TSV, or CSV by suffix) with a sample column and the columns of ``spec``.
    out
        Output directory.
    spec
        Column names and options.
    signatures
        Signatures to test (default all in the table).
    figures
        Also draw the figures.

    Returns
    -------
    dict
        Output name -> path.
    """
    spec.check()
    out = Path(out)
    table = read_score_tables([scores] if isinstance(scores, (str, Path)) else list(scores), signatures)
    raw = cl.read_clinical(clinical, spec.sample_col, spec.columns())
    mapping, report = cl.match_samples(table.index, raw.index, clinical)
    raw = raw.loc[list(mapping)]
    raw.index = pd.Index([mapping[c] for c in raw.index], name="sample")
    order = [s for s in table.index if s in set(raw.index)]
    scores_m = table.loc[order]
    clin = raw.loc[order].copy()
    cov = cl.parse_covariates(clin, spec.covariates, clinical)
    written: dict[str, Path] = {}
    out.mkdir(parents=True, exist_ok=True)
    surv = resp = None
    if spec.time is not None:
        clin["_time"] = cl.parse_time(clin[spec.time], spec.time, clinical)
        clin["_event"], coding = cl.parse_event(clin[spec.event], spec.event, clinical, spec.event_level)
        surv, km_panels = _survival(scores_m, clin, spec, cov, coding)
    if spec.response is not None:
        clin["_response"], other = cl.parse_response(clin[spec.response], spec.response, spec.positive, clinical)
        resp, resp_panels = _response(scores_m, clin, spec, other)
    with atomic_group():
        written["matching"] = write_table(report, out / "matching.tsv", index=False)
        if surv is not None:
            written["survival"] = write_table(surv, out / "survival.tsv", index=False)
            if figures:
                from .figures import forest_figure, km_figure

                written["km"] = save_figure(km_figure(km_panels, str(surv["time_unit"].iloc[0])), out / "km.png")
                written["forest"] = save_figure(forest_figure(surv), out / "forest.png")
        if resp is not None:
            written["response"] = write_table(resp, out / "response.tsv", index=False)
            if figures:
                from .figures import response_figure

                written["response_plot"] = save_figure(response_figure(resp_panels), out / "response.png")
    return written
