"""Differential expression with PyDESeq2: one model over all condition levels, many contrasts.

The design is ``~ covariate_1 + ... + condition``. The condition is a categorical with the
**reference level first** (``parental``) and every other level of the sheet after it (sorted), so
levels named in no contrast still inform the size factors and dispersions. One model is fitted;
each contrast *treatment vs reference* is a Wald test of that model (R's
``results(dds, contrast = c("condition", treatment, reference))``). Shrunken log2 fold changes
are the apeGLM-style estimate of the contrast's own coefficient, with the model re-parametrised so
that the contrast's reference is the baseline level (what R's ``lfcShrink`` needs after
``relevel``): same fit, same dispersions. An optional likelihood-ratio test (:func:`lrt`) against
the design without the condition asks "changed in any group". Size factors are PyDESeq2's
defaults (median-of-ratios).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._log import log_warnings, logger
from ..errors import RessigError
from ..stats import independent_filtering
from .design import (
    build_metadata,
    check_contrasts,
    contrast_name,
    design_formula,
    design_matrix,
    filter_counts,
)
from .results import DE_COLUMNS, LRT_COLUMNS, DEResult
from .rparity import nb_loglik, parametric_trend_r, small_df_prior_var


def refit_unconverged_map(dds) -> int:
    """Re-estimate, with the prior, the MAP dispersions whose optimiser did not converge.

    PyDESeq2 (0.5.x) falls back to a grid search when L-BFGS-B reports failure, but that
    fallback omits the dispersion prior, so the "MAP" dispersion of such a gene is silently its
    unshrunken gene-wise estimate. Which genes fail depends on floating-point details (BLAS
    kernel, CPU), which made DE statistics differ between machines (SIM08192 of the demo: Wald
    statistic 11.6 with its MAP dispersion, 22.9 with its gene-wise one). DESeq2 in R falls back
    to ``fitDispGrid`` *with* the prior; this does the same through PyDESeq2's own grid search,
    then re-applies the dispersion-outlier rule. Returns the number of genes refitted.
    """
    from pydeseq2.grid_search import grid_fit_alpha

    var = dds.var
    failed = np.flatnonzero(var["non_zero"].to_numpy(dtype=bool) & (var["_MAP_converged"] == False).to_numpy())  # noqa: E712
    if not len(failed):
        return 0
    design = dds.obsm["design_matrix"].to_numpy(dtype=float)
    prior = float(dds.uns["prior_disp_var"])
    counts = np.asarray(dds.X)
    mu = np.asarray(dds.layers["_mu_hat"])
    fitted = var["fitted_dispersions"].to_numpy(dtype=float)
    map_disp = var["MAP_dispersions"].to_numpy(dtype=float).copy()
    for j in failed:
        alpha = np.exp(grid_fit_alpha(counts[:, j], design, mu[:, j], fitted[j], dds.min_disp, dds.max_disp,
                                      prior_disp_var=prior, cr_reg=True, prior_reg=True))
        map_disp[j] = np.clip(alpha, dds.min_disp, dds.max_disp)
    var["MAP_dispersions"] = map_disp
    dispersions = map_disp.copy()
    outlier = var["_outlier_genes"].to_numpy(dtype=bool)
    dispersions[outlier] = var["genewise_dispersions"].to_numpy(dtype=float)[outlier]
    var["dispersions"] = dispersions
    logger.info("%d gene(s): MAP dispersion optimiser did not converge; re-estimated with the prior by grid "
                "search (as DESeq2's fitDispGrid)", len(failed))
    return len(failed)


def deseq2_r_parity(dds, fit_type: str = "parametric") -> None:
    """Run PyDESeq2's ``deseq2()`` steps with R DESeq2's trend fit and dispersion prior.

    Two steps differ from PyDESeq2 0.5 and are done the R way, through PyDESeq2's own objects:

    * the trend is chosen and fitted like R's ``estimateDispersionsFit``
      (:func:`ressig.de.dispfit.estimate_dispersions_fit`; ``fit_type`` parametric / local / mean):
      the parametric ``a0 + a1/mean`` like R's ``parametricDispersionFit`` (genes with gene-wise
      dispersion > 100 * min_disp; gamma GLM by IRLS to R's tolerance; the curve outlier set
      recomputed from all those genes each round) and, where R's would fail, R's switch to the
      local (locfit) fit, :mod:`ressig.de.locfit`; the fit used is ``dds.uns["disp_function_type"]``;
    * the dispersion prior variance: for residual df <= 3 R's simulation-matching estimator
      (:func:`small_df_prior_var`) replaces PyDESeq2's MAD-based one (which it warns about).

    The squared MAD of the log residuals (``_squared_logres``, R's ``varLogDispEsts``) still sets the
    dispersion-outlier threshold, as in R.
    """
    from scipy.special import polygamma

    dds.fit_size_factors(fit_type=dds.size_factors_fit_type, control_genes=dds.control_genes)
    dds.fit_genewise_dispersions()
    var = dds.var
    nz = var["non_zero"].to_numpy(dtype=bool)
    gene_disp = var["genewise_dispersions"].to_numpy(dtype=float)
    means = var["_normed_means"].to_numpy(dtype=float)
    # issue 32: R's estimateDispersionsFit (parametric with R's switch to locfit, local, mean)
    from .dispfit import SUBSTITUTION_MESSAGE, estimate_dispersions_fit, set_trend, trend_for_refit

    trend = estimate_dispersions_fit(means[nz], gene_disp[nz], fit_type, dds.min_disp, parametric_trend_r)
    if trend.substituted:
        logger.warning("note: %s", SUBSTITUTION_MESSAGE)
    logger.info("dispersion trend: %s fit", trend.fit_type)
    set_trend(dds, trend)
    n_samples, n_coef = dds.obsm["design_matrix"].shape
    df = n_samples - n_coef
    resid = np.log(gene_disp[nz]) - np.log(dds.var["fitted_dispersions"].to_numpy(dtype=float)[nz])
    above = gene_disp[nz] >= 100 * dds.min_disp
    from scipy.stats import median_abs_deviation

    squared_logres = float(median_abs_deviation(resid[above], scale="normal") ** 2)
    dds.uns["_squared_logres"] = squared_logres
    if df <= 3:
        prior = small_df_prior_var(resid[above], df)
        logger.info("residual df = %d: dispersion prior variance %.4g (DESeq2 small-sample estimator)", df, prior)
    else:
        prior = max(squared_logres - float(polygamma(1, df / 2)), 0.25)
    dds.uns["prior_disp_var"] = np.asarray(prior)
    dds.fit_MAP_dispersions()
    if not getattr(dds.inference, "map_grid_with_prior", False):  # ressig's engine already does it
        refit_unconverged_map(dds)
    dds.fit_LFC()
    dds.calculate_cooks()
    if dds.refit_cooks:
        with trend_for_refit(trend):   # issue 32: the refit evaluates the trend actually fitted
            dds.refit()
    dds.cooks_outlier()


ENGINES = ("ressig", "pydeseq2")


def make_inference(engine: str = "ressig", n_cpus: int = 1):
    """PyDESeq2 ``Inference`` object for ``engine`` (see :data:`ENGINES`)."""
    if engine == "ressig":
        from .inference import VectorizedInference

        return VectorizedInference(n_cpus=max(1, int(n_cpus)))
    if engine == "pydeseq2":
        from pydeseq2.default_inference import DefaultInference

        return DefaultInference(n_cpus=max(1, int(n_cpus)))
    raise RessigError(f"unknown DE engine {engine!r}; use one of {', '.join(ENGINES)}")


def lrt(dds, reduced_design: np.ndarray, alpha: float = 0.05) -> pd.DataFrame:
    """Likelihood-ratio test of a fitted PyDESeq2 model against a reduced design (DESeq2 ``nbinomLRT``).

    The full and reduced models are fitted by the engine's IRLS
    (:meth:`ressig.de.inference.VectorizedInference.irls`) with the full model's size
    factors and final (MAP) dispersions, on the counts the Wald test used (Cook's outliers
    replaced for refitted genes); ``stat = 2 (logLik_full - logLik_reduced)`` is referred to
    chi-square with ``df = n_coef(full) - n_coef(reduced)``. p-values of Cook's outlier genes
    are dropped and ``padj`` is Benjamini-Hochberg after independent filtering on the mean of
    normalised counts, as R's ``results()`` does for the LRT.

    Returns
    -------
    DataFrame indexed by the model's genes with ``baseMean, stat, df, pvalue, padj``.
    """
    from pydeseq2.ds import DeseqStats
    from scipy.stats import chi2

    from .inference import VectorizedInference

    full = np.asarray(dds.obsm["design_matrix"], dtype=float)
    counts = np.array(dds.X, dtype=float)
    if getattr(dds, "counts_to_refit", None) is not None and dds.var.get("replaced", pd.Series(False)).any():
        cols = dds.var_names.get_indexer(dds.counts_to_refit.var_names)
        counts[:, cols] = np.asarray(dds.counts_to_refit.X, dtype=float)
    sf = np.asarray(dds.layers["norm_factors"], dtype=float).T if "norm_factors" in dds.layers \
        else np.asarray(dds.obs["size_factors"], dtype=float)        # genes x samples nf, or per sample
    disp = np.asarray(dds.var["dispersions"], dtype=float)
    df = full.shape[1] - reduced_design.shape[1]
    irls = VectorizedInference().irls   # DESeq2's fitNbinomGLMs: ridge 1e-6, means floored at 0.5

    def loglik(design: np.ndarray) -> np.ndarray:
        mu = irls(counts, sf, design, disp, min_mu=0.5, beta_tol=1e-8)[1]
        return nb_loglik(counts.T, mu.T, disp)

    ll_full, ll_red = loglik(full), loglik(reduced_design)
    stat = np.maximum(2.0 * (ll_full - ll_red), 0.0)
    # R results() semantics on the LRT p: Cook's outliers get no p-value, then BH with independent filtering
    ds = DeseqStats(dds, contrast=np.eye(full.shape[1])[-1], alpha=alpha, quiet=True, inference=dds.inference)
    pvalues = pd.Series(chi2.sf(stat, df), index=dds.var_names)
    pvalues[dds.cooks_outlier()] = np.nan
    padj = independent_filtering(pvalues, ds.base_mean, alpha)
    return pd.DataFrame({"baseMean": ds.base_mean, "stat": stat, "df": float(df), "pvalue": pvalues,
                         "padj": padj}, index=dds.var_names)


def contrast_stats(dds, meta: pd.DataFrame, condition: str, covariates: Sequence[str], treatment: str,
                    reference: str, alpha: float, shrink: bool, inference) -> pd.DataFrame:
    """Wald test (and optional apeGLM shrinkage) of one contrast of a fitted model.

    The Wald statistics come from the contrast vector of the fitted model. For shrinkage the
    model is re-parametrised with ``reference`` as the baseline level (design matrix and
    coefficients transformed exactly; fitted means, size factors and dispersions unchanged),
    so that ``condition[T.treatment]`` *is* the contrast and PyDESeq2's ``lfc_shrink`` shrinks
    it — R's ``relevel`` + ``lfcShrink(coef = ...)``. Other coefficients stay unshrunk.
    """
    from pydeseq2.ds import DeseqStats

    from .contrast_zero import contrast_all_zero, zero_wald_statistics
    from .normfactors import offsets

    ds = DeseqStats(dds, contrast=[condition, treatment, reference], alpha=alpha, quiet=True,
                    inference=inference)
    with offsets(dds):
        ds.run_wald_test()
        # issue 32: R's results() gives LFC 0, stat 0, p 1 where both levels are all zero
        zero = contrast_all_zero(np.asarray(dds.X), meta[condition].astype(str).to_numpy(), treatment, reference)
        if zero_wald_statistics(ds, zero):
            logger.info("%s vs %s: %d gene(s) with all-zero counts in both levels: log2FC 0, p = 1 (as R)",
                        treatment, reference, int(zero.sum()))
        ds.summary()
    res = ds.results_df.copy()
    res.loc[zero, "log2FoldChange"] = 0.0
    if not shrink:
        res["log2FoldChange_shrunk"] = res["log2FoldChange"]
        res["lfcSE_shrunk"] = res["lfcSE"]
        return res
    coeff = f"{condition}[T.{treatment}]"
    levels = list(meta[condition].cat.categories)
    if levels[0] != reference:
        relevelled = meta.copy()
        relevelled[condition] = relevelled[condition].cat.reorder_categories(
            [reference, *[lv for lv in levels if lv != reference]])
        from formulaic import model_matrix

        new_x = model_matrix(design_formula(condition, covariates), relevelled, na_action="ignore")
        old_x = np.asarray(ds.design_matrix, dtype=float)
        transform = np.linalg.lstsq(np.asarray(new_x, dtype=float), old_x, rcond=None)[0]   # old_x = new_x @ T
        ds.design_matrix = pd.DataFrame(np.asarray(new_x, dtype=float), index=ds.design_matrix.index,
                                        columns=list(new_x.columns))
        ds.LFC = pd.DataFrame(ds.LFC.to_numpy() @ transform.T, index=ds.LFC.index, columns=list(new_x.columns))
    logger.info("shrinking log2 fold changes of %s vs %s", treatment, reference)
    with offsets(dds, dds.non_zero_idx):
        ds.lfc_shrink(coeff=coeff)
    res["log2FoldChange_shrunk"] = ds.results_df["log2FoldChange"]
    res["lfcSE_shrunk"] = ds.results_df["lfcSE"]
    return res


def _gene_table(res: pd.DataFrame, columns: Sequence[str], genes: pd.Index, base_mean: pd.Series,
                keep: pd.Series) -> pd.DataFrame:
    """All-genes table (untested genes with missing statistics) sorted by padj, pvalue, gene id."""
    stats_cols = [c for c in columns if c not in ("baseMean", "tested")]
    table = pd.DataFrame(index=genes, columns=stats_cols, dtype=float)
    table.loc[res.index, stats_cols] = res[stats_cols]
    table["baseMean"] = base_mean
    table["tested"] = keep
    table.index.name = "gene_id"
    order = np.lexsort((table.index.to_numpy(dtype=str), table["pvalue"].fillna(2.0).to_numpy(),
                        table["padj"].fillna(2.0).to_numpy()))
    return table.iloc[order][list(columns)]


def run_de(
    counts: pd.DataFrame,
    samples: pd.DataFrame,
    condition: str = "condition",
    reference: str = "parental",
    treatment: str = "resistant",
    covariates: Sequence[str] = (),
    continuous: Sequence[str] = (),
    min_count: int = 10,
    min_samples: int | None = None,
    alpha: float = 0.05,
    shrink: bool = True,
    n_cpus: int = 1,
    engine: str = "ressig",
    contrasts: Sequence[tuple[str, str]] | None = None,
    lrt_test: bool = False,
    lengths: pd.DataFrame | None = None,
    fit_type: str = "parametric",
) -> DEResult:
    """Fit one PyDESeq2 model over all condition levels and test each contrast.

    Parameters
    ----------
    counts
        Genes × samples raw integer counts (columns must match ``samples.index``).
    samples
        Sample sheet indexed by sample name.
    condition, reference, treatment
        Condition column, the model's reference level (first level) and the treatment level of
        the default contrast; the log2 fold change is treatment / reference.
    covariates, continuous
        Extra design terms (entered before the condition); those in ``continuous`` are numeric.
    min_count, min_samples
        Pre-filter: keep genes with ``>= min_count`` reads in ``>= min_samples`` samples
        (default: the size of the smallest condition level).
    alpha
        Target FDR for independent filtering.
    shrink
        Also compute apeGLM-style shrunken log2 fold changes (``log2FoldChange_shrunk``);
        when false that column equals the MLE.
    n_cpus
        Worker processes for PyDESeq2 (pass the rule's ``threads``).
    engine
        ``"ressig"`` (default): :class:`ressig.de.inference.VectorizedInference`, all genes fitted at
        once with R DESeq2's algorithms; ``"pydeseq2"``: PyDESeq2's ``DefaultInference`` (one
        scipy optimisation per gene), kept for cross-checks.
    contrasts
        ``(treatment, reference)`` pairs of condition levels, each tested on the one fitted model
        (default: ``[(treatment, reference)]``). ``result.table`` is the first one's.
    lrt_test
        Also run the likelihood-ratio test of the full design against ``~ covariates`` (or
        ``~ 1``): "changed in any level" (``result.lrt``).
    lengths
        Genes × samples average transcript lengths (tximport, ``ressig prepare --out-lengths``):
        normalise with DESeq2's per-gene, per-sample normalisation factors
        (``DESeqDataSetFromTximport``; :mod:`ressig.de.normfactors`) instead of size factors.
        Needs ``engine="ressig"``.
    fit_type
        Dispersion trend, R's ``fitType``: ``"parametric"`` (with R's automatic switch to the
        local fit when it fails), ``"local"`` or ``"mean"`` (:mod:`ressig.de.dispfit`).
    """
    from pydeseq2.dds import DeseqDataSet

    from .normfactors import METHOD_LENGTHS, METHOD_SIZE_FACTORS, NormFactorDataSet, norm_factors
    from .vst import vst

    if lengths is not None and engine != "ressig":
        raise RessigError(f"DE engine {engine!r} cannot use transcript lengths (pydeseq2 has no normalisation "
                          "factors); use de.engine: ressig, or counts.counts_from_abundance: length_scaled_tpm")
    explicit = bool(contrasts)
    contrasts = [tuple(c) for c in contrasts] if explicit else [(treatment, reference)]
    if explicit and condition in samples.columns:
        check_contrasts(contrasts, sorted(set(samples[condition].astype(str))), condition)
    meta = build_metadata(samples, condition, reference, contrasts[0][0], covariates, continuous)
    counts = counts.loc[:, meta.index]
    if min_samples is None:
        min_samples = int(meta[condition].value_counts().min())
    keep = filter_counts(counts, min_count, min_samples)
    if keep.sum() < 2:
        raise RessigError(f"only {int(keep.sum())} gene(s) pass the count filter (>= {min_count} reads in >= "
                          f"{min_samples} samples); lower de.min_count")
    logger.info("DE: %d samples, levels %s, design %s, %d/%d genes pass the count filter; contrasts %s",
                len(meta), ", ".join(meta[condition].cat.categories), design_formula(condition, covariates),
                int(keep.sum()), len(keep), ", ".join(contrast_name(*c) for c in contrasts))
    inference = make_inference(engine, n_cpus)
    method = METHOD_SIZE_FACTORS if lengths is None else METHOD_LENGTHS
    logger.info("normalisation: %s", "median-of-ratios size factors" if lengths is None else
                "per-gene, per-sample normalisation factors from average transcript lengths (DESeq2 "
                "DESeqDataSetFromTximport + estimateNormFactors)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # pydeseq2's own warnings (convergence, Cook's ...) are logged below
        for noise in (DeprecationWarning, FutureWarning):  # library-internal API notices, not about the data
            warnings.simplefilter("ignore", noise)
        kwargs = dict(counts=counts.loc[keep].T, metadata=meta, design=design_formula(condition, covariates),
                      quiet=True, inference=inference)
        dds = DeseqDataSet(**kwargs) if lengths is None else \
            NormFactorDataSet(lengths=lengths.loc[counts.index[keep], meta.index].T, **kwargs)
        logger.info("fitting size factors, dispersions and log fold changes")
        deseq2_r_parity(dds, fit_type)
        results = {contrast_name(t, r): contrast_stats(dds, meta, condition, covariates, t, r, alpha, shrink,
                                                        inference)
                   for t, r in contrasts}
        lrt_res = None
        if lrt_test:
            reduced = design_matrix(meta, condition, covariates)[:, :-(len(meta[condition].cat.categories) - 1)]
            logger.info("likelihood-ratio test: %s vs %s", design_formula(condition, covariates),
                        "~" + (" + ".join(covariates) or "1"))
            lrt_res = lrt(dds, reduced, alpha)
        vst_values = vst(dds, blind=True)
    log_warnings(caught, "pydeseq2")

    if lengths is None:
        size_factors = pd.Series(np.asarray(dds.obs["size_factors"], dtype=float), index=meta.index,
                                 name="size_factor")
        normalized = counts.div(size_factors, axis=1)
    else:   # every gene's factors from the size factors of the tested genes (R: counts(dds, normalized=TRUE))
        size_factors = pd.Series(np.asarray(dds.obs["length_size_factors"], dtype=float), index=meta.index,
                                 name="size_factor")
        nf = norm_factors(lengths.loc[counts.index, meta.index].to_numpy(dtype=float), size_factors.to_numpy())
        normalized = counts / nf
    vst_table = pd.DataFrame(vst_values.T, index=counts.index[keep], columns=meta.index)
    base_mean = normalized.mean(axis=1)
    tables = {name: _gene_table(res, DE_COLUMNS, counts.index, base_mean, keep) for name, res in results.items()}
    for name, table in tables.items():
        sig = table["padj"] < alpha
        logger.info("%s: %d genes with padj < %g (%d up, %d down)", name, int(sig.sum()), alpha,
                    int((sig & (table["log2FoldChange"] > 0)).sum()), int((sig & (table["log2FoldChange"] < 0)).sum()))
    lrt_table = None
    if lrt_res is not None:
        lrt_table = _gene_table(lrt_res, LRT_COLUMNS, counts.index, base_mean, keep)
        logger.info("LRT: %d genes with padj < %g", int((lrt_table["padj"] < alpha).sum()), alpha)
    first = next(iter(tables))
    return DEResult(table=tables[first], normalized=normalized, vst=vst_table, size_factors=size_factors,
                    contrast=(condition, *contrasts[0]), tables=tables, lrt=lrt_table, normalization=method,
                    fit_type=str(dds.uns["disp_function_type"]))


