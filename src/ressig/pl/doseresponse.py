"""Dose–response figure: viability curves with their 4PL fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .base import condition_colours, new_figure


def dose_response_curves(viability: pd.DataFrame, fits: dict, model) -> Figure:
    """Viability vs concentration (log axis) per drug: points, fitted 4PL curves and IC50 markers.

    One panel per drug, one colour per (condition, inhibitor); an estimable IC50 is a dotted
    vertical line with its 95% CI as a shaded band, a censored one (``> max dose``) a triangle
    at the edge of the tested range.
    """
    drugs = list(dict.fromkeys(viability["drug"]))
    fig, axes = new_figure(1, len(drugs), figsize=(5.2 * len(drugs), 4.0), squeeze=False)
    keys = list(dict.fromkeys(zip(viability["condition"], viability["inhibitor"], strict=True)))
    col = condition_colours([f"{c} + {i}" for c, i in keys])
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
