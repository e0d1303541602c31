"""Concordance figures: mRNA vs protein log2 fold changes with the discordance Δ, per-sample values."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .base import condition_colours, new_figure

CALL_COLOURS = {"post-transcriptional loss": "#4C72B0", "post-transcriptional gain": "#C44E52",
                "post-transcriptional buffering": "#937860",
                "concordant loss": "#8172B2", "concordant gain": "#DD8452", "no change": "#55A868",
                "inconclusive": "0.5"}


def concordance_lfc(result: pd.DataFrame) -> Figure:
    """mRNA log2FC vs protein log2FC per marker/gene pair with CI crosses and the equivalence band.

    ``result`` is the concordance table (:func:`ressig.concordance.concordance`): the shaded
    vertical band is the mRNA equivalence margin, the dotted horizontal lines the protein margin,
    the dashed diagonal protein = mRNA. A second panel shows the discordance Δ = protein − mRNA
    log2FC per pair with its (1 − alpha) CI, its (1 − 2 alpha) TOST CI and the ±protein-margin band.
    """
    fig, (ax, dax) = new_figure(1, 2, figsize=(10.4, 5.0), gridspec_kw={"width_ratios": [1.25, 1]})
    margin = float(result["margin"].iloc[0]) if len(result) else 0.5
    pmargin = float(result["protein_margin"].iloc[0]) if len(result) else margin
    ax.axvspan(-margin, margin, color="#55A868", alpha=0.15, lw=0, label=f"mRNA equivalence ±{margin:g}")
    for y in (-pmargin, pmargin):
        ax.axhline(y, color="#55A868", lw=0.7, ls=":")
    ax.axhline(0, color="0.3", lw=0.5)
    ax.axvline(0, color="0.3", lw=0.5)
    finite = result[["mrna_ci_low", "mrna_ci_high", "protein_ci_low", "protein_ci_high",
                     "mrna_log2fc", "protein_log2fc"]].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    lim = max(1.0, margin, pmargin, float(np.abs(finite).max()) if finite.size else 1.0) * 1.15
    ax.plot([-lim, lim], [-lim, lim], color="0.5", lw=0.7, ls="--", label="protein = mRNA")
    for _, r in result.iterrows():
        x, y = r["mrna_log2fc"], r["protein_log2fc"]
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        c = CALL_COLOURS.get(r["call"], "k")
        xerr = [[x - r["mrna_ci_low"]], [r["mrna_ci_high"] - x]] if np.isfinite(r["mrna_ci_low"]) else None
        yerr = [[y - r["protein_ci_low"]], [r["protein_ci_high"] - y]] if np.isfinite(r["protein_ci_low"]) else None
        ax.errorbar([x], [y], xerr=xerr, yerr=yerr, fmt="o", color=c, ms=7, capsize=4, lw=1.4)
        ax.annotate(f"{r['marker']} / {r['gene']}\n{r['call']}", (x, y), xytext=(8, 6), textcoords="offset points",
                    fontsize=8, color=c)
    for call, c in CALL_COLOURS.items():
        if call in set(result["call"]):
            ax.plot([], [], "o", color=c, label=call)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    level = float(result["ci_level"].iloc[0]) if len(result) else 0.95
    ax.set_xlabel(f"mRNA log2 fold change (DE MLE, {100 * level:.0f}% CI)")
    ax.set_ylabel(f"protein log2 fold change ({100 * level:.0f}% CI)")
    ax.legend(frameon=False, fontsize=7, loc="upper left")
    ax.set_title("mRNA vs protein")
    _delta_panel(dax, result, pmargin, level)
    fig.tight_layout()
    return fig


def _delta_panel(ax: Axes, result: pd.DataFrame, margin: float, level: float) -> None:
    """Δ = protein − mRNA log2FC per pair: thin bar (1 − alpha) CI, thick bar (1 − 2 alpha) TOST CI."""
    ax.axvspan(-margin, margin, color="#55A868", alpha=0.15, lw=0, label=f"Δ equivalence ±{margin:g}")
    ax.axvline(0, color="0.3", lw=0.6)
    tost_level = float(result["tost_ci_level"].iloc[0]) if len(result) else 0.9
    labels = []
    for i, (_, r) in enumerate(result.iterrows()):
        labels.append(f"{r['marker']} / {r['gene']}\n{r['delta_state']}")
        d = r["delta_log2fc"]
        if not np.isfinite(d):
            continue
        c = CALL_COLOURS.get(r["call"], "k")
        ax.plot([r["delta_ci_low"], r["delta_ci_high"]], [i, i], color=c, lw=1.2)
        ax.plot([r["delta_tost_ci_low"], r["delta_tost_ci_high"]], [i, i], color=c, lw=4, alpha=0.6)
        ax.plot([d], [i], "o", color=c, ms=7)
    vals = result[["delta_ci_low", "delta_ci_high"]].to_numpy(dtype=float)
    vals = vals[np.isfinite(vals)]
    lim = max(1.0, margin, float(np.abs(vals).max()) if vals.size else 1.0) * 1.15
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-0.7, max(len(result), 1) - 0.3)
    ax.set_yticks(range(len(result)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.plot([], [], color="0.3", lw=1.2, label=f"{100 * level:.0f}% CI")
    ax.plot([], [], color="0.3", lw=4, alpha=0.6, label=f"{100 * tost_level:.0f}% CI (TOST)")
    ax.set_xlabel("Δ = protein − mRNA log2 fold change")
    ax.legend(frameon=False, fontsize=7, loc="lower right")
    ax.set_title("discordance Δ")


def concordance_samples(per_sample: pd.DataFrame, result: pd.DataFrame, condition: str = "condition") -> Figure:
    """Per pair, each sample's log2 normalised mRNA (x) against its log2 protein signal (y).

    Both axes of a panel span the same number of log2 units, so equal fold changes look equal.
    """
    pairs = list(dict.fromkeys(per_sample["marker"]))
    n = max(1, len(pairs))
    fig, axes = new_figure(1, n, figsize=(4.2 * n, 3.9), squeeze=False)
    levels = list(dict.fromkeys(per_sample[condition]))
    col = condition_colours(levels)
    calls = dict(zip(result["marker"], result["call"], strict=True))
    for ax, marker in zip(axes[0], pairs, strict=False):
        d = per_sample[per_sample["marker"] == marker]
        for lv in levels:
            sel = d[d[condition] == lv]
            ax.scatter(sel["mrna_log2"], sel["protein_log2"], color=col[lv], s=45, label=lv)
        for _, r in d.iterrows():
            ax.annotate(r["sample"], (r["mrna_log2"], r["protein_log2"]), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")
        gene = d["gene"].iloc[0]
        xs, ys = d["mrna_log2"].to_numpy(dtype=float), d["protein_log2"].to_numpy(dtype=float)
        if np.isfinite(xs).any() and np.isfinite(ys).any():  # same span on both axes: a flat mRNA looks flat
            span = max(1.0, float(np.nanmax(xs) - np.nanmin(xs)), float(np.nanmax(ys) - np.nanmin(ys))) * 1.2
            for setter, v in ((ax.set_xlim, xs), (ax.set_ylim, ys)):
                mid = (float(np.nanmax(v)) + float(np.nanmin(v))) / 2
                setter(mid - span / 2, mid + span / 2)
        ax.set_xlabel(f"{gene} log2(normalised count + 1)")
        ax.set_ylabel(f"{marker} log2(MFI - background)")
        ax.set_title(f"{marker} / {gene}: {calls.get(marker, '')}", fontsize=9)
        ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig
