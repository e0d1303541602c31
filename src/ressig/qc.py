"""Sample-level quality control: library sizes, detected genes, PCA on VST, correlations, outliers."""

from __future__ import annotations

import numpy as np
import pandas as pd


def library_qc(counts: pd.DataFrame, min_count: int = 1) -> pd.DataFrame:
    """Per-sample library size and number of detected genes (``>= min_count`` reads)."""
    return pd.DataFrame({
        "library_size": counts.sum(axis=0).astype("int64"),
        "detected_genes": (counts >= min_count).sum(axis=0).astype("int64"),
    }).rename_axis("sample")


def pca(vst: pd.DataFrame, n_top: int = 500, n_components: int = 2) -> tuple[pd.DataFrame, np.ndarray]:
    """PCA of the ``n_top`` most variable genes of a genes × samples VST matrix.

    Returns
    -------
    coords
        Samples × ``PC1..PCk`` coordinates (sign fixed so the largest loading is positive).
    explained
        Fraction of variance explained by each component.
    """
    var = vst.var(axis=1).to_numpy()
    order = np.lexsort((vst.index.to_numpy(dtype=str), -var))[: min(n_top, len(var))]
    x = vst.iloc[order].to_numpy().T
    x = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    k = min(n_components, len(s))
    signs = np.sign(vt[np.arange(k), np.abs(vt[:k]).argmax(axis=1)])
    coords = u[:, :k] * s[:k] * signs
    total = (s**2).sum()
    explained = (s[:k] ** 2) / total if total > 0 else np.zeros(k)
    return pd.DataFrame(coords, index=vst.columns, columns=[f"PC{i + 1}" for i in range(k)]), explained


def sample_correlation(vst: pd.DataFrame) -> pd.DataFrame:
    """Pearson correlation between samples on VST expression."""
    return vst.corr(method="pearson")


def flag_outliers(corr: pd.DataFrame, libqc: pd.DataFrame, z: float = 3.0) -> pd.Series:
    """Flag samples whose median correlation to the others, or library size, is a robust outlier.

    A sample is flagged when its value lies more than ``z`` scaled MADs below the median.
    """
    c = corr.to_numpy().copy()
    np.fill_diagonal(c, np.nan)
    med_corr = pd.Series(np.nanmedian(c, axis=1), index=corr.index)
    flags = pd.Series(False, index=corr.index, name="outlier")
    for values in (med_corr, np.log10(libqc["library_size"].reindex(corr.index).astype(float))):
        mad = 1.4826 * float(np.median(np.abs(values - values.median())))
        if mad > 0:
            flags |= (values.median() - values) / mad > z
    return flags


def qc_table(counts: pd.DataFrame, vst: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """One row per sample: library size, detected genes, PCs, median correlation, outlier flag."""
    lib = library_qc(counts)
    coords, _ = pca(vst)
    corr = sample_correlation(vst)
    c = corr.to_numpy().copy()
    np.fill_diagonal(c, np.nan)
    out = samples.join(lib).join(coords)
    out["median_correlation"] = np.nanmedian(c, axis=1)
    out["outlier"] = flag_outliers(corr, lib)
    out.index.name = "sample"
    return out


def run_qc(counts_path, vst_path, samples_path, outdir, condition: str = "condition") -> list:
    """Compute :func:`qc_table` from files and write ``qc.tsv`` and the three QC plots."""
    from pathlib import Path

    from ._atomic import save_figure, write_table
    from .io import read_matrix_tsv, read_sample_sheet
    from .pl.qc import correlation_heatmap, library_sizes, pca_plot

    outdir = Path(outdir)
    counts = read_matrix_tsv(counts_path, "counts")
    vst = read_matrix_tsv(vst_path, "VST matrix")
    samples = read_sample_sheet(samples_path)
    table = qc_table(counts.loc[:, samples.index], vst.loc[:, samples.index], samples)
    coords, explained = pca(vst.loc[:, samples.index])
    return [
        write_table(table, outdir / "qc.tsv"),
        save_figure(library_sizes(table, condition), outdir / "library_sizes.png"),
        save_figure(pca_plot(coords, explained, samples[condition]), outdir / "pca.png"),
        save_figure(correlation_heatmap(sample_correlation(vst.loc[:, samples.index])),
                    outdir / "sample_correlation.png"),
    ]
