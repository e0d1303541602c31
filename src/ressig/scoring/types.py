"""Scoring types and constants: the gene signature, the score table columns, the null defaults."""

from __future__ import annotations

from dataclasses import dataclass

#: Output columns of :func:`score_matrix`.
SCORE_COLUMNS = ["signature", "sample", "score", "up_score", "down_score", "dispersion",
                 "n_genes_used", "n_genes_missing"]


#: Scale factor making the MAD a consistent estimator of the SD for normal data (R's ``mad``).
MAD_SCALE = 1.4826


#: Target number of matrix cells ranked at once (bounds memory to ~ 8 arrays of this size).
BLOCK_CELLS = 2_000_000


#: Columns added by :func:`score_matrix` when ``null_draws > 0``.
NULL_COLUMNS = ["n_genes_measured", "pvalue", "pvalue_low"]


#: Default number of random gene sets per null distribution (p-values resolve down to 1/1001).
DEFAULT_NULL_DRAWS = 1000


#: Default seed of the random gene sets (with the sizes, it fixes every draw).
DEFAULT_NULL_SEED = 20261130


#: Default number of expression-level bins of the matched null (:class:`LevelBins`).
DEFAULT_LEVEL_BINS = 10


@dataclass(frozen=True)
class GeneSignature:
    """A gene signature: genes expected up (and optionally down) in the phenotype.

    Attributes
    ----------
    name
        Signature name (unique within one scoring call).
    up
        Genes expected high. May be empty only when ``down`` is not.
    down
        Genes expected low (optional).
    """

    name: str
    up: tuple[str, ...]
    down: tuple[str, ...] = ()


def signatures_from_genesets(sets) -> list[GeneSignature]:
    """Up-only signatures from gene sets (``{name: GeneSet}`` or an iterable of them)."""
    values = list(sets.values()) if hasattr(sets, "values") else list(sets)
    return [GeneSignature(name=gs.name, up=tuple(gs.genes)) for gs in values]
