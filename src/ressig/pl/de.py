"""DE figures: volcano and MA plots with key genes labelled, the cross-contrast overview."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .base import KEY_GENES, label_genes, new_figure


def volcano(de: pd.DataFrame, alpha: float = 0.05, lfc_col: str = "log2FoldChange_shrunk",
            label: Sequence[str] = KEY_GENES, title: str = "") -> Figure:
    """Volcano plot: shrunken log2FC vs -log10(padj); significant genes coloured, key genes labelled."""
    d = de[de["padj"].notna()]
    y = -np.log10(d["padj"].clip(lower=1e-300))
    x = d[lfc_col]
    sig = d["padj"] < alpha
    fig, ax = new_figure(figsize=(5.5, 4.5))
    ax.scatter(x[~sig], y[~sig], s=3, color="0.7", rasterized=True, label="n.s.")
    ax.scatter(x[sig & (x > 0)], y[sig & (x > 0)], s=4, color="#C44E52", rasterized=True, label="up")
    ax.scatter(x[sig & (x < 0)], y[sig & (x < 0)], s=4, color="#4C72B0", rasterized=True, label="down")
    ax.axhline(-np.log10(alpha), color="0.4", lw=0.6, ls="--")
    label_genes(ax, x, y, label)
    ax.set_xlabel("log2 fold change (shrunken)")
    ax.set_ylabel("-log10 adjusted p")
    ax.legend(frameon=False, markerscale=3)
    ax.set_title(title or "Volcano")
    return fig


def ma_plot(de: pd.DataFrame, alpha: float = 0.05, lfc_col: str = "log2FoldChange_shrunk",
            label: Sequence[str] = KEY_GENES, title: str = "") -> Figure:
    """MA plot: log10 mean normalised count vs log2FC, significant genes coloured, key genes labelled."""
    d = de[de["baseMean"] > 0]
    x = np.log10(d["baseMean"])
    y = d[lfc_col]
    sig = d["padj"] < alpha
    fig, ax = new_figure(figsize=(5.5, 4.5))
    ax.scatter(x[~sig], y[~sig], s=3, color="0.7", rasterized=True)
    ax.scatter(x[sig], y[sig], s=4, color="#C44E52", rasterized=True, label=f"padj < {alpha:g}")
    ax.axhline(0, color="0.3", lw=0.6)
    label_genes(ax, x, y, label)
    ax.set_xlabel("log10 mean normalised count")
    ax.set_ylabel("log2 fold change (shrunken)")
    ax.legend(frameon=False, markerscale=3)
    ax.set_title(title or "MA plot")
    return fig


def contrast_overview(lfc: pd.DataFrame, calls: pd.DataFrame, alpha: float = 0.05) -> Figure:
    """Cross-contrast figure: log2FC heatmap (genes × contrasts) and the overlap of DE calls
    (UpSet-style bars); inputs from :func:`ressig.de.contrast_matrix`."""
    sig = calls[(calls != 0).any(axis=1)]
    patterns = sig.apply(lambda r: " & ".join(c for c in sig.columns if r[c] != 0), axis=1).value_counts()
    names = list(calls.columns)
    fig, (ax1, ax2) = new_figure(1, 2, figsize=(6 + 1.2 * len(names), max(4, 0.25 * len(lfc) + 2)))
    lim = float(np.nanmax(np.abs(lfc.to_numpy()))) if lfc.size else 1.0
    im = ax1.imshow(lfc.to_numpy(dtype=float), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax1.set_yticks(range(len(lfc)), lfc.index, fontsize=7)
    ax1.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
    fig.colorbar(im, ax=ax1, label="log2 fold change")
    ax1.set_title("signature and efflux genes")
    ax2.barh(range(len(patterns)), patterns.to_numpy(), color="0.3")
    ax2.set_yticks(range(len(patterns)), patterns.index, fontsize=7)
    ax2.invert_yaxis()
    ax2.set_xlabel(f"genes with padj < {alpha}")
    ax2.set_title("overlap of DE calls")
    fig.tight_layout()
    return fig
