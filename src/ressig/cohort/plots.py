"""Cohort score distribution plot (cohort vs training samples)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..signature import FrozenSignature
from .sinks import score_vectors


def plot_score_distribution(scores: pd.DataFrame, sigs: Sequence[FrozenSignature], cohort: str = "cohort",
                            max_points: int = 3000):
    """One panel per signature: training parental / resistant scores and the cohort's distribution
    (``scores``: a long or a wide score table)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vectors = score_vectors(scores, [s.name for s in sigs])
    shown = [s for s in sigs if s.name in vectors][:8]
    fig, axes = plt.subplots(1, max(1, len(shown)), figsize=(3.6 * max(1, len(shown)), 3.8), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, s in zip(axes[0], shown, strict=False):
        ref = s.reference_frame()
        groups = list(dict.fromkeys(ref["group"])) if len(ref) else []
        v = vectors[s.name]
        v = v[np.isfinite(v)]
        data, labels = [], []
        for g in groups:
            data.append(ref.loc[ref["group"] == g, "score"].to_numpy(dtype=float))
            labels.append(f"{g}\n(training)")
        data.append(v)
        labels.append(f"{cohort}\n(n={len(v)})")
        colours = ["#4C72B0", "#C44E52", "#55A868", "#8172B2"]
        if len(v) > 2:
            parts = ax.violinplot([v], positions=[len(data) - 1], showextrema=False, widths=0.7)
            for b in parts["bodies"]:
                b.set_alpha(0.25)
                b.set_facecolor("#555555")
        for i, d in enumerate(data):
            if len(d) > max_points:
                d = rng.choice(d, max_points, replace=False)
            x = i + rng.uniform(-0.12, 0.12, size=len(d))
            ax.scatter(x, d, s=12 if i < len(groups) else 5, alpha=0.9 if i < len(groups) else 0.5,
                       color=colours[i % len(colours)] if i < len(groups) else "#333333", zorder=3)
        ax.set_xticks(range(len(data)), labels, fontsize=8)
        ax.set_ylabel("score (rank-based, -1..1)")
        ax.set_title(s.name, fontsize=9)
        ax.axhline(0, color="grey", lw=0.5, ls=":")
    fig.suptitle(f"{cohort}: signature scores vs training samples", fontsize=10)
    fig.tight_layout()
    return fig
