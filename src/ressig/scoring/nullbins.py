"""Expression-level bins of the matched null, whatever the signature's source.

The per-sample p-value compares a signature's score with random gene sets (:mod:`ressig.scoring.null`).
Random genes of any expression level make a p-value that means nothing for a set of
well-expressed genes (they outrank random genes in every sample): on scanpy's ``pbmc68k_reduced``
random 15-gene sets of the top-20% expressed genes get p < 0.05 in 93% of the cells. The
**matched** null draws, per expression-level bin, as many genes as the signature has there
(:class:`ressig.scoring.LevelBins`). Where the levels come from (recorded per signature in the
``null_method`` column of the score table, in ``.uns["ressig"]`` of :func:`ressig.tl.score`, and
in the log):

``matched:artefact``
    the levels frozen in the signature's artefact (``reference.gene_levels``: its parental
    training samples or its reference cohort), :data:`ressig.scoring.DEFAULT_LEVEL_BINS` bins;
``matched:reference``
    the levels of ``--null-reference`` (a dense genes × samples matrix: mean within-sample rank
    fraction, :func:`ressig.scoring.reference_levels`), for every signature;
``matched:cohort-mean``
    cells (``.h5ad``/10x/AnnData) scored with a signature that has no levels (a GMT, an artefact
    without levels): each gene's **mean expression over all cells of the cohort**, as scanpy's
    ``score_genes`` bins its control genes, cut into :data:`COHORT_BINS` (= scanpy's 25)
    quantile bins (:func:`cell_levels`);
``matched:cohort-rank``
    bulk, microarray and pseudobulk cohorts scored with such a signature: each gene's **mean
    within-sample rank fraction over all samples of the cohort** (:func:`rank_levels`; scale-free:
    counts, CPM, log and microarray intensities give the same levels), :data:`COHORT_BINS` bins;
``uniform``
    ``--null uniform``: singscore's random genes of any level (asked for, never a fallback);
``""``
    no random sets drawn (``--null-draws 0``, or no p-value column asked for).

**Cohort-level bins, single-sample scores.** Cohort-derived levels are a property of the cohort,
computed over all cells/samples whatever the shard (sharded runs are byte-identical to unsharded
ones): by a first pass in each run, or once per cohort by ``ressig null-levels`` and read by every
shard with ``--null-levels`` (:mod:`ressig.cohort.levels`). Once they are fixed, a sample's score and p-value depend only
on that sample's values; adding or removing samples can move a gene across a bin edge and so
change p-values slightly (never scores). For a p-value independent of the batch, freeze the levels:
an artefact's ``reference.gene_levels`` or a fixed ``--null-reference`` (a dense matrix: rank
levels; an ``.h5ad``/10x: its cells' mean expression, :data:`COHORT_BINS` bins). Cohorts under
:data:`MIN_COHORT_SAMPLES` cells/samples, or with too few genes for two bins of
:data:`MIN_BIN_GENES`, keep the uniform null with a warning (``uniform:unmatched``).

Measured (seeded test ``tests/test_nullbins.py``): ``pbmc68k_reduced`` raw (765 genes: 15 bins),
10 random 15-gene sets from the top-20% expressed genes and 10 from all genes, 200 draws: 5.5% and
5.0% of cells at p < 0.05 (uniform null: 94% and 2.9%; other seeds 4.0-6.4%). GEUVADIS (42 LCLs,
``tests/fixtures/humangender``), 1,000 random 30-gene sets, levels of the 42 scored samples
themselves: 4.75% at p < 0.05 and all 50 disjoint groups of 20 sets within [2%, 8%] (uniform
null: 43% of the groups; levels frozen from the other 43 samples: 98%).

Why mean expression for cells and rank fractions for bulk: both order genes almost identically on
cells (Spearman 0.997 on ``pbmc68k_reduced``, equal calibration), but the mean is one sparse
column sum per chunk while the rank fraction needs a ranking pass; bulk matrices are small enough
to rank, and rank fractions make the bins independent of the matrix's scale (counts vs log) and of
each sample's depth.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from .._log import logger
from ..errors import RessigError
from .kernels import rank_dense
from .types import BLOCK_CELLS

#: Quantile bins of cohort-derived levels (scanpy ``score_genes``'s ``n_bins`` default) ...
COHORT_BINS = 25
#: ... but at least this many genes per bin (scanpy's ``ctrl_size``: control genes drawn per bin),
#: so a random set never re-draws the signature's own genes: fewer bins on small gene panels, and
#: no matched null below two bins.
MIN_BIN_GENES = 50
#: Cohort-derived levels need at least this many cells/samples: in a smaller cohort each sample's
#: own ranks weigh on the levels its p-value is matched on (one sample alone would be matched to
#: itself and never be significant).
MIN_COHORT_SAMPLES = 20
#: Bulk cohort levels are estimated from at most this many samples, evenly spaced in sample-name
#: order (names, not file positions, decide; a gene's mean rank fraction over 250 samples is within
#: ~0.01 of the whole cohort's, a quarter of a bin's width): ranking a 2,000-sample cohort twice
#: would cost as much as its scores.
MAX_LEVEL_SAMPLES = 250
#: Cells read at once by the first pass over a cohort (fixed, so the levels never depend on the
#: scoring chunk size or the shard).
LEVEL_CHUNK = 10_000
#: ``null_method`` labels (see the module docstring).
UNIFORM, ARTEFACT, REFERENCE, COHORT_MEAN, COHORT_RANK, UNMATCHED = (
    "uniform", "matched:artefact", "matched:reference", "matched:cohort-mean", "matched:cohort-rank",
    "uniform:unmatched")


@dataclass(frozen=True)
class NullPlan:
    """Which null each signature gets and the levels/bins of the matched ones.

    Attributes
    ----------
    levels
        ``{signature: {gene: level}}`` of the matched signatures (ready for
        :func:`ressig.scoring.score_matrix`'s ``gene_levels``).
    bins
        ``{signature: number of level bins}`` (``level_bins``).
    method
        ``{signature: null_method label}`` for every signature.
    pending
        Signatures waiting for the cohort's own levels (:meth:`resolve`).
    """

    levels: dict[str, Mapping[str, float]] = field(default_factory=dict)
    bins: dict[str, int] = field(default_factory=dict)
    method: dict[str, str] = field(default_factory=dict)
    pending: tuple[str, ...] = ()

    def resolve(self, levels: Mapping[str, float], method: str, n_obs: int) -> NullPlan:
        """The plan with the ``pending`` signatures matched to the cohort's ``levels`` (of ``n_obs``
        cells/samples): :data:`COHORT_BINS` bins of at least :data:`MIN_BIN_GENES` genes. A cohort
        too small to match (fewer than :data:`MIN_COHORT_SAMPLES` samples, or genes for two bins)
        gets the uniform null, labelled ``uniform:unmatched``, with a warning saying why."""
        if not self.pending:
            return self
        n_bins = min(COHORT_BINS, len(levels) // MIN_BIN_GENES)
        why = (f"the cohort has {n_obs} cells/samples, too few to estimate its own gene levels (at least "
               f"{MIN_COHORT_SAMPLES})" if n_obs < MIN_COHORT_SAMPLES else
               f"the data has {len(levels)} genes, too few for two level bins of {MIN_BIN_GENES} genes"
               if n_bins < 2 else "")
        if why:
            logger.warning("matched null impossible for %s: %s; their p-values use the uniform null (null_method %s). "
                           "Give frozen levels (--null-reference FILE) to match them, or --null uniform to silence "
                           "this", ", ".join(self.pending[:5]) + (", ..." if len(self.pending) > 5 else ""), why,
                           UNMATCHED)
            return replace(self, method={**self.method, **{s: UNMATCHED for s in self.pending}}, pending=())
        logger.info("matched null of %d signature(s) without frozen levels (%s): %d bins of the cohort's own gene "
                    "levels (%s; a cohort-level quantity, each p-value stays single-sample once they are fixed)",
                    len(self.pending), ", ".join(self.pending[:5]) + (", ..." if len(self.pending) > 5 else ""),
                    n_bins, method)
        return replace(self, levels={**self.levels, **{s: levels for s in self.pending}},
                       bins={**self.bins, **{s: int(n_bins) for s in self.pending}},
                       method={**self.method, **{s: method for s in self.pending}}, pending=())

    def column(self, names: Sequence[str], n_rows: int) -> np.ndarray:
        """The ``null_method`` column of a signature-major chunk (``n_rows`` rows per signature)."""
        if self.pending:
            raise RessigError(f"internal: the cohort's gene levels of the matched null were not computed "
                              f"({', '.join(self.pending[:3])})")
        return np.repeat(np.asarray([self.method.get(s, "") for s in names], dtype=object), n_rows)


def plan_null(names: Sequence[str], frozen: Mapping[str, Mapping[str, float]], *, null: str, draws: int,
              reference: bool, n_bins: int) -> NullPlan:
    """The null of each signature before the cohort is read.

    Parameters
    ----------
    names
        Signature names.
    frozen
        Levels known in advance (artefacts' ``reference.gene_levels``, or a ``--null-reference``
        for every signature), ids mapped like the data's.
    null
        ``"matched"`` or ``"uniform"``.
    draws
        Random sets per sample (0: no p-values, no null).
    reference
        ``frozen`` comes from ``--null-reference``.
    n_bins
        Bins of frozen levels.
    """
    if not draws:
        return NullPlan(method={s: "" for s in names})
    if null == "uniform":
        logger.info("per-sample p-values against the uniform null (random genes of any expression level)")
        return NullPlan(method={s: UNIFORM for s in names})
    label = REFERENCE if reference else ARTEFACT
    have = [s for s in names if frozen.get(s)]
    if have:
        logger.info("matched null of %d signature(s) with %s levels (%d bins)", len(have),
                    "--null-reference" if reference else "frozen (artefact)", n_bins)
    return NullPlan(levels={s: frozen[s] for s in have}, bins={s: int(n_bins) for s in have},
                    method={s: label for s in have}, pending=tuple(s for s in names if not frozen.get(s)))


def cell_levels(rows: Callable[[int, int], object], n_cells: int, genes: Sequence[str],
                agg: sp.spmatrix | None = None, chunk: int = LEVEL_CHUNK) -> dict[str, float]:
    """Each gene's mean expression over all cells (NaN = not measured, left out), one pass.

    ``rows(start, stop)`` returns cells × input columns (CSR or dense); ``agg`` maps input columns
    onto ``genes`` (the collapse of duplicated ids). Read in fixed blocks of ``chunk`` cells and
    rounded to float32, so the levels do not depend on the scoring chunk size or the shard.
    """
    n_genes = len(genes)
    total = np.zeros(n_genes)
    measured = np.zeros(n_genes)
    for start in range(0, int(n_cells), int(chunk)):
        stop = min(int(n_cells), start + int(chunk))
        block = rows(start, stop)
        if agg is not None:
            block = block @ agg
        if sp.issparse(block):
            block = sp.csr_matrix(block)
            data = np.asarray(block.data, dtype=float)
            nan = np.isnan(data)
            total += np.bincount(block.indices[~nan], weights=data[~nan], minlength=n_genes)
            measured += (stop - start) - np.bincount(block.indices[nan], minlength=n_genes)
        else:
            block = np.asarray(block, dtype=float)
            total += np.nansum(block, axis=0)
            measured += (~np.isnan(block)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (total / measured).astype(np.float32).astype(float)
    levels = {str(g): float(v) for g, v in zip(genes, mean, strict=True) if np.isfinite(v)}
    logger.info("mean expression of %d genes over %d cells for the matched null", len(levels), n_cells)
    return levels


def level_rows(samples: Sequence[str], max_samples: int = MAX_LEVEL_SAMPLES) -> np.ndarray:
    """Rows of the samples whose levels stand for the cohort: all, or ``max_samples`` evenly spaced
    in sample-name order (the same whatever the order of the file's samples), ascending."""
    n = len(samples)
    if n <= max_samples:
        return np.arange(n)
    order = np.argsort(np.asarray([str(s) for s in samples], dtype=object), kind="stable")
    return np.sort(order[np.linspace(0, n - 1, int(max_samples)).round().astype(np.int64)])


def rank_levels(X: np.ndarray, genes: Sequence[str], decimals: int = 4) -> dict[str, float]:
    """Each gene's mean within-sample rank fraction over the rows of ``X`` (samples × genes; NaN =
    not measured): :func:`ressig.scoring.reference_levels` of a matrix already in memory, ranked
    in row blocks (no transposed copy). Pass the rows of :func:`level_rows` for a large cohort."""
    X = np.asarray(X, dtype=float)
    n, g = X.shape
    total = np.zeros(g)
    count = np.zeros(g)
    step = max(1, BLOCK_CELLS // max(1, g))
    for lo in range(0, n, step):
        ranks, n_measured = rank_dense(X[lo:lo + step])
        with np.errstate(invalid="ignore", divide="ignore"):
            ranks /= n_measured.reshape(-1, 1)
        ok = ~np.isnan(ranks)
        total += np.where(ok, ranks, 0.0).sum(axis=0)
        count += ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.round(total / count, decimals)
    levels = {str(k): float(v) for k, v in zip(genes, mean, strict=True) if np.isfinite(v)}
    logger.info("mean within-sample rank fraction of %d genes over %d samples for the matched null", len(levels), n)
    return levels
