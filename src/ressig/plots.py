"""Plots: QC (library sizes, PCA, correlation heatmap) and DE (volcano, MA with key genes labelled).

Every function returns a matplotlib Figure; :func:`ressig._atomic.save_figure` writes it
atomically with metadata stripped so reruns give identical files.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

KEY_GENES = ("ABCB1", "IL3RA")
CONDITION_COLOURS = ("#4C72B0", "#C44E52", "#55A868", "#8172B2", "#CCB974", "#64B5CD")


def _colours(levels: Sequence[str]) -> dict[str, str]:
    return {lv: CONDITION_COLOURS[i % len(CONDITION_COLOURS)] for i, lv in enumerate(levels)}


def library_sizes(qc: pd.DataFrame, condition: str = "condition") -> plt.Figure:
    """Bar chart of library sizes (millions of reads) coloured by condition."""
    levels = list(dict.fromkeys(qc[condition]))
    col = _colours(levels)
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(qc) + 2), 3.5))
    ax.bar(qc.index, qc["library_size"] / 1e6, color=[col[c] for c in qc[condition]])
    ax.set_ylabel("library size (M reads)")
    ax.tick_params(axis="x", rotation=60)
    for lv in levels:
        ax.bar([], [], color=col[lv], label=lv)
    ax.legend(frameon=False)
    ax.set_title("Library sizes")
    return fig


def pca_plot(coords: pd.DataFrame, explained: np.ndarray, groups: pd.Series) -> plt.Figure:
    """PC1 vs PC2 scatter labelled by sample, coloured by condition."""
    col = _colours(list(dict.fromkeys(groups)))
    fig, ax = plt.subplots(figsize=(5, 4.2))
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


def correlation_heatmap(corr: pd.DataFrame) -> plt.Figure:
    """Sample × sample Pearson correlation heatmap with values annotated."""
    n = len(corr)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 0.6 + 0.6 * n))
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


def _label_genes(ax: plt.Axes, x: pd.Series, y: pd.Series, genes: Sequence[str]) -> None:
    for g in genes:
        if g in x.index and np.isfinite(x[g]) and np.isfinite(y[g]):
            ax.scatter([x[g]], [y[g]], s=40, facecolors="none", edgecolors="k", linewidths=1.2)
            ax.annotate(g, (x[g], y[g]), xytext=(6, 6), textcoords="offset points", fontsize=9,
                        fontweight="bold", arrowprops={"arrowstyle": "-", "lw": 0.6})


def volcano(de: pd.DataFrame, alpha: float = 0.05, lfc_col: str = "log2FoldChange_shrunk",
            label: Sequence[str] = KEY_GENES, title: str = "") -> plt.Figure:
    """Volcano plot: shrunken log2FC vs -log10(padj); significant genes coloured, key genes labelled."""
    d = de[de["padj"].notna()]
    y = -np.log10(d["padj"].clip(lower=1e-300))
    x = d[lfc_col]
    sig = d["padj"] < alpha
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.scatter(x[~sig], y[~sig], s=3, color="0.7", rasterized=True, label="n.s.")
    ax.scatter(x[sig & (x > 0)], y[sig & (x > 0)], s=4, color="#C44E52", rasterized=True, label="up")
    ax.scatter(x[sig & (x < 0)], y[sig & (x < 0)], s=4, color="#4C72B0", rasterized=True, label="down")
    ax.axhline(-np.log10(alpha), color="0.4", lw=0.6, ls="--")
    _label_genes(ax, x, y, label)
    ax.set_xlabel("log2 fold change (shrunken)")
    ax.set_ylabel("-log10 adjusted p")
    ax.legend(frameon=False, markerscale=3)
    ax.set_title(title or "Volcano")
    return fig


def ma_plot(de: pd.DataFrame, alpha: float = 0.05, lfc_col: str = "log2FoldChange_shrunk",
            label: Sequence[str] = KEY_GENES, title: str = "") -> plt.Figure:
    """MA plot: log10 mean normalised count vs log2FC, significant genes coloured, key genes labelled."""
    d = de[de["baseMean"] > 0]
    x = np.log10(d["baseMean"])
    y = d[lfc_col]
    sig = d["padj"] < alpha
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.scatter(x[~sig], y[~sig], s=3, color="0.7", rasterized=True)
    ax.scatter(x[sig], y[sig], s=4, color="#C44E52", rasterized=True, label=f"padj < {alpha:g}")
    ax.axhline(0, color="0.3", lw=0.6)
    _label_genes(ax, x, y, label)
    ax.set_xlabel("log10 mean normalised count")
    ax.set_ylabel("log2 fold change (shrunken)")
    ax.legend(frameon=False, markerscale=3)
    ax.set_title(title or "MA plot")
    return fig
