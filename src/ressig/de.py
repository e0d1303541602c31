"""Differential expression with PyDESeq2: resistant vs parental, with covariates.

The design is ``~ covariate_1 + ... + condition``. The condition is a categorical with the
**reference level first** (``parental``), so the condition coefficient — the one that is tested
and shrunk — is always *treatment vs reference* (``condition[T.resistant]``).
Size factors are PyDESeq2's defaults (median-of-ratios).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._log import log_warnings, logger
from .errors import RessigError

DE_COLUMNS = ["baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj",
              "log2FoldChange_shrunk", "lfcSE_shrunk", "tested"]


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
        ``(factor, treatment, reference)``.
    """

    table: pd.DataFrame
    normalized: pd.DataFrame
    vst: pd.DataFrame
    size_factors: pd.Series
    contrast: tuple[str, str, str]

    @property
    def name(self) -> str:
        """File-safe contrast name, e.g. ``resistant_vs_parental``."""
        return contrast_name(self.contrast[1], self.contrast[2])


def contrast_name(treatment: str, reference: str) -> str:
    """Name of a contrast as used in output file names."""
    return f"{treatment}_vs_{reference}"


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

    Raises
    ------
    RessigError
        Missing columns, levels absent, a group with fewer than two samples, a covariate with
        missing values, non-numeric continuous covariates, or a design that is not full rank
        (e.g. a batch confounded with condition).
    """
    where = f"{source}: " if source else ""
    for col in [condition, *covariates]:
        if col not in samples.columns:
            raise RessigError(f"{where}sample sheet has no column {col!r} named in the config "
                              f"(columns: {', '.join(samples.columns)})")
    values = samples[condition]
    unknown = sorted(set(values) - {reference, treatment})
    if unknown:
        raise RessigError(f"{where}column {condition!r} has level(s) {', '.join(map(repr, unknown))} that are "
                          f"neither reference {reference!r} nor treatment {treatment!r}; fix the sheet or "
                          "the config's condition levels")
    for level, role in ((reference, "reference"), (treatment, "treatment")):
        n = int((values == level).sum())
        if n == 0:
            raise RessigError(f"{where}{role} level {level!r} does not occur in column {condition!r} (levels present: "
                              f"{', '.join(sorted(set(values)))}); set design.{role} to a level of the sheet")
        if n < 2:
            raise RessigError(f"{where}{role} level {level!r} of {condition!r} has {n} sample(s); DE needs at "
                              "least 2 replicates per condition")
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
    meta[condition] = pd.Categorical(values, categories=[reference, treatment])
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


def _deseq2_r_parity(dds) -> None:
    """Run PyDESeq2's ``deseq2()`` steps with R DESeq2's trend fit and dispersion prior.

    Two steps differ from PyDESeq2 0.5 and are done the R way, through PyDESeq2's own objects:

    * the parametric trend ``a0 + a1/mean`` is fitted like R's ``parametricDispersionFit``
      (genes with gene-wise dispersion > 100 * min_disp; gamma GLM by IRLS to R's tolerance;
      the curve outlier set recomputed from all those genes each round). PyDESeq2's own fit
      (and its mean-trend fallback) is kept when R's would fail (R then switches to a local fit);
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
    use = nz & (gene_disp > 100 * dds.min_disp)
    coefs = _parametric_trend_r(means[use], gene_disp[use]) if dds.fit_type == "parametric" and use.any() \
        else None
    if coefs is None:
        dds.fit_dispersion_trend()
    else:
        dds.uns["trend_coeffs"] = pd.Series(coefs, index=["a0", "a1"])
        dds.uns["disp_function_type"] = "parametric"
        fitted = np.full(dds.n_vars, np.nan)
        fitted[nz] = dds.disp_function(means[nz])
        dds.var["fitted_dispersions"] = fitted
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
) -> DEResult:
    """Run PyDESeq2 for *treatment vs reference* and return tables ready to write.

    Parameters
    ----------
    counts
        Genes × samples raw integer counts (columns must match ``samples.index``).
    samples
        Sample sheet indexed by sample name.
    condition, reference, treatment
        Condition column and its two levels; the log2 fold change is treatment / reference.
    covariates, continuous
        Extra design terms (entered before the condition); those in ``continuous`` are numeric.
    min_count, min_samples
        Pre-filter: keep genes with ``>= min_count`` reads in ``>= min_samples`` samples
        (default: the size of the smaller condition group).
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
    """
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.ds import DeseqStats

    from .engine import vst

    meta = build_metadata(samples, condition, reference, treatment, covariates, continuous)
    counts = counts.loc[:, meta.index]
    if min_samples is None:
        min_samples = int(meta[condition].value_counts().min())
    keep = filter_counts(counts, min_count, min_samples)
    if keep.sum() < 2:
        raise RessigError(f"only {int(keep.sum())} gene(s) pass the count filter (>= {min_count} reads in >= "
                          f"{min_samples} samples); lower de.min_count")
    logger.info("DE %s vs %s: %d samples, design %s, %d/%d genes pass the count filter",
                treatment, reference, len(meta), design_formula(condition, covariates), int(keep.sum()), len(keep))
    coeff = f"{condition}[T.{treatment}]"
    inference = make_inference(engine, n_cpus)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # pydeseq2's own warnings (convergence, Cook's ...) are logged below
        for noise in (DeprecationWarning, FutureWarning):  # library-internal API notices, not about the data
            warnings.simplefilter("ignore", noise)
        dds = DeseqDataSet(counts=counts.loc[keep].T, metadata=meta, design=design_formula(condition, covariates),
                           quiet=True, inference=inference)
        logger.info("fitting size factors, dispersions and log fold changes")
        _deseq2_r_parity(dds)
        ds = DeseqStats(dds, contrast=[condition, treatment, reference], alpha=alpha, quiet=True,
                        inference=inference)
        ds.summary()
        res = ds.results_df.copy()
        if shrink:
            logger.info("shrinking log2 fold changes of %s", coeff)
            ds.lfc_shrink(coeff=coeff)
            res["log2FoldChange_shrunk"] = ds.results_df["log2FoldChange"]
            res["lfcSE_shrunk"] = ds.results_df["lfcSE"]
        else:
            res["log2FoldChange_shrunk"] = res["log2FoldChange"]
            res["lfcSE_shrunk"] = res["lfcSE"]
        vst_values = vst(dds, blind=True)
    log_warnings(caught, "pydeseq2")

    size_factors = pd.Series(np.asarray(dds.obs["size_factors"], dtype=float), index=meta.index, name="size_factor")
    normalized = counts.div(size_factors, axis=1)
    vst_table = pd.DataFrame(vst_values.T, index=counts.index[keep], columns=meta.index)

    table = pd.DataFrame(index=counts.index, columns=DE_COLUMNS[:-1], dtype=float)
    table.loc[res.index, res.columns.intersection(DE_COLUMNS)] = res[res.columns.intersection(DE_COLUMNS)]
    table["baseMean"] = normalized.mean(axis=1)
    table["tested"] = keep
    table.index.name = "gene_id"
    order = np.lexsort((table.index.to_numpy(dtype=str), table["pvalue"].fillna(2.0).to_numpy(),
                        table["padj"].fillna(2.0).to_numpy()))
    table = table.iloc[order][DE_COLUMNS]
    n_sig = int((table["padj"] < alpha).sum())
    logger.info("DE done: %d genes with padj < %g (%d up, %d down)", n_sig, alpha,
                int(((table["padj"] < alpha) & (table["log2FoldChange"] > 0)).sum()),
                int(((table["padj"] < alpha) & (table["log2FoldChange"] < 0)).sum()))
    return DEResult(table=table, normalized=normalized, vst=vst_table, size_factors=size_factors,
                    contrast=(condition, treatment, reference))


def write_de(result: DEResult, outdir: str | Path) -> list[Path]:
    """Write the DE table, normalised counts, VST matrix and size factors, all or none of them."""
    from ._atomic import atomic_group, write_table

    outdir = Path(outdir)
    with atomic_group():
        return [
            write_table(result.table, outdir / f"{result.name}.tsv"),
            write_table(result.normalized, outdir / "normalized_counts.tsv"),
            write_table(result.vst, outdir / "vst.tsv"),
            write_table(result.size_factors.to_frame(), outdir / "size_factors.tsv"),
        ]


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
