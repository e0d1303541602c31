"""Single-sample, rank-based gene-signature scores (singscore-style), their random-gene-set null, ssGSEA.

Modules: :mod:`.types` (:class:`GeneSignature`, columns, defaults), :mod:`.kernels` (ranks, numba),
:mod:`.singscore` (:func:`score_matrix`), :mod:`.dispersion` (the scaled MAD of each signature part's
ranks, :func:`part_mads`), :mod:`.null` (p-values against random gene sets, the matched null, the plot
band), :mod:`.celldraws` (the per-cell null of sparse blocks, all signatures in one walk of each cell),
:mod:`.nullbins` (where the matched null's gene levels come from: artefact, reference
or the cohort's own levels; the recorded ``null_method``) and :mod:`.ssgsea` (cohort-dependent ssGSEA).
BH and cohort-level calls live in :mod:`ressig.stats`.
"""

from .dispersion import part_mads
from .kernels import rank_dense
from .null import LevelBins, matched_null_draws, null_band, null_draws
from .singscore import reference_levels, score_frame, score_matrix
from .ssgsea import score_ssgsea
from .types import (
    DEFAULT_LEVEL_BINS,
    DEFAULT_NULL_DRAWS,
    DEFAULT_NULL_SEED,
    NULL_COLUMNS,
    SCORE_COLUMNS,
    GeneSignature,
    signatures_from_genesets,
)

__all__ = [
    "DEFAULT_LEVEL_BINS", "DEFAULT_NULL_DRAWS", "DEFAULT_NULL_SEED", "NULL_COLUMNS", "SCORE_COLUMNS", "GeneSignature",
    "LevelBins", "matched_null_draws", "null_band", "part_mads", "null_draws", "rank_dense", "reference_levels", "score_frame",
    "score_matrix", "score_ssgsea", "signatures_from_genesets",
]
