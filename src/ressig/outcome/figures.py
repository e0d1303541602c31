"""Outcome figures: Kaplan–Meier curves of the score groups with numbers at risk, a forest plot of
the hazard ratios per SD, and the score by response group with the AUC.

Figures are built on :class:`matplotlib.figure.Figure` objects (no pyplot state).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

_HIGH, _LOW = "#c0392b", "#2c7fb8"


def _grid(n: int, width: float, height: float) -> tuple[Figure, list]:
    ncols = min(3, max(1, n))
    nrows = max(1, math.ceil(n / ncols))
    fig = Figure(figsize=(width * ncols, height * nrows))
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(max(n, 1))]
    return fig, axes


def _fmt_p(p: float) -> str:
    return "NA" if p is None or not np.isfinite(p) else (f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}")


def km_figure(panels: list[dict], time_unit: str) -> Figure:
    """Kaplan–Meier curves of ``score > median`` vs the rest, one panel per signature.

    Parameters
    ----------
    panels
        Dicts with ``signature``, ``time``, ``event``, ``high`` (bool array), ``logrank_p``,
        ``hr_per_sd`` (arrays of the complete cases).
    """
    from lifelines import KaplanMeierFitter

    fig, axes = _grid(len(panels), 4.6, 4.4)
    for ax, p in zip(axes, panels, strict=False):
        t, e, high = np.asarray(p["time"], float), np.asarray(p["event"], float), np.asarray(p["high"], bool)
        tmax = float(t.max()) if t.size and t.max() > 0 else 1.0
        ticks = MaxNLocator(nbins=5).tick_values(0.0, tmax)
        ticks = ticks[(ticks >= 0) & (ticks <= tmax)]
        rows = []
        for mask, label, colour in ((high, "score > median", _HIGH), (~high, "score ≤ median", _LOW)):
            if not mask.any():
                continue
            kmf = KaplanMeierFitter().fit(t[mask], e[mask], label=label)
            sf = kmf.survival_function_
            ax.step(sf.index.to_numpy(float), sf.iloc[:, 0].to_numpy(float), where="post", color=colour,
                    label=f"{label} (n={int(mask.sum())})")
            cens = t[mask][e[mask] == 0]
            if cens.size:
                ax.plot(cens, kmf.survival_function_at_times(cens).to_numpy(float), "|", color=colour, ms=6)
            rows.append((label, colour, [int((t[mask] >= x).sum()) for x in ticks]))
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(-0.02 * tmax, tmax * 1.02)
        ax.set_xticks(ticks)
        ax.set_xlabel(f"time ({time_unit})")
        ax.set_ylabel("survival probability")
        hr = p.get("hr_per_sd")
        hr_txt = "" if hr is None or not np.isfinite(hr) else f", HR/SD {hr:.2f}"
        ax.set_title(f"{p['signature']}\nlog-rank p = {_fmt_p(p.get('logrank_p'))}{hr_txt}", fontsize=9)
        ax.legend(fontsize=7, loc="lower left", frameon=False)
        # numbers at risk under the axis, one row per group, at the tick times
        ax.text(0.0, -0.25, "number at risk", transform=ax.transAxes, ha="left", fontsize=7)
        for k, (label, colour, counts) in enumerate(rows):
            y = -0.31 - 0.06 * k
            ax.text(-0.03, y, label.replace("score ", ""), transform=ax.transAxes, ha="right", fontsize=7,
                    color=colour)
            for x, c in zip(ticks, counts, strict=True):
                ax.text((x - ax.get_xlim()[0]) / (ax.get_xlim()[1] - ax.get_xlim()[0]), y, str(c),
                        transform=ax.transAxes, ha="center", fontsize=7, color=colour)
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    fig.subplots_adjust(hspace=0.75, wspace=0.45, bottom=0.22, left=0.15)
    return fig


def forest_figure(table: pd.DataFrame) -> Figure:
    """Hazard ratio per SD with 95% CI for every signature (log scale); NA rows are labelled."""
    n = len(table)
    fig = Figure(figsize=(6.5, 1.2 + 0.35 * max(n, 1)))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(n)[::-1]
    for yi, (_, row) in zip(y, table.iterrows(), strict=True):
        hr = row.get("hr_per_sd")
        if hr is None or not np.isfinite(hr):
            ax.text(1.0, yi, f"NA: {row.get('reason', '')}"[:60], va="center", ha="center", fontsize=7, color="grey")
            continue
        ax.plot([row["hr_ci_low"], row["hr_ci_high"]], [yi, yi], color="black", lw=1.2)
        ax.plot([hr], [yi], "s", color=_HIGH, ms=6)
        q = row.get("qvalue")
        ax.text(1.02, yi, f"{hr:.2f} ({row['hr_ci_low']:.2f}–{row['hr_ci_high']:.2f}), q={_fmt_p(q)}",
                transform=ax.get_yaxis_transform(), va="center", fontsize=7)
    ax.axvline(1.0, color="grey", ls="--", lw=0.8)
    ax.set_xscale("log")
    finite = table[["hr_ci_low", "hr_ci_high"]].to_numpy(float) if n else np.empty((0, 2))
    finite = finite[np.isfinite(finite)]
    lo, hi = (min(finite.min(), 0.9), max(finite.max(), 1.1)) if finite.size else (0.5, 2.0)
    ax.set_xlim(lo / 1.1, hi * 1.1)
    nice = [t for t in (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 4, 8, 16, 32) if lo / 1.1 <= t <= hi * 1.1]
    ax.set_xticks(nice)
    ax.set_xticklabels([f"{t:g}" for t in nice])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(y)
    ax.set_yticklabels(table["signature"].astype(str).tolist(), fontsize=8)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("hazard ratio per SD of score (95% CI)")
    cov = str(table["covariates"].iloc[0]) if n and "covariates" in table else ""
    ax.set_title("Cox model" + (f", adjusted for {cov.replace(',', ', ')}" if cov and cov != "nan" else ""),
                 fontsize=9)
    fig.subplots_adjust(left=0.3, right=0.68)
    return fig


def response_figure(panels: list[dict]) -> Figure:
    """Score by response group (points and box), AUC with CI in the title, one panel per signature.

    Parameters
    ----------
    panels
        Dicts with ``signature``, ``score``, ``positive`` (bool array), ``positive_label``,
        ``negative_label``, ``auc``, ``auc_ci_low``, ``auc_ci_high``.
    """
    fig, axes = _grid(len(panels), 3.6, 3.6)
    rng = np.random.default_rng(0)  # fixed jitter: identical bytes on rerun
    for ax, p in zip(axes, panels, strict=False):
        s, pos = np.asarray(p["score"], float), np.asarray(p["positive"], bool)
        groups = [(s[~pos], str(p["negative_label"]), _LOW), (s[pos], str(p["positive_label"]), _HIGH)]
        ax.boxplot([g[0] for g in groups], positions=[0, 1], widths=0.5, showfliers=False)
        for k, (vals, _, colour) in enumerate(groups):
            ax.plot(k + rng.uniform(-0.12, 0.12, vals.size), vals, "o", color=colour, ms=3, alpha=0.7)
        ax.set_xticks([0, 1])
        ax.set_xticklabels([f"{g[1]}\n(n={g[0].size})" for g in groups], fontsize=8)
        ax.set_ylabel("score")
        auc = p.get("auc")
        txt = "AUC NA" if auc is None or not np.isfinite(auc) else (
            f"AUC {auc:.2f} ({p['auc_ci_low']:.2f}–{p['auc_ci_high']:.2f})")
        ax.set_title(f"{p['signature']}\n{txt}", fontsize=9)
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    fig.subplots_adjust(hspace=0.6, wspace=0.4)
    return fig
