"""Cohort-scoring options, constants and the result container."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import RessigError

INPUT_KINDS = ("auto", "bulk", "microarray", "h5ad", "10x")
ORIENTATIONS = ("genes-x-samples", "samples-x-genes")
COLLAPSE_RULES = ("mean", "sum", "max", "first", "maxmean", "error")
SCORE_COLUMNS = ["signature", "sample", "score", "up_score", "down_score", "dispersion",
                 "n_genes_used", "n_genes_missing", "n_genes_measured", "pvalue", "pvalue_low", "null_method",
                 "cohort_qvalue", "cohort_qvalue_low", "call", "percentile", "zscore", "reference"]
OBS_COLUMNS = SCORE_COLUMNS[2:]
#: Per-sample p-value columns (:data:`ressig.scoring.NULL_COLUMNS`; empty with ``null_draws = 0``).
NULL_COLUMNS = ["n_genes_measured", "pvalue", "pvalue_low"]
#: Cohort-level columns (:data:`ressig.stats.CALL_COLUMNS`): filled over the whole table once it
#: is complete (:mod:`.calls`), left empty in shard tables until they are gathered.
CALL_COLUMNS = ["cohort_qvalue", "cohort_qvalue_low", "call"]
#: Text columns of a score table (everything else is numeric).
TEXT_COLUMNS = ("signature", "sample", "null_method", "call", "reference")
#: Default random gene sets per sample (bulk, microarray, pseudobulk groups): p-values down to 1/1001.
DEFAULT_NULL_DRAWS = 1000  # = scoring.DEFAULT_NULL_DRAWS (not imported: keeps numba out of CLI start-up)
#: Default per cell: none (per-cell p-values on request, e.g. ``--null-draws 200``). The null costs
#: time in proportion to draws × stored values per cell × signatures (200 draws: ~3x the CPU of the
#: scores alone, docs/cohort_scores.md), which would break the bounded cost of scoring an atlas with
#: many gene sets; pseudobulk groups of an ``.h5ad`` are samples and get DEFAULT_NULL_DRAWS.
CELL_NULL_DRAWS = 0
#: Per cell when a p-value or call column is asked for (``--columns``) without ``--null-draws``:
#: p-values down to 1/201.
CELL_PVALUE_DRAWS = 200
#: Wide-layout extra columns when none are asked for and p-values are computed.
DEFAULT_WIDE_COLUMNS = ("pvalue", "pvalue_low", "call")
DEFAULT_MIN_COVERAGE = 0.5
#: Null distributions of per-sample p-values: random gene sets ``matched`` to the signature genes'
#: expression levels (frozen in the artefact, of --null-reference, else the cohort's own gene levels:
#: :mod:`ressig.scoring.nullbins`), or ``uniform`` over the measured genes (singscore). The null used is
#: recorded per signature in the ``null_method`` column.
NULL_METHODS = ("matched", "uniform")
#: Score-table layouts: ``auto`` = ``wide`` for cells of an ``.h5ad``/10x input, ``long`` otherwise.
LAYOUTS = ("auto", "long", "wide")


@dataclass
class CohortOptions:
    """How to read and score a cohort (see the module docstring)."""

    kind: str = "auto"
    orientation: str = "genes-x-samples"
    layer: str | None = None
    probe_map: str | Path | None = None
    collapse: str = "mean"
    pseudobulk: str | None = None
    chunk_size: int = 10_000
    min_coverage: float | None = None
    gene_table: str | Path | None = None
    shard: tuple[int, int] = (0, 1)
    progress: bool = True
    layout: str = "auto"
    columns: tuple[str, ...] = ()
    null_draws: int | None = None  # None: DEFAULT_NULL_DRAWS per sample, CELL_NULL_DRAWS per cell
    null_seed: int = 20261130  # = scoring.DEFAULT_NULL_SEED
    alpha: float = 0.05
    null: str = "matched"
    null_reference: str | Path | None = None
    null_levels: str | Path | None = None  # the cohort's own levels, made once by ``ressig null-levels``

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise RessigError(f"unknown input kind {self.kind!r}; use one of {', '.join(INPUT_KINDS)}")
        if self.orientation not in ORIENTATIONS:
            raise RessigError(f"unknown orientation {self.orientation!r}; use one of {', '.join(ORIENTATIONS)}")
        if self.collapse not in COLLAPSE_RULES:
            raise RessigError(f"unknown collapse rule {self.collapse!r}; use one of {', '.join(COLLAPSE_RULES)}")
        if self.chunk_size < 1:
            raise RessigError(f"chunk_size must be >= 1, got {self.chunk_size}")
        if self.min_coverage is not None and not 0 <= self.min_coverage <= 1:
            raise RessigError(f"min_coverage must be in [0, 1], got {self.min_coverage}")
        if self.layout not in LAYOUTS:
            raise RessigError(f"unknown layout {self.layout!r}; use one of {', '.join(LAYOUTS)}")
        self.columns = tuple(self.columns)
        if self.null_draws is not None and self.null_draws < 0:
            raise RessigError(f"null_draws must be >= 0 (0 = no p-values), got {self.null_draws}")
        if self.null not in NULL_METHODS:
            raise RessigError(f"unknown null {self.null!r}; use one of {', '.join(NULL_METHODS)}")
        if self.null_reference is not None and self.null == "uniform":
            raise RessigError("a null reference (--null-reference) needs the matched null, not --null uniform")
        if self.null_levels is not None and self.pseudobulk is not None:
            raise RessigError("--null-levels applies to cells and bulk samples; pseudobulk cohorts are scored in one "
                              "job (leave --null-levels out)")
        if not 0 < self.alpha < 1:
            raise RessigError(f"alpha must be between 0 and 1, got {self.alpha}")
        i, n = self.shard
        if n < 1 or not 0 <= i < n:
            raise RessigError(f"shard {i + 1}/{n} is invalid; shards are numbered 1..N")


def null_draws_for(opts: CohortOptions, cells: bool, wants_pvalues: bool = False) -> int:
    """Random gene sets per sample: ``opts.null_draws``, else the default for samples, or for cells
    (:data:`CELL_PVALUE_DRAWS` when the table holds p-values, else :data:`CELL_NULL_DRAWS`)."""
    if opts.null_draws is not None:
        return int(opts.null_draws)
    if not cells:
        return DEFAULT_NULL_DRAWS
    return CELL_PVALUE_DRAWS if wants_pvalues else CELL_NULL_DRAWS


@dataclass
class CohortScores:
    """Scores (long table), coverage report and what was read."""

    scores: pd.DataFrame
    coverage: pd.DataFrame
    n_samples: int
    kind: str
    mapping: dict[str, int] = field(default_factory=dict)
    mapping_report: pd.DataFrame | None = None
