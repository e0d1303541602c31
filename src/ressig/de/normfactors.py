"""Per-gene, per-sample normalisation factors from tximport's average transcript lengths.

Gene counts summarised from salmon/kallisto transcripts carry the sample-specific average
transcript length of each gene (isoform switches change it). R's ``DESeqDataSetFromTximport``
keeps these lengths (``avgTxLength``) and ``estimateSizeFactors`` turns them into
``normalizationFactors`` (DESeq2 ``estimateNormFactors``):

1. lengths divided by their per-gene geometric mean (``normMatrix``);
2. median-of-ratios size factors estimated on ``counts / normMatrix``;
3. ``nf = normMatrix * size factor`` of the sample, divided by the per-gene geometric mean of ``nf``.

They replace the size factors everywhere: normalised counts are ``counts / nf``, and every GLM
fit uses ``log(nf)`` as offset. :class:`NormFactorDataSet` is PyDESeq2's ``DeseqDataSet`` with the
factors in ``layers["norm_factors"]``: it computes them in place of the size factors and hands
each fit's columns to :meth:`ressig.de.inference.VectorizedInference.offsets` (gene-wise and MAP
dispersions, coefficients, Cook's replacement and refit); :func:`ressig.de.run_de` does the same
for the Wald test, shrinkage, LRT and VST. ``obs["size_factors"]`` holds ``colMeans(nf)``, the
per-sample summary R's moments dispersion estimate uses (``momentsDispEstimate``).
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
from pydeseq2.dds import DeseqDataSet

from ..errors import RessigError, input_error

#: ``normalization`` column of ``size_factors.tsv``: how the DE step normalised
METHOD_SIZE_FACTORS = "size_factors"
METHOD_LENGTHS = "avgTxLength"


def length_size_factors(counts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Median-of-ratios size factors of ``counts / normMatrix`` (genes × samples arrays).

    ``normMatrix`` is ``lengths`` divided by its per-gene geometric mean; genes with a zero count
    in any sample do not enter the ratios (R ``estimateSizeFactorsForMatrix``).
    """
    norm_matrix = _centre(np.asarray(lengths, dtype=float))
    scaled = np.asarray(counts, dtype=float) / norm_matrix
    with np.errstate(divide="ignore"):
        log_scaled = np.log(scaled)
    log_geo = log_scaled.mean(axis=1)
    use = np.isfinite(log_geo)
    if not use.any():
        raise RessigError("every gene has a zero count in some sample: median-of-ratios size factors with "
                          "transcript lengths are undefined (lower the count filter or drop failed libraries)")
    return np.exp(np.median(log_scaled[use] - log_geo[use, None], axis=0))


def norm_factors(lengths: np.ndarray, size_factors: np.ndarray) -> np.ndarray:
    """DESeq2 ``estimateNormFactors``: centred ``normMatrix * size_factors`` (genes × samples)."""
    return _centre(_centre(np.asarray(lengths, dtype=float)) * np.asarray(size_factors, dtype=float)[None, :])


def _centre(m: np.ndarray) -> np.ndarray:
    """Divide every row by its geometric mean."""
    return m / np.exp(np.log(m).mean(axis=1, keepdims=True))


def read_lengths(path: str | Path, genes: pd.Index, samples: pd.Index) -> pd.DataFrame:
    """Read a genes × samples average transcript length table for ``genes`` and ``samples``.

    Raises
    ------
    RessigError
        A gene or sample of the counts missing from the table, or a length that is not a
        positive finite number (R ``DESeqDataSetFromTximport`` requires ``all(lengths > 0)``).
    """
    from ..io import read_matrix_tsv

    lengths = read_matrix_tsv(path, "transcript lengths")
    missing = [s for s in samples if s not in lengths.columns]
    if missing:
        raise input_error(path, f"sample(s) {', '.join(missing)} of the counts have no length column",
                          "Use the lengths.tsv written by 'ressig prepare' together with its counts.tsv")
    absent = genes.difference(lengths.index)
    if len(absent):
        raise input_error(path, f"{len(absent)} gene(s) of the counts have no lengths (first: {absent[0]!r})",
                          "Use the lengths.tsv written by 'ressig prepare' together with its counts.tsv")
    out = lengths.loc[genes, list(samples)]
    bad = ~(np.isfinite(out.to_numpy()) & (out.to_numpy() > 0))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise input_error(path, f"length {out.iat[r, c]:g} at gene {out.index[r]!r}, column {out.columns[c]!r} "
                          "is not a positive number", "Average transcript lengths must be > 0")
    return out


def offsets(dds, genes: np.ndarray | None = None):
    """Context in which the engine uses ``dds``'s normalisation factors (a no-op without them)."""
    return dds.offsets(genes) if isinstance(dds, NormFactorDataSet) else nullcontext()


class NormFactorDataSet(DeseqDataSet):
    """PyDESeq2 ``DeseqDataSet`` with DESeq2 normalisation factors from average transcript lengths.

    Parameters
    ----------
    lengths
        Samples × genes average transcript lengths (same axes as ``counts``).
    **kwargs
        As :class:`pydeseq2.dds.DeseqDataSet`; ``inference`` must be a
        :class:`ressig.de.inference.VectorizedInference`.
    """

    def __init__(self, *, lengths: pd.DataFrame, **kwargs):
        from .inference import VectorizedInference

        super().__init__(**kwargs)
        if not isinstance(self.inference, VectorizedInference):
            raise RessigError("transcript-length normalisation factors need the ressig DE engine "
                              "(de.engine: ressig); pydeseq2 has no normalisation factors")
        self.layers["avg_tx_length"] = lengths.loc[self.obs_names, self.var_names].to_numpy(dtype=float)

    def fit_size_factors(self, fit_type=None, control_genes=None) -> None:
        """Normalisation factors in place of size factors (median-of-ratios on counts / lengths)."""
        if (fit_type or self.size_factors_fit_type) != "ratio" or control_genes is not None:
            raise RessigError("transcript-length normalisation factors support only median-of-ratios size "
                              "factors without control genes")
        lengths = self.layers["avg_tx_length"].T
        counts = np.asarray(self.X, dtype=float).T
        sf = length_size_factors(counts, lengths)
        self.set_norm_factors(norm_factors(lengths, sf).T)
        self.obs["length_size_factors"] = sf

    def set_norm_factors(self, nf: np.ndarray) -> None:
        """Store samples × genes factors, normalised counts and the per-sample summary."""
        self.layers["norm_factors"] = nf
        self.obs["size_factors"] = nf.mean(axis=1)       # R: colMeans(normalizationFactors)
        self.layers["normed_counts"] = np.asarray(self.X, dtype=float) / nf
        self.var["_normed_means"] = self.layers["normed_counts"].mean(axis=0)

    def offsets(self, genes: np.ndarray | None = None):
        """Context: the engine uses the normalisation factors of ``genes`` (default all)."""
        if "norm_factors" not in self.layers:
            return nullcontext()
        nf = self.layers["norm_factors"]
        return self.inference.offsets(nf if genes is None else nf[:, genes])

    def fit_genewise_dispersions(self, vst: bool = False) -> None:  # noqa: D102
        if "size_factors" not in self.obs:
            self.fit_size_factors()
        with self.offsets(np.flatnonzero(~(np.asarray(self.X) == 0).all(axis=0))):
            super().fit_genewise_dispersions(vst)

    def fit_LFC(self) -> None:  # noqa: D102
        if "dispersions" not in self.var:
            self.fit_MAP_dispersions()
        with self.offsets(self.non_zero_idx):
            super().fit_LFC()

    def _replace_outliers(self) -> None:
        """PyDESeq2's replacement, with replacement counts ``trimmed mean(counts / nf) * nf`` (R)."""
        from pydeseq2.utils import trimmed_mean
        from scipy.stats import f

        super()._replace_outliers()
        if not self.var["replaced"].any():
            return
        cols = np.flatnonzero(self.var["replaced"].to_numpy(dtype=bool))
        nf = self.layers["norm_factors"][:, cols]
        x = np.asarray(self.X, dtype=float)[:, cols]
        trim = np.asarray(trimmed_mean(x / nf, trim=0.2, axis=0))
        replacement = (trim[None, :] * nf).astype(int)
        n, p = self.obsm["design_matrix"].shape
        cells = self.obs["replaceable"].to_numpy(dtype=bool)[:, None] & \
            (self.layers["cooks"][:, cols] > f.ppf(0.99, p, n - p))
        self.counts_to_refit.X[cells] = replacement[cells]

    def _refit_without_outliers(self) -> None:
        """PyDESeq2's refit of the genes with replaced counts, on a sub-dataset with their factors."""
        new_all_zero = (np.asarray(self.counts_to_refit.X) == 0).all(axis=0)
        self.new_all_zeroes_genes = self.counts_to_refit.var_names[new_all_zero]   # read by DeseqStats
        self.var["refitted"] = self.var["replaced"].copy()
        self.var.loc[self.var["refitted"], "refitted"] = ~new_all_zero
        if new_all_zero.any():
            self.var.loc[self.new_all_zeroes_genes, "_normed_means"] = 0
            self.varm["LFC"].loc[self.new_all_zeroes_genes, :] = 0
        refit = self.var["refitted"].to_numpy(dtype=bool)
        if not refit.any():
            return
        self.counts_to_refit = self.counts_to_refit[:, ~new_all_zero].copy()
        sub = NormFactorDataSet(
            lengths=pd.DataFrame(self.layers["avg_tx_length"][:, refit], index=self.obs_names,
                                 columns=self.var_names[refit]),
            counts=pd.DataFrame(np.asarray(self.counts_to_refit.X), index=self.obs_names,
                                columns=self.counts_to_refit.var_names),
            metadata=self.obs, design=self.design, min_mu=self.min_mu, min_disp=self.min_disp,
            max_disp=self.max_disp, refit_cooks=self.refit_cooks, min_replicates=self.min_replicates,
            beta_tol=self.beta_tol, inference=self.inference, quiet=self.quiet)
        sub.set_norm_factors(self.layers["norm_factors"][:, refit])      # same factors, replaced counts
        sub.fit_genewise_dispersions()
        sub.uns["disp_function_type"] = self.uns["disp_function_type"]   # trend and prior not refitted
        for key in ("trend_coeffs", "mean_disp"):
            if key in self.uns:
                sub.uns[key] = self.uns[key]
        sub.var["fitted_dispersions"] = sub.disp_function(sub.var["_normed_means"])
        sub.uns["_squared_logres"] = self.uns["_squared_logres"]
        sub.uns["prior_disp_var"] = self.uns["prior_disp_var"]
        sub.fit_MAP_dispersions()
        sub.fit_LFC()
        for col in ("_normed_means", "genewise_dispersions", "fitted_dispersions", "dispersions"):
            self.var.loc[refit, col] = sub.var[col].to_numpy()
        self.varm["LFC"][refit] = sub.varm["LFC"].to_numpy()
        self.layers["replace_cooks"] = self.layers["cooks"].copy()
        for col in np.flatnonzero(refit):
            self.layers["replace_cooks"][self.obs["replaceable"].to_numpy(dtype=bool), col] = 0.0
