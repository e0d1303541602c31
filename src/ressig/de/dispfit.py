"""The dispersion trend the way R DESeq2's ``estimateDispersionsFit`` chooses and fits it.

``fitType``:

* ``"parametric"`` (default): ``disp = a0 + a1 / mean`` (R's ``parametricDispersionFit``). When
  that fit fails (a coefficient not positive, or no convergence in 10 rounds) R prints
  :data:`SUBSTITUTION_MESSAGE` and uses the local fit instead; so does this module;
* ``"local"``: R's ``localDispersionFit``, a locfit of log dispersion on log mean with weights =
  means (:func:`ressig.de.locfit.local_dispersion_fit`);
* ``"mean"``: the 0.1 %-trimmed mean of the gene-wise dispersions above ``10 * minDisp``.

All fits use the genes R uses: not all-zero, gene-wise dispersion ``> 100 * minDisp``. The
trend is then evaluated at every (non-zero) gene's mean. :func:`set_trend` stores it in a
PyDESeq2 ``DeseqDataSet``; :func:`trend_for_refit` makes the Cook's-outlier refit (a new
``DeseqDataSet`` that copies only ``uns["disp_function_type"]`` and the parametric
coefficients) evaluate the same trend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import RessigError
from .locfit import local_dispersion_fit

FIT_TYPES = ("parametric", "local", "mean")

#: R DESeq2's message when the parametric fit fails (``estimateDispersionsFit``), on one line.
SUBSTITUTION_MESSAGE = ("fitType='parametric', but the dispersion trend was not well captured by the function: "
                        "y = a/x + b, and a local regression fit was automatically substituted (as R DESeq2 "
                        "does); specify fitType 'local' or 'mean' to avoid this message next time")


@dataclass(frozen=True)
class DispersionTrend:
    """A fitted dispersion trend.

    Attributes
    ----------
    fit_type
        The fit actually used (``"parametric"``, ``"local"`` or ``"mean"``).
    requested
        The fit asked for.
    function
        ``means -> fitted dispersions``.
    coefficients
        ``(a0, a1)`` of the parametric fit, else ``None``.
    mean
        The mean dispersion of the ``"mean"`` fit, else ``None``.
    """

    fit_type: str
    requested: str
    function: Callable[[np.ndarray], np.ndarray]
    coefficients: np.ndarray | None = None
    mean: float | None = None

    @property
    def substituted(self) -> bool:
        """True when R's rule replaced a failed parametric fit by the local one."""
        return self.fit_type != self.requested


def check_fit_type(fit_type: str) -> str:
    """Return ``fit_type`` or raise a :class:`RessigError` naming the allowed values."""
    if fit_type not in FIT_TYPES:
        raise RessigError(f"unknown dispersion fit type {fit_type!r}; use one of {', '.join(FIT_TYPES)} "
                          "(de.fit_type / --fit-type)")
    return fit_type


def estimate_dispersions_fit(means: np.ndarray, gene_disps: np.ndarray, fit_type: str = "parametric",
                             min_disp: float = 1e-8,
                             parametric_fit: Callable[[np.ndarray, np.ndarray], np.ndarray | None] | None = None,
                             ) -> DispersionTrend:
    """R's ``estimateDispersionsFit`` on the non-zero genes' means and gene-wise dispersions.

    Parameters
    ----------
    means, gene_disps
        Mean of normalised counts and gene-wise dispersion estimate of every gene that is not
        all-zero.
    fit_type
        One of :data:`FIT_TYPES`.
    min_disp
        DESeq2's ``minDisp``.
    parametric_fit
        R's ``parametricDispersionFit`` on ``(means, disps)`` of the genes used, returning
        ``(a0, a1)`` or ``None`` where R stops with an error (ressig's is
        ``ressig.de.rparity.parametric_trend_r``; passed in so that this module does not depend on
        the DE module).

    Raises
    ------
    RessigError
        No gene-wise dispersion is above ``100 * min_disp`` (R stops there too), or an unknown
        ``fit_type``.
    """
    check_fit_type(fit_type)
    means = np.asarray(means, dtype=float)
    gene_disps = np.asarray(gene_disps, dtype=float)
    use = gene_disps > 100 * min_disp
    if not use.any():
        raise RessigError("all gene-wise dispersion estimates are within 2 orders of magnitude from the minimum "
                          "value, so no dispersion trend can be fitted (R DESeq2 stops here too); the counts "
                          "look Poisson: check that they are raw read counts of biological replicates")
    used = fit_type
    if fit_type == "parametric":
        if parametric_fit is None:
            raise ValueError("fit_type='parametric' needs parametric_fit")
        coefs = parametric_fit(means[use], gene_disps[use])
        if coefs is not None:
            a0, a1 = (float(c) for c in coefs)
            return DispersionTrend("parametric", fit_type, lambda m: a0 + a1 / np.asarray(m, dtype=float),
                                   coefficients=np.array([a0, a1]))
        used = "local"
    if used == "local":
        return DispersionTrend("local", fit_type, local_dispersion_fit(means[use], gene_disps[use], min_disp))
    for_mean = gene_disps > 10 * min_disp
    mean_disp = float(_trimmed_mean(gene_disps[for_mean], 0.001))
    return DispersionTrend("mean", fit_type, lambda m: np.full(np.shape(m), mean_disp), mean=mean_disp)


def _trimmed_mean(x: np.ndarray, trim: float) -> float:
    """R ``mean(x, trim = trim)``: drop ``floor(n * trim)`` values at each end."""
    x = np.sort(np.asarray(x, dtype=float))
    k = int(np.floor(len(x) * trim))
    return float(x[k:len(x) - k].mean())


def set_trend(dds, trend: DispersionTrend) -> None:
    """Store ``trend`` in a PyDESeq2 ``DeseqDataSet`` (``fitted_dispersions`` of the non-zero genes)."""
    nz = dds.var["non_zero"].to_numpy(dtype=bool)
    means = dds.var["_normed_means"].to_numpy(dtype=float)
    dds.uns["disp_function_type"] = trend.fit_type
    dds.uns["ressig_dispersion_trend"] = trend
    if trend.coefficients is not None:
        dds.uns["trend_coeffs"] = pd.Series(trend.coefficients, index=["a0", "a1"])
    if trend.mean is not None:
        dds.uns["mean_disp"] = trend.mean
    fitted = np.full(dds.n_vars, np.nan)
    fitted[nz] = trend.function(means[nz])
    dds.var["fitted_dispersions"] = fitted


@contextmanager
def trend_for_refit(trend: DispersionTrend) -> Iterator[None]:
    """Make every ``DeseqDataSet.disp_function`` evaluate ``trend`` while the block runs.

    PyDESeq2's Cook's refit builds a new ``DeseqDataSet`` and evaluates its ``disp_function``,
    which knows only the parametric and mean trends; R reuses the stored dispersion function
    whatever its type. The method is restored afterwards.
    """
    from pydeseq2.dds import DeseqDataSet

    original = DeseqDataSet.disp_function

    def disp_function(self, x):  # noqa: ANN001, ANN202 - PyDESeq2's signature
        return trend.function(np.asarray(x, dtype=float))

    DeseqDataSet.disp_function = disp_function
    try:
        yield
    finally:
        DeseqDataSet.disp_function = original
