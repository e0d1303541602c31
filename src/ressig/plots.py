"""Plots: QC (library sizes, PCA, correlation heatmap) and DE (volcano, MA with key genes labelled).

Every function returns a :class:`matplotlib.figure.Figure` made by :func:`new_figure` (no pyplot
state, no global backend switch: importing ressig never changes the caller's matplotlib set-up);
:func:`ressig._atomic.save_figure` writes it atomically with metadata stripped so reruns give
identical files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

KEY_GENES = ("ABCB1", "IL3RA")
CONDITION_COLOURS = ("#4C72B0", "#C44E52", "#55A868", "#8172B2", "#CCB974", "#64B5CD")


def new_figure(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Figure, Any]:
    """A pyplot-free figure and its axes (``Figure.subplots`` arguments; ``figsize`` goes to the figure)."""
    fig = Figure(figsize=kwargs.pop("figsize", None))
    return fig, fig.subplots(nrows, ncols, **kwargs)


def _colours(levels: Sequence[str]) -> dict[str, str]:
    return {lv: CONDITION_COLOURS[i % len(CONDITION_COLOURS)] for i, lv in enumerate(levels)}


def library_sizes(qc: pd.DataFrame, condition: str = "condition") -> Figure:
    """Bar chart of library sizes (millions of reads) coloured by condition."""
    levels = list(dict.fromkeys(qc[condition]))
    col = _colours(levels)
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
    col = _colours(list(dict.fromkeys(groups)))
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


def _label_genes(ax: Axes, x: pd.Series, y: pd.Series, genes: Sequence[str]) -> None:
    for g in genes:
        if g in x.index and np.isfinite(x[g]) and np.isfinite(y[g]):
            ax.scatter([x[g]], [y[g]], s=40, facecolors="none", edgecolors="k", linewidths=1.2)
            ax.annotate(g, (x[g], y[g]), xytext=(6, 6), textcoords="offset points", fontsize=9,
                        fontweight="bold", arrowprops={"arrowstyle": "-", "lw": 0.6})


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
    _label_genes(ax, x, y, label)
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
    _label_genes(ax, x, y, label)
    ax.set_xlabel("log10 mean normalised count")
    ax.set_ylabel("log2 fold change (shrunken)")
    ax.legend(frameon=False, markerscale=3)
    ax.set_title(title or "MA plot")
    return fig


CALL_COLOURS = {"post-transcriptional loss": "#4C72B0", "post-transcriptional gain": "#C44E52",
                "post-transcriptional buffering": "#937860",
                "concordant loss": "#8172B2", "concordant gain": "#DD8452", "no change": "#55A868",
                "inconclusive": "0.5"}


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
    col = _colours(levels)
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


def dose_response_curves(viability: pd.DataFrame, fits: dict, model) -> Figure:
    """Viability vs concentration (log axis) per drug: points, fitted 4PL curves and IC50 markers.

    One panel per drug, one colour per (condition, inhibitor); an estimable IC50 is a dotted
    vertical line with its 95% CI as a shaded band, a censored one (``> max dose``) a triangle
    at the edge of the tested range.
    """
    drugs = list(dict.fromkeys(viability["drug"]))
    fig, axes = new_figure(1, len(drugs), figsize=(5.2 * len(drugs), 4.0), squeeze=False)
    keys = list(dict.fromkeys(zip(viability["condition"], viability["inhibitor"], strict=True)))
    col = _colours([f"{c} + {i}" for c, i in keys])
    for ax, drug in zip(axes[0], drugs, strict=True):
        sub = viability[(viability["drug"] == drug) & (viability["concentration"] > 0)]
        for cond, inh in keys:
            g = sub[(sub["condition"] == cond) & (sub["inhibitor"] == inh)]
            f = fits.get((cond, drug, inh))
            if g.empty or f is None:
                continue
            c = col[f"{cond} + {inh}"]
            label = cond if inh == "none" else f"{cond} + {inh}"
            ax.scatter(g["concentration"], g["viability"], s=14, color=c, alpha=0.7)
            if np.isfinite(f.log_ic50) and np.isfinite(f.hill):
                xs = np.geomspace(g["concentration"].min(), g["concentration"].max(), 200)
                ax.plot(xs, model(xs, f.log_ic50, f.hill, f.top, f.bottom), color=c,
                        label=f"{label}: IC50 {f.report}")
            if f.estimable:
                lo, hi = f.ci()
                ax.axvline(f.ic50, color=c, linestyle=":", linewidth=1)
                ax.axvspan(lo, hi, color=c, alpha=0.12, linewidth=0)
            elif f.report.startswith(">"):
                ax.plot([f.max_dose], [0.5 * (f.top + f.bottom)], marker=">", color=c, markersize=8)
        ax.set_xscale("log")
        ax.axhline(0.5, color="grey", linewidth=0.5, linestyle="--")
        ax.set_xlabel("concentration")
        ax.set_ylabel("viability (fraction of untreated)")
        ax.set_title(f"Dose-response: {drug}")
        ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig
