"""Gene-set figures of the efflux step: per-sample set scores by condition, GSEA NES bars, enrichment plots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .base import condition_colours, new_figure


def plot_scores(scores: pd.DataFrame, sets: Sequence[str], condition: str, levels: Sequence[str]):
    """One panel per set: per-sample scores by condition (points + mean bar)."""
    col = condition_colours(list(levels))
    n = max(1, len(sets))
    ncol = min(4, n)
    nrow = (n + ncol - 1) // ncol
    fig, axes = new_figure(nrow, ncol, figsize=(2.6 * ncol, 2.4 * nrow), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax, name in zip(axes.ravel(), sets, strict=False):
        d = scores[scores["signature"] == name]
        for i, lv in enumerate(levels):
            y = d.loc[d[condition] == lv, "score"].to_numpy()
            x = i + np.linspace(-0.12, 0.12, len(y)) if len(y) > 1 else np.full(len(y), float(i))
            ax.scatter(x, y, color=col[lv], s=28, zorder=3)
            if len(y):
                ax.hlines(np.nanmean(y), i - 0.25, i + 0.25, color="0.2", lw=1.2)
        ax.set_xticks(range(len(levels)), levels, fontsize=8)
        ax.set_xlim(-0.6, len(levels) - 0.4)
        ax.set_title(name, fontsize=7.5)
        ax.tick_params(axis="y", labelsize=7)
    for r in range(nrow):
        axes[r, 0].set_ylabel("single-sample score", fontsize=8)
    fig.suptitle("Gene-set scores by condition (rank-based, single-sample)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_nes(table: pd.DataFrame, alpha: float = 0.05):
    """Horizontal bar chart of NES of the tested sets, FDR < alpha highlighted."""
    t = table[table["status"] == "tested"].sort_values("nes")
    fig, ax = new_figure(figsize=(6.5, max(2.0, 0.32 * len(t) + 1.2)))
    if t.empty:
        ax.text(0.5, 0.5, "no gene set tested (all outside min_size/max_size)", ha="center", va="center")
        ax.set_axis_off()
        return fig
    colours = ["#C44E52" if (f < alpha and n > 0) else "#4C72B0" if f < alpha else "0.7"
               for f, n in zip(t["fdr"], t["nes"], strict=True)]
    ax.barh(range(len(t)), t["nes"], color=colours)
    ax.set_yticks(range(len(t)), t.index, fontsize=7)
    ax.axvline(0, color="0.3", lw=0.6)
    ax.set_xlabel("normalised enrichment score (NES)")
    ax.set_title(f"GSEA prerank (grey: FDR >= {alpha:g})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_enrichment(result: Any, name: str, pheno_pos: str = "", pheno_neg: str = ""):
    """gseapy's classic enrichment plot of one tested set (or a note if the set was not tested).

    ``result`` is a :class:`ressig.gsea.GseaResult` (its ``table``, ``details`` and ``ranking``).
    """
    row = result.table.loc[name] if name in result.table.index else None
    if row is None or name not in result.details:
        fig, ax = new_figure(figsize=(6, 2))
        why = "not in the gene-set files" if row is None else str(row["status"])
        ax.text(0.5, 0.5, f"{name}: not tested\n({why})", ha="center", va="center", fontsize=9)
        ax.set_axis_off()
        return fig
    from gseapy import gseaplot

    d = result.details[name]
    axes = gseaplot(name, d["hits"], float(row["nes"]), float(row["pval"]), float(row["fdr"]), d["RES"],
                    rank_metric=result.ranking.to_numpy(), pheno_pos=pheno_pos, pheno_neg=pheno_neg,
                    ofname=None)
    return axes[0].figure
