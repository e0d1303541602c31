"""Cohort plots: score distribution vs the reference scores with the null band; for single cells, the embedding coloured by
each score (scanpy) and per-group distributions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..signature.artefact import FrozenSignature
from .base import new_figure


def _column(scores: pd.DataFrame, name: str, col: str) -> np.ndarray | None:
    """Signature ``name``'s values of ``col`` from a long or a wide table (None when absent)."""
    if "signature" in scores.columns:
        if col not in scores.columns:
            return None
        return scores.loc[(scores["signature"] == name).to_numpy(), col].to_numpy()
    key = name if col == "score" else f"{name}_{col}"
    return scores[key].to_numpy() if key in scores.columns else None


def _band(scores: pd.DataFrame, s: FrozenSignature) -> np.ndarray:
    """2.5-97.5% of the random-gene-set null for a typical sample of ``scores``
    (:func:`ressig.scoring.null_band`; needs the table's ``n_genes_used``/``n_genes_measured``).
    None (NaN) for a signature with a matched null (frozen gene levels, or ``null_method``
    ``matched:*`` in the table): its matched null depends on each sample's
    ranks of the level-matched genes, so no band is common to the samples."""
    from ..scoring.null import null_band

    used, measured = _column(scores, s.name, "n_genes_used"), _column(scores, s.name, "n_genes_measured")
    method = _column(scores, s.name, "null_method")
    matched = s.gene_levels or (method is not None and len(method) and str(method[0]).startswith("matched"))
    if used is None or measured is None or not (s.up or s.down) or matched:
        return np.full(2, np.nan)
    used, measured = used.astype(float), measured.astype(float)
    if np.isnan(measured).all():
        return np.full(2, np.nan)
    frac = float(np.nanmedian(used)) / (len(s.up) + len(s.down))
    n_up, n_down = int(round(len(s.up) * frac)), int(round(len(s.down) * frac))
    return null_band(n_up, n_down, int(np.nanmedian(measured)))


#: Point colours of the cohort's samples by ``call``.
CALL_COLOURS = {"high": "#C44E52", "low": "#4C72B0", "ns": "#333333", "": "#333333"}


def plot_score_distribution(scores: pd.DataFrame, sigs: Sequence[FrozenSignature], cohort: str = "cohort",
                            max_points: int = 3000):
    """One panel per signature: reference scores (training parental / resistant samples and the
    frozen reference cohort, if any), the cohort's distribution coloured by ``call`` and the
    random-gene-set null band (2.5-97.5% for the cohort's median gene counts; drawn when the
    table has ``n_genes_used`` and ``n_genes_measured`` and the signature uses the uniform null). ``scores``: a long or a wide table."""
    from ..cohort.sinks import score_vectors  # the cohort package draws with this module

    vectors = score_vectors(scores, [s.name for s in sigs])
    shown = [s for s in sigs if s.name in vectors][:8]
    fig, axes = new_figure(1, max(1, len(shown)), figsize=(3.6 * max(1, len(shown)), 3.8), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, s in zip(axes[0], shown, strict=False):
        ref = s.reference_frame()
        groups = list(dict.fromkeys(ref["group"])) if len(ref) else []
        v = vectors[s.name]
        keep = np.isfinite(v)
        calls = _column(scores, s.name, "call")
        calls = (pd.Series(calls).fillna("").astype(str).to_numpy()[keep] if calls is not None
                 else np.full(int(keep.sum()), "", dtype=object))
        v = v[keep]
        data, labels = [], []
        for g in groups:
            data.append(ref.loc[ref["group"] == g, "score"].to_numpy(dtype=float))
            labels.append(f"{g}\n(training)")
        if s.reference_cohort:
            data.append(np.asarray(s.reference_cohort["scores"], dtype=float))
            labels.append(f"reference\n(n={len(s.reference_cohort['scores'])})")
        n_ref = len(data)
        data.append(v)
        labels.append(f"{cohort}\n(n={len(v)})")
        colours = ["#4C72B0", "#C44E52", "#55A868", "#8172B2"]
        lo, hi = _band(scores, s)
        if np.isfinite(lo):
            ax.axhspan(lo, hi, color="#BBBBBB", alpha=0.35, lw=0, zorder=0, label="null 2.5-97.5%")
        for i in range(len(groups), len(data)) if len(v) > 2 else ():
            parts = ax.violinplot([data[i]], positions=[i], showextrema=False, widths=0.7)
            for b in parts["bodies"]:
                b.set_alpha(0.25)
                b.set_facecolor("#555555")
        for i, d in enumerate(data):
            pick = np.arange(len(d))
            if len(d) > max_points:
                pick = rng.choice(len(d), max_points, replace=False)
            x = i + rng.uniform(-0.12, 0.12, size=pick.size)
            if i < n_ref:
                ax.scatter(x, d[pick], s=12 if i < len(groups) else 5, alpha=0.9 if i < len(groups) else 0.5,
                           color=colours[i % len(colours)], zorder=3)
            else:
                ax.scatter(x, d[pick], s=5, alpha=0.6, zorder=3,
                           color=[CALL_COLOURS.get(c, "#333333") for c in calls[pick]])
        ax.set_xticks(range(len(data)), labels, fontsize=8)
        ax.set_ylabel("score (rank-based, -1..1)")
        ax.set_title(s.name, fontsize=9)
        ax.axhline(0, color="grey", lw=0.5, ls=":")
        if np.isfinite(lo):
            ax.legend(loc="upper left", fontsize=7, frameon=False)
    fig.suptitle(f"{cohort}: signature scores vs reference; red/blue = called high/low (cohort BH)", fontsize=9)
    fig.tight_layout()
    return fig


def _obs_with_scores(h5ad_path: str | Path, scores: pd.DataFrame, pseudobulk: str | None = None):
    """The cohort's obs and obsm embeddings (X never read) with the wide score columns added."""
    import anndata as ad
    import h5py
    from anndata.io import read_elem

    from ..cohort.annotate import obs_columns

    with h5py.File(h5ad_path, "r") as f:
        obs = read_elem(f["obs"])
        obsm = {k: read_elem(f["obsm"][k]) for k in ("X_umap", "X_tsne") if "obsm" in f and k in f["obsm"]}
    wide = obs_columns(scores)
    keys = obs[pseudobulk].astype(str) if pseudobulk else obs.index.astype(str)
    for c in wide.columns:
        obs[c] = wide[c].reindex(keys).to_numpy()
    return ad.AnnData(obs=obs, obsm=obsm), list(wide.columns)


def plot_embedding(h5ad_path: str | Path, scores: pd.DataFrame, sig_names: Sequence[str],
                   pseudobulk: str | None = None):
    """The cohort's UMAP (else t-SNE) coloured by each signature's score, with scanpy's
    :func:`scanpy.pl.embedding`; a figure saying so when the file has neither embedding."""
    adata, _ = _obs_with_scores(h5ad_path, scores, pseudobulk)
    basis = next((b for b in ("X_umap", "X_tsne") if b in adata.obsm), None)
    shown = [s for s in sig_names if s in adata.obs.columns][:8]
    if basis is None or not shown:
        fig, ax = new_figure(figsize=(5, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, f"{Path(h5ad_path).name}: no obsm['X_umap'] or obsm['X_tsne'] to draw",
                ha="center", va="center", fontsize=9)
        return fig
    import scanpy as sc

    fig = sc.pl.embedding(adata, basis=basis, color=shown, return_fig=True, show=False, cmap="viridis",
                          frameon=False, ncols=min(4, len(shown)))
    return fig


#: obs keys tried, in order, when the per-group plot's key is ``auto``.
AUTO_GROUP_KEYS = ("patient", "donor", "sample", "cluster", "leiden", "louvain", "cell_type")


def plot_group_scores(h5ad_path: str | Path, scores: pd.DataFrame, sig_names: Sequence[str], group_by: str,
                      pseudobulk: str | None = None):
    """Per-group (patient, cluster ...: ``obs[group_by]``) distribution of each signature's score."""
    adata, _ = _obs_with_scores(h5ad_path, scores, pseudobulk)
    from ..errors import input_error

    if group_by == "auto":  # the workflow's default: a usual grouping column, if there is one
        group_by = next((k for k in AUTO_GROUP_KEYS if k in adata.obs.columns), "")
        if not group_by:
            fig, ax = new_figure(figsize=(5, 1.5))
            ax.axis("off")
            ax.text(0.5, 0.5, f"{Path(h5ad_path).name}: no obs column to group by (set group_by)",
                    ha="center", va="center", fontsize=9)
            return fig
    if group_by not in adata.obs.columns:
        raise input_error(h5ad_path, f"obs has no column {group_by!r} to group scores by "
                          f"(columns: {', '.join(map(str, adata.obs.columns[:10]))})", "Check group_by")
    shown = [s for s in sig_names if s in adata.obs.columns][:8]
    groups = adata.obs[group_by].astype(str)
    levels = sorted(groups[adata.obs[group_by].notna()].unique())[:40]
    fig, axes = new_figure(len(shown), 1, figsize=(max(4.0, 0.45 * len(levels) + 2), 2.6 * len(shown)),
                             squeeze=False)
    for ax, s in zip(axes[:, 0], shown, strict=False):
        data = [adata.obs.loc[(groups == g).to_numpy(), s].dropna().to_numpy(dtype=float) for g in levels]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(levels) + 1), levels, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel(f"{s}\nscore", fontsize=8)
        ax.axhline(0, color="grey", lw=0.5, ls=":")
    axes[0, 0].set_title(f"{Path(h5ad_path).name}: scores by {group_by}", fontsize=9)
    fig.tight_layout()
    return fig
