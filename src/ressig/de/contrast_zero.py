"""R DESeq2's rule for contrasts between two levels whose counts are all zero.

R's ``results()`` (``cleanContrast``: ``contrastAllZeroCharacter`` / ``contrastAllZeroNumeric``)
sets, for every gene that is not all-zero overall but has only zero counts in all samples of the
two contrasted levels, ``log2FoldChange = 0``, ``stat = 0`` and ``pvalue = 1`` (``lfcSE`` is
kept). This happens before Cook's filtering and independent filtering, so those genes take part
in the multiple-testing adjustment with ``p = 1``. Without the rule the Wald test of such a gene
reports whatever the fit's coefficients are after IRLS walked them towards minus infinity (the
two coefficients need not cancel), e.g. a log2 fold change of 0.42 between two all-zero tissues.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def contrast_all_zero(counts: np.ndarray, levels: np.ndarray, treatment: str, reference: str) -> np.ndarray:
    """Genes (columns of ``counts``, samples x genes) with reads, but none in ``treatment`` or ``reference``.

    ``levels`` holds each sample's condition level.
    """
    counts = np.asarray(counts, dtype=float)
    in_contrast = np.isin(np.asarray(levels, dtype=str), [treatment, reference])
    return (counts[in_contrast].sum(axis=0) == 0) & (counts.sum(axis=0) > 0)


def zero_wald_statistics(stats, mask: np.ndarray) -> int:
    """Set ``stat = 0`` and ``pvalue = 1`` of ``mask`` genes in a PyDESeq2 ``DeseqStats`` after its Wald test.

    Call between ``run_wald_test()`` and ``summary()`` (which then filters and adjusts these
    p-values like R). Returns the number of genes changed.
    """
    mask = pd.Series(np.asarray(mask, dtype=bool), index=stats.p_values.index)
    stats.statistics = stats.statistics.where(~mask, 0.0)
    stats.p_values = stats.p_values.where(~mask, 1.0)
    return int(mask.sum())
