"""Figures: every function returns a pyplot-free :class:`matplotlib.figure.Figure` (no global backend switch;
:func:`ressig._atomic.save_figure` writes it atomically, metadata stripped).

Modules: :mod:`.base` (figures, colours, labels), :mod:`.qc`, :mod:`.de`, :mod:`.concordance`,
:mod:`.doseresponse`, :mod:`.gsea` (the efflux step) and :mod:`.cohort` (score distributions, embeddings;
import it as ``ressig.pl.cohort``, it reads score tables and ``.h5ad`` files).
"""

from .base import CONDITION_COLOURS, KEY_GENES, condition_colours, new_figure
from .concordance import CALL_COLOURS, concordance_lfc, concordance_samples
from .de import contrast_overview, ma_plot, volcano
from .doseresponse import dose_response_curves
from .gsea import plot_enrichment, plot_nes, plot_scores
from .qc import correlation_heatmap, library_sizes, pca_plot

__all__ = [
    "CALL_COLOURS", "CONDITION_COLOURS", "KEY_GENES", "concordance_lfc", "concordance_samples", "condition_colours",
    "contrast_overview", "correlation_heatmap", "dose_response_curves", "library_sizes", "ma_plot", "new_figure",
    "pca_plot", "plot_enrichment", "plot_nes", "plot_scores", "volcano",
]
