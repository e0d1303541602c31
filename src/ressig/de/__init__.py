"""Differential expression with PyDESeq2: one model over all condition levels, many contrasts.

Modules: :mod:`.design` (contrasts, metadata, design matrix, count filter), :mod:`.rparity` (R DESeq2
numerics, public and tested against R), :mod:`.inference` (:class:`~ressig.de.inference.VectorizedInference`,
the vectorised PyDESeq2 ``Inference``), :mod:`.normfactors` (tximport normalisation factors),
:mod:`.vst` (R's ``vst()``), :mod:`.fit` (:func:`run_de`, the LRT) and :mod:`.results` (tables in and out).
"""

from .design import (
    build_metadata,
    check_contrasts,
    contrast_name,
    design_formula,
    design_matrix,
    filter_counts,
    parse_contrast,
)
from .fit import ENGINES, deseq2_r_parity, lrt, make_inference, run_de
from .results import (
    DE_COLUMNS,
    LRT_COLUMNS,
    DEResult,
    consensus_table,
    contrast_matrix,
    plot_de,
    read_de,
    write_de,
)

__all__ = [
    "DE_COLUMNS", "ENGINES", "LRT_COLUMNS", "DEResult", "build_metadata", "check_contrasts", "consensus_table",
    "contrast_matrix", "contrast_name", "deseq2_r_parity", "design_formula", "design_matrix", "filter_counts", "lrt",
    "make_inference", "parse_contrast", "plot_de", "read_de", "run_de", "write_de",
]
