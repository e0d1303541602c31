"""Figure basics shared by every plot: pyplot-free figures, condition colours, gene labels.

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


def condition_colours(levels: Sequence[str]) -> dict[str, str]:
    """One colour per condition level, in order (cycling through :data:`CONDITION_COLOURS`)."""
    return {lv: CONDITION_COLOURS[i % len(CONDITION_COLOURS)] for i, lv in enumerate(levels)}


def label_genes(ax: Axes, x: pd.Series, y: pd.Series, genes: Sequence[str]) -> None:
    """Label the points of ``genes`` (those present) at their ``x``/``y`` positions."""
    for g in genes:
        if g in x.index and np.isfinite(x[g]) and np.isfinite(y[g]):
            ax.scatter([x[g]], [y[g]], s=40, facecolors="none", edgecolors="k", linewidths=1.2)
            ax.annotate(g, (x[g], y[g]), xytext=(6, 6), textcoords="offset points", fontsize=9,
                        fontweight="bold", arrowprops={"arrowstyle": "-", "lw": 0.6})


