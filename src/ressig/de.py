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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._log import log_warnings, logger
from .errors import RessigError

DE_COLUMNS = ["baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj",
              "log2FoldChange_shrunk", "lfcSE_shrunk", "tested"]
LRT_COLUMNS = ["baseMean", "stat", "df", "pvalue", "padj", "tested"]


@dataclass
class DEResult:
    """Everything the DE step produces.

    Attributes
    ----------
    table
        One row per gene (all input genes; genes removed by the count filter have
        ``tested == False`` and missing statistics), sorted by ``padj``, ``pvalue``, gene id.
    normalized
        Genes × samples counts divided by size factors (all genes).
    vst
        Genes × samples variance-stabilised expression of tested genes (blind to the design).
    size_factors
        One per sample.
    contrast
        ``(factor, treatment, reference)`` of the first contrast (the one ``table`` holds).
    tables
        Every contrast's table (columns and order as ``table``), keyed by contrast name, in the
        order requested; all from the same fitted model.
    lrt
        Likelihood-ratio test table (:data:`LRT_COLUMNS`, all genes) or ``None``.
    normalization
        ``"size_factors"`` (median-of-ratios) or ``"avgTxLength"`` (per-gene, per-sample
        normalisation factors from tximport's average transcript lengths,
        :mod:`ressig.normfactors`; ``size_factors`` then holds the size factors of
        ``counts / lengths`` and ``normalized`` is ``counts / nf``).
    fit_type
        The dispersion trend actually fitted (``parametric``, ``local`` or ``mean``; R's
        ``attr(dispersionFunction(dds), "fitType")``, :mod:`ressig.dispfit`).
    """

    table: pd.DataFrame
    normalized: pd.DataFrame
    vst: pd.DataFrame
    size_factors: pd.Series
    contrast: tuple[str, str, str]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    lrt: pd.DataFrame | None = None
    normalization: str = "size_factors"
    fit_type: str = "parametric"

    @property
    def name(self) -> str:
        """File-safe contrast name, e.g. ``resistant_vs_parental``."""
        return contrast_name(self.contrast[1], self.contrast[2])


def contrast_name(treatment: str, reference: str) -> str:
    """Name of a contrast as used in output file names."""
    return f"{treatment}_vs_{reference}"


def parse_contrast(text: str) -> tuple[str, str]:
    """``"TREATMENT:REFERENCE"`` -> ``(treatment, reference)``.

    Raises
    ------
    RessigError
        Not exactly one ``:``, or an empty side.
    """
    parts = text.split(":")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise RessigError(f"contrast {text!r} is not TREATMENT:REFERENCE (two condition levels separated by "
                          "one ':'); e.g. --contrast resistant:parental")
    return parts[0].strip(), parts[1].strip()


def check_contrasts(contrasts: Sequence[tuple[str, str]], levels: Sequence[str], condition: str,
                    where: str = "") -> None:
    """Refuse contrasts naming an absent level, a level against itself, or repeated contrasts."""
    seen = set()
    for treatment, reference in contrasts:
        label = f"{treatment}:{reference}"
        if treatment == reference:
            raise RessigError(f"{where}contrast {label!r} compares level {treatment!r} with itself; name two "
                              f"different levels of {condition!r}")
        for level in (treatment, reference):
            if level not in levels:
                raise RessigError(f"{where}contrast {label!r} names level {level!r}, which does not occur in "
                                  f"column {condition!r} (levels present: {', '.join(levels)}); fix the contrast "
                                  "or the sample sheet")
        if (treatment, reference) in seen:
            raise RessigError(f"{where}contrast {label!r} is given twice; list each contrast once")
        seen.add((treatment, reference))


def build_metadata(
    samples: pd.DataFrame,
    condition: str,
    reference: str,
    treatment: str,
    covariates: Sequence[str] = (),
    continuous: Sequence[str] = (),
    source: str | None = None,
) -> pd.DataFrame:
    """Build the DE metadata (condition categorical with reference first) and check the design.

    Every level of the condition column enters the model: ``reference`` first, then the other
    levels sorted (``treatment`` among them). Levels named in no contrast still share the size
    factors and dispersions.

    Raises
    ------
    RessigError
        Missing columns, reference/treatment absent, a level with fewer than two samples, a covariate with
        missing values, non-numeric continuous covariates, or a design that is not full rank
        (e.g. a batch confounded with condition).
    """
    where = f"{source}: " if source else ""
    for col in [condition, *covariates]:
        if col not in samples.columns:
            raise RessigError(f"{where}sample sheet has no column {col!r} named in the config "
                              f"(columns: {', '.join(samples.columns)})")
    values = samples[condition].astype(str)
    present = sorted(set(values))
    for level, role in ((reference, "reference"), (treatment, "treatment")):
        if level not in present:
            raise RessigError(f"{where}{role} level {level!r} does not occur in column {condition!r} (levels present: "
                              f"{', '.join(present)}); set design.{role} to a level of the sheet")
    for level in [reference, treatment, *present]:
        n = int((values == level).sum())
        if n < 2:
            role = {reference: "reference level", treatment: "treatment level"}.get(level, "level")
            raise RessigError(f"{where}{role} {level!r} of {condition!r} has {n} sample(s); DE needs at "
                              "least 2 replicates per condition level (drop the sample or add replicates)")
    meta = pd.DataFrame(index=samples.index)
    for col in covariates:
        vals = samples[col]
        if (vals.astype(str).str.strip() == "").any():
            bad = vals.index[vals.astype(str).str.strip() == ""][0]
            raise RessigError(f"{where}covariate {col!r} is empty for sample {bad!r}; fill it in or drop the covariate")
        if col in continuous:
            num = pd.to_numeric(vals, errors="coerce")
            if num.isna().any():
                bad = vals.index[num.isna()][0]
                raise RessigError(f"{where}continuous covariate {col!r} has non-numeric value {vals[bad]!r} "
                                  f"for sample {bad!r}")
            meta[col] = num.astype(float)
        else:
            if vals.nunique() < 2:
                raise RessigError(f"{where}covariate {col!r} has a single level; remove it from design.covariates")
            meta[col] = pd.Categorical(vals.astype(str), categories=sorted(vals.astype(str).unique()))
    meta[condition] = pd.Categorical(values, categories=[reference, *[lv for lv in present if lv != reference]])
    _check_full_rank(meta, condition, covariates, where)
    return meta


def design_formula(condition: str, covariates: Sequence[str] = ()) -> str:
    """``~ cov1 + cov2 + condition`` (condition last: it is the tested coefficient)."""
    return "~" + " + ".join([*covariates, condition])


def design_matrix(meta: pd.DataFrame, condition: str, covariates: Sequence[str] = ()) -> np.ndarray:
    """Model matrix of ``~ covariates + condition`` (treatment coding; condition coefficient last).

    ``meta`` holds categoricals (first category = reference level) and numeric continuous
    covariates, as made by :func:`build_metadata`.
    """
    from formulaic import model_matrix

    return np.asarray(model_matrix(design_formula(condition, covariates), meta, na_action="ignore"), dtype=float)


def _full_rank(mm: np.ndarray) -> bool:
    return bool(np.linalg.matrix_rank(mm) == mm.shape[1])


def _check_full_rank(meta: pd.DataFrame, condition: str, covariates: Sequence[str], where: str) -> None:
    mm = design_matrix(meta, condition, covariates)
    if not _full_rank(mm):
        confounded = [c for c in covariates if not _full_rank(design_matrix(meta, condition, [c]))]
        which = f"covariate(s) {', '.join(confounded)} confounded with {condition!r}" if confounded else \
            "covariates are linearly dependent"
        raise RessigError(f"{where}design {design_formula(condition, covariates)} is not full rank: {which}; "
                          "remove the covariate or add samples that break the confounding")
    if mm.shape[0] <= mm.shape[1]:
        raise RessigError(f"{where}design {design_formula(condition, covariates)} has {mm.shape[1]} coefficients "
                          f"but only {mm.shape[0]} samples: no residual degrees of freedom")


def filter_counts(counts: pd.DataFrame, min_count: int, min_samples: int) -> pd.Series:
    """Boolean mask of genes with at least ``min_count`` reads in at least ``min_samples`` samples."""
    return (counts >= min_count).sum(axis=1) >= min_samples


def _gamma_identity_glm(x: np.ndarray, y: np.ndarray, start: np.ndarray, maxit: int = 25,
                        epsilon: float = 1e-8) -> tuple[np.ndarray, bool]:
    """R ``glm(y ~ x, family = Gamma(link = "identity"), start = start)`` by IRLS (``glm.fit``).

    Returns the coefficients (intercept, slope) and whether the deviance converged.
    """
    design = np.column_stack([np.ones_like(x), x])
    coef = np.asarray(start, dtype=float)
    mu = design @ coef
    if np.any(mu <= 0):
        return coef, False

    def deviance(m: np.ndarray) -> float:
        return float(-2.0 * np.sum(np.log(y / m) - (y - m) / m))

    dev_old = deviance(mu)
    for _ in range(maxit):
        w = 1.0 / mu**2                      # working weights: (dmu/deta)^2 / V(mu), V = mu^2
        xtw = design.T * w
        new = np.linalg.solve(xtw @ design, xtw @ y)   # working response z = eta + (y - mu) = y
        mu_new = design @ new
        halvings = 0
        while np.any(mu_new <= 0) and halvings < 30:  # glm.fit step halving on invalid mu
            new = (new + coef) / 2.0
            mu_new = design @ new
            halvings += 1
        if np.any(mu_new <= 0):
            return new, False
        coef, mu = new, mu_new
        dev = deviance(mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            return coef, True
        dev_old = dev
    return coef, False


def _parametric_trend_r(means: np.ndarray, disps: np.ndarray) -> np.ndarray | None:
    """DESeq2's ``parametricDispersionFit``: ``disp = a0 + a1 / mean`` by iterated gamma GLM.

    ``means``/``disps`` are the genes R uses for the fit (``dispGeneEst > 100 * minDisp``).
    Each round refits on genes whose ratio to the current curve lies in (1e-4, 15), starting from
    ``(0.1, 1)``. Returns ``None`` when R would give up (non-positive coefficients or no
    convergence in 10 rounds).
    """
    coefs = np.array([0.1, 1.0])
    for _ in range(11):
        ratio = disps / (coefs[0] + coefs[1] / means)
        good = (ratio > 1e-4) & (ratio < 15)
        if good.sum() < 2:
            return None
        new, converged = _gamma_identity_glm(1.0 / means[good], disps[good], coefs)
        old, coefs = coefs, new
        if not np.all(coefs > 0):
            return None
        if np.sum(np.log(coefs / old) ** 2) < 1e-6 and converged:
            return coefs
    return None


_PRIOR_BREAKS = np.arange(-20, 21) / 2.0


def _loess_quadratic(x: np.ndarray, y: np.ndarray, xnew: np.ndarray, span: float) -> np.ndarray:
    """Local quadratic regression with tricube weights (R ``loess(degree = 2)``, exact surface)."""
    q = int(np.floor(len(x) * span))
    d = np.abs(xnew[:, None] - x[None, :])
    h = np.sort(d, axis=1)[:, q - 1]
    w = np.clip(1.0 - (d / h[:, None]) ** 3, 0.0, None) ** 3
    dx = x[None, :] - xnew[:, None]
    moments = np.stack([(w * dx**k).sum(axis=1) for k in range(5)], axis=1)
    lhs = np.stack([moments[:, i:i + 3] for i in range(3)], axis=1)       # (n_new, 3, 3)
    rhs = np.stack([(w * dx**k * y[None, :]).sum(axis=1) for k in range(3)], axis=1)
    return np.linalg.solve(lhs, rhs[:, :, None])[:, 0, 0]


def _small_df_prior_var(residuals: np.ndarray, df: int, n_sim: int = 10_000) -> float:
    """DESeq2's dispersion prior variance for residual df <= 3 (``estimateDispersionsPriorVar``).

    R matches the histogram (breaks -10..10 by 0.5) of the log dispersion residuals to that of
    ``log(chisq_df / df) + N(0, v)`` by Kullback-Leibler divergence over a grid of 200 ``v`` in
    [0, 8], smooths the divergences with ``loess(span = 0.2)``, takes the argmin on a 1000-point
    grid and floors it at 0.25. R draws the reference histograms by Monte Carlo (1e4 draws,
    ``set.seed(2)``); here they are computed exactly (the expectation of R's draws), which makes
    the estimator deterministic without R's random number generator. The divergence floor
    ``small`` is the smallest positive density either histogram can show, as in R.
    """
    from scipy import stats
    from scipy.special import ndtr

    brks = _PRIOR_BREAKS
    obs = residuals[(residuals > brks[0]) & (residuals < brks[-1])]
    counts, _ = np.histogram(obs, brks)
    obs_density = counts / (counts.sum() * 0.5)
    # exact mass of Y = log(chisq_df / df) in fine cells, then convolved with N(0, v)
    edges = np.arange(-30.0, 5.0 + 1e-9, 0.02)
    cell_mass = np.diff(stats.chi2.cdf(df * np.exp(edges), df))
    mids = (edges[:-1] + edges[1:]) / 2.0
    grid = np.linspace(0.0, 8.0, 200)
    kl = np.empty(len(grid))
    obs_min = obs_density[obs_density > 0].min()
    for i, v in enumerate(grid):
        if v == 0:
            mass = np.diff(stats.chi2.cdf(df * np.exp(brks), df))
        else:
            mass = cell_mass @ np.diff(ndtr((brks[None, :] - mids[:, None]) / np.sqrt(v)), axis=1)
        rand_density = mass / (mass.sum() * 0.5)
        small = min(obs_min, 1.0 / (n_sim * mass.sum() * 0.5))
        kl[i] = np.sum(obs_density * (np.log(obs_density + small) - np.log(rand_density + small)))
    fine = np.linspace(0.0, 8.0, 1000)
    return float(max(fine[np.argmin(_loess_quadratic(grid, kl, fine, span=0.2))], 0.25))


def _refit_unconverged_map(dds) -> int:
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


def _deseq2_r_parity(dds, fit_type: str = "parametric") -> None:
    """Run PyDESeq2's ``deseq2()`` steps with R DESeq2's trend fit and dispersion prior.

    Two steps differ from PyDESeq2 0.5 and are done the R way, through PyDESeq2's own objects:

    * the trend is chosen and fitted like R's ``estimateDispersionsFit``
      (:func:`ressig.dispfit.estimate_dispersions_fit`; ``fit_type`` parametric / local / mean):
      the parametric ``a0 + a1/mean`` like R's ``parametricDispersionFit`` (genes with gene-wise
      dispersion > 100 * min_disp; gamma GLM by IRLS to R's tolerance; the curve outlier set
      recomputed from all those genes each round) and, where R's would fail, R's switch to the
      local (locfit) fit, :mod:`ressig.locfit`; the fit used is ``dds.uns["disp_function_type"]``;
    * the dispersion prior variance: for residual df <= 3 R's simulation-matching estimator
      (:func:`_small_df_prior_var`) replaces PyDESeq2's MAD-based one (which it warns about).

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

    trend = estimate_dispersions_fit(means[nz], gene_disp[nz], fit_type, dds.min_disp, _parametric_trend_r)
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
        prior = _small_df_prior_var(resid[above], df)
        logger.info("residual df = %d: dispersion prior variance %.4g (DESeq2 small-sample estimator)", df, prior)
    else:
        prior = max(squared_logres - float(polygamma(1, df / 2)), 0.25)
    dds.uns["prior_disp_var"] = np.asarray(prior)
    dds.fit_MAP_dispersions()
    if not getattr(dds.inference, "map_grid_with_prior", False):  # ressig's engine already does it
        _refit_unconverged_map(dds)
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
        from .engine import VectorizedInference

        return VectorizedInference(n_cpus=max(1, int(n_cpus)))
    if engine == "pydeseq2":
        from pydeseq2.default_inference import DefaultInference

        return DefaultInference(n_cpus=max(1, int(n_cpus)))
    raise RessigError(f"unknown DE engine {engine!r}; use one of {', '.join(ENGINES)}")


def lrt(dds, reduced_design: np.ndarray, alpha: float = 0.05) -> pd.DataFrame:
    """Likelihood-ratio test of a fitted PyDESeq2 model against a reduced design (DESeq2 ``nbinomLRT``).

    The full and reduced models are fitted by the engine's IRLS
    (:meth:`ressig.engine.VectorizedInference.irls`) with the full model's size
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

    from .engine import VectorizedInference, _nb_loglik

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
        return _nb_loglik(counts.T, mu.T, disp)

    ll_full, ll_red = loglik(full), loglik(reduced_design)
    stat = np.maximum(2.0 * (ll_full - ll_red), 0.0)
    # reuse PyDESeq2's Cook's filtering and independent filtering (R results() semantics) on the LRT p
    ds = DeseqStats(dds, contrast=np.eye(full.shape[1])[-1], alpha=alpha, quiet=True, inference=dds.inference)
    ds.p_values = pd.Series(chi2.sf(stat, df), index=dds.var_names)
    ds.statistics = pd.Series(stat, index=dds.var_names)
    ds._cooks_filtering()
    ds._independent_filtering()
    return pd.DataFrame({"baseMean": ds.base_mean, "stat": stat, "df": float(df), "pvalue": ds.p_values,
                         "padj": ds.padj}, index=dds.var_names)


def _contrast_stats(dds, meta: pd.DataFrame, condition: str, covariates: Sequence[str], treatment: str,
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
        ``"ressig"`` (default): :class:`ressig.engine.VectorizedInference`, all genes fitted at
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
        (``DESeqDataSetFromTximport``; :mod:`ressig.normfactors`) instead of size factors.
        Needs ``engine="ressig"``.
    fit_type
        Dispersion trend, R's ``fitType``: ``"parametric"`` (with R's automatic switch to the
        local fit when it fails), ``"local"`` or ``"mean"`` (:mod:`ressig.dispfit`).
    """
    from pydeseq2.dds import DeseqDataSet

    from .engine import vst
    from .normfactors import METHOD_LENGTHS, METHOD_SIZE_FACTORS, NormFactorDataSet, norm_factors

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
        _deseq2_r_parity(dds, fit_type)
        results = {contrast_name(t, r): _contrast_stats(dds, meta, condition, covariates, t, r, alpha, shrink,
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


def consensus_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One DE-format table whose calls are the genes changed the same way in **every** contrast.

    Per gene: ``padj``/``pvalue`` the largest over the contrasts, ``baseMean`` the smallest,
    each log2 fold-change column (and ``stat``) the value of smallest magnitude when all
    contrasts agree in sign, else 0, ``tested`` only if tested in all. Any threshold rule
    (padj, |log2FC|, baseMean) applied to it selects exactly the genes passing it in every
    contrast with one direction — the consensus signature.
    """
    if not tables:
        raise RessigError("a consensus needs at least one contrast table")
    frames = list(tables.values())
    genes = frames[0].index
    for f in frames[1:]:
        genes = genes.intersection(f.index)
    out = pd.DataFrame(index=genes)
    out.index.name = "gene_id"
    for col in DE_COLUMNS:
        vals = np.column_stack([f.loc[genes, col].to_numpy() for f in frames])
        if col == "tested":
            out[col] = vals.astype(bool).all(axis=1)
        elif col in ("padj", "pvalue", "lfcSE", "lfcSE_shrunk"):
            out[col] = np.max(vals.astype(float), axis=1)
        elif col == "baseMean":
            out[col] = np.min(vals.astype(float), axis=1)
        else:
            v = vals.astype(float)
            same = (np.all(v > 0, axis=1) | np.all(v < 0, axis=1))
            smallest = v[np.arange(len(v)), np.argmin(np.abs(np.nan_to_num(v, nan=np.inf)), axis=1)]
            out[col] = np.where(same, smallest, np.where(np.isnan(v).any(axis=1), np.nan, 0.0))
    return out


def write_de(result: DEResult, outdir: str | Path) -> list[Path]:
    """Write every contrast's DE table, normalised counts, VST matrix, size factors (and ``lrt.tsv``), all or none."""
    from ._atomic import atomic_group, write_table

    outdir = Path(outdir)
    tables = result.tables or {result.name: result.table}
    with atomic_group():
        files = [write_table(table, outdir / f"{name}.tsv") for name, table in tables.items()]
        files += [
            write_table(result.normalized, outdir / "normalized_counts.tsv"),
            write_table(result.vst, outdir / "vst.tsv"),
            write_table(result.size_factors.to_frame().assign(normalization=result.normalization,
                                                              fit_type=result.fit_type),
                        outdir / "size_factors.tsv"),
        ]
        if result.lrt is not None:
            files.append(write_table(result.lrt, outdir / "lrt.tsv"))
    return files


def read_de(path: str | Path) -> pd.DataFrame:
    """Read a DE table written by :func:`write_de` (indexed by gene id), checking its columns."""
    from .errors import input_error
    from .io import read_table

    df = read_table(path, "DE table")
    missing = [c for c in ["gene_id", *DE_COLUMNS] if c not in df.columns]
    if missing:
        raise input_error(path, f"not a ressig DE table: missing column(s) {', '.join(missing)}",
                          "Use the results/de/<contrast>.tsv written by 'ressig de'")
    df = df.set_index("gene_id")
    num = [c for c in DE_COLUMNS if c != "tested"]
    df[num] = df[num].apply(pd.to_numeric, errors="coerce")
    df["tested"] = df["tested"].astype(str).str.lower() == "true"
    return df


def plot_de(de_path: str | Path, volcano_path: str | Path, ma_path: str | Path, alpha: float = 0.05,
            label: Sequence[str] = ("ABCB1", "IL3RA")) -> list[Path]:
    """Volcano and MA plots of a DE table file."""
    from . import plots
    from ._atomic import save_figure

    de = read_de(de_path)
    title = Path(de_path).stem.replace("_", " ")
    return [save_figure(plots.volcano(de, alpha, label=label, title=title), volcano_path),
            save_figure(plots.ma_plot(de, alpha, label=label, title=title), ma_path)]


def contrast_matrix(tables: dict[str, pd.DataFrame], genes: Sequence[str], alpha: float = 0.05
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """log2FC of ``genes`` (those present) across contrasts, and the padj < ``alpha`` up/down calls of
    every gene (``+1``/``-1``/``0``, genes × contrasts)."""
    present = [g for g in dict.fromkeys(genes) if all(g in t.index for t in tables.values())]
    lfc = pd.DataFrame({n: t.loc[present, "log2FoldChange"] for n, t in tables.items()}, index=present)
    calls = pd.DataFrame({n: np.sign(t["log2FoldChange"].where(t["padj"] < alpha, 0.0)).fillna(0.0)
                          for n, t in tables.items()}).fillna(0.0).astype(int)
    return lfc, calls
