"""QC figures: library sizes, PCA, sample correlation heatmap."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .base import condition_colours, new_figure


def library_sizes(qc: pd.DataFrame, condition: str = "condition") -> Figure:
    """Bar chart of library sizes (millions of reads) coloured by condition."""
    levels = list(dict.fromkeys(qc[condition]))
    col = condition_colours(levels)
    fig, ax = new_figure(figsize=(max(4, 0.6 * len(qc) + 2), 3.5))
    ax.bar(qc.index, qc["library_size"] / 1e6, color=[col[c] for c in qc[condition]])
    ax.set_ylabel("library size (M reads)")
    ax.tick_params(axis="x", rotation=60)
    for lv in levels:
        ax.bar([], [], color=col[lv], label=lv)
    ax.legend(frameon=False)
    ax.set_title("Library sizes")
    return fig


def pca_plot(coords: pd.DataFrame, explained: np.ndarray, groups: pd.Series) -> Figure:
    """PC1 vs PC2 scatter labelled by sample, coloured by condition."""
    col = condition_colours(list(dict.fromkeys(groups)))
    fig, ax = new_figure(figsize=(5, 4.2))
    for lv, c in col.items():
        sel = groups.reindex(coords.index) == lv
        ax.scatter(coords.loc[sel, "PC1"], coords.loc[sel, "PC2"], color=c, label=lv, s=50)
    for s, (x, y) in coords[["PC1", "PC2"]].iterrows():
        ax.annotate(s, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(f"PC1 ({100 * explained[0]:.1f}%)")
    ax.set_ylabel(f"PC2 ({100 * explained[1]:.1f}%)" if len(explained) > 1 else "PC2")
    ax.legend(frameon=False)
    ax.set_title("PCA on VST expression")
    return fig


def correlation_heatmap(corr: pd.DataFrame) -> Figure:
    """Sample × sample Pearson correlation heatmap with values annotated."""
    n = len(corr)
    fig, ax = new_figure(figsize=(1.0 + 0.6 * n, 0.6 + 0.6 * n))
    im = ax.imshow(corr.to_numpy(), cmap="viridis", vmin=float(corr.to_numpy().min()), vmax=1.0)
    ax.set_xticks(range(n), corr.columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n), corr.index, fontsize=7)
    if n <= 24:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{corr.iat[i, j]:.3f}", ha="center", va="center", fontsize=5, color="w")
    fig.colorbar(im, ax=ax, label="Pearson r (VST)")
    ax.set_title("Sample correlation")
    return fig
