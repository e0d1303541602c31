"""Signature scores against patient outcome: survival (Cox, Kaplan–Meier, log-rank) and a binary
response (logistic regression, AUC), with the statistics of lifelines and statsmodels.

``associate`` reads a score table and a clinical table, joins them by sample id and writes
``survival.tsv``, ``response.tsv``, ``matching.tsv`` and figures (see ``ressig associate --help``).
"""

from __future__ import annotations

from .clinical import match_samples, parse_covariates, parse_event, read_clinical, read_scores
from .response import auc_delong, logistic_row
from .runner import (
    RESPONSE_COLUMNS,
    SURVIVAL_COLUMNS,
    OutcomeSpec,
    associate,
    read_score_tables,
)
from .survival import MIN_EVENTS, cox_row, harrell_c, logrank

__all__ = [
    "MIN_EVENTS", "RESPONSE_COLUMNS", "SURVIVAL_COLUMNS", "OutcomeSpec", "associate", "auc_delong",
    "cox_row", "harrell_c", "logistic_row", "logrank", "match_samples", "parse_covariates", "parse_event",
    "read_clinical", "read_score_tables", "read_scores",
]
