"""Variance-stabilising transformation the way R DESeq2's ``vst()`` does it (blind by default)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .normfactors import offsets
from .rparity import parametric_trend_r


def vst_subset(base_mean: np.ndarray, nsub: int) -> np.ndarray | None:
    """R ``vst()``'s gene subset: ``nsub`` genes evenly spaced in rank of mean among means > 5."""
    pool = np.flatnonzero(base_mean > 5)
    if len(base_mean) < nsub or len(pool) < nsub:
        return None
    order = pool[np.argsort(base_mean[pool], kind="stable")]
    pick = np.round(np.linspace(1, len(order), nsub)).astype(int) - 1
    return order[pick]


def vst(dds, blind: bool = True, nsub: int = 1000) -> np.ndarray:
    """Variance-stabilising transformation the way R DESeq2's ``vst()`` does it.

    ``blind=True`` (R's default, and what ``ressig de`` writes): gene-wise dispersions of an
    intercept-only model on a subset of ``nsub`` genes with mean normalised count > 5, evenly
    spaced in rank of mean, then R's parametric trend ``a0 + a1/mean`` on them. When fewer than
    ``nsub`` genes qualify (R stops and points to ``varianceStabilizingTransformation``), every
    non-zero gene is used, which is what that function does. ``blind=False`` reuses the trend
    already fitted with the full design (``dds.uns["trend_coeffs"]``), as R does when dispersions
    exist. If R's parametric fit fails, PyDESeq2's own blind VST (its trend, with its mean-trend
    fallback) is used.

    Returns
    -------
    numpy.ndarray
        Samples × genes ``log2``-scale values of ``dds`` (all its genes).
    """
    normed = np.asarray(dds.layers["normed_counts"], dtype=float)
    base_mean = normed.mean(axis=0)
    coefs = None
    if not blind and dds.uns.get("disp_function_type") == "parametric":
        coefs = np.asarray(dds.uns["trend_coeffs"], dtype=float)
    elif blind:
        inf = dds.inference
        sf = np.asarray(dds.obs["size_factors"], dtype=float)
        rows = vst_subset(base_mean, nsub)
        if rows is None:
            rows = np.flatnonzero(base_mean > 0)
        if "norm_factors" in dds.layers:     # R: colMeans of the subset's normalizationFactors
            sf = np.asarray(dds.layers["norm_factors"], dtype=float)[:, rows].mean(axis=1)
        counts = np.asarray(dds.X, dtype=float)[:, rows]
        x = np.ones((dds.n_obs, 1))
        nc = normed[:, rows]
        init = np.clip(np.minimum(inf.fit_rough_dispersions(nc, x), inf.fit_moments_dispersions(nc, sf)),
                       dds.min_disp, dds.max_disp)
        with offsets(dds, rows):
            mu = inf.lin_reg_mu(counts, sf, x, dds.min_mu)
        disp, _ = inf.alpha_mle(counts, x, mu, init, dds.min_disp, dds.max_disp)
        disp = np.clip(disp, dds.min_disp, dds.max_disp)
        use = disp > 100 * dds.min_disp
        coefs = parametric_trend_r(base_mean[rows][use], disp[use]) if use.sum() >= 2 else None
    if coefs is None:
        dds.vst(use_design=not blind)
        return np.asarray(dds.layers["vst_counts"])
    dds.vst_fit_type = "parametric"
    dds.uns["vst_trend_coeffs"] = pd.Series(coefs, index=["a0", "a1"])
    return dds.vst_transform()
