"""Score patient cohorts with frozen signatures: bulk, microarray-style and single-cell ``.h5ad``.

Inputs (``kind``)
    ``bulk``        counts or normalised expression, TSV/CSV (optionally ``.gz``) or parquet,
                    ``genes-x-samples`` (default; first column = gene id) or ``samples-x-genes``
                    (first column = sample name), stated with ``orientation``. Empty/``NA``
                    cells are "not measured" (left out of that sample's ranking).
    ``microarray``  the same matrix with probe ids, plus ``probe_map`` (TSV/CSV: probe id, gene);
                    probes absent from the map or mapped to no gene are dropped, then probes of
                    one gene are collapsed by ``collapse`` (below).
    ``h5ad``        AnnData file, cells in ``obs``, genes in ``var``; ``X`` or a named ``layer``,
                    dense or sparse (CSR or CSC). Read with h5py + :func:`anndata.io.sparse_dataset`
                    in chunks of ``chunk_size`` cells, so memory is bounded by the chunk, never
                    the whole matrix. CSR is read by contiguous row slices; CSC is read column
                    block by column block for every chunk (bounded memory, but the time grows
                    with the number of chunks: store CSR for big files).
                    ``pseudobulk``: sum the cells of each ``obs[key]`` group (patient/sample)
                    and score the groups instead of cells.
    ``auto``        ``.h5ad`` → h5ad; a ``probe_map`` given → microarray; else bulk.

Gene ids (symbols, aliases, Ensembl with or without version) are mapped to official symbols
through the offline gene table (:func:`ressig.genes.load_gene_table`). Ids that end up
duplicated (several probes or aliases of one gene) are collapsed **within each sample**, so a
sample's value never depends on the other samples: ``mean`` (default), ``sum``, ``max``,
``first``, or ``error``. ``maxmean`` (keep the probe with the highest mean across the cohort —
the classic ``collapseRows`` rule) is offered for dense inputs, but is **cohort-dependent** and
logged as such.

Coverage (signature genes found / signature genes) is reported per signature; scoring is refused
when no signature gene is found at all or when a signature is below ``min_coverage`` (default:
the artefact's ``scoring.min_coverage``, 0.5 for plain GMT files).

Outputs: a TSV with one row per signature × sample (``SCORE_COLUMNS``): the scores, the
sample's measured genes and its per-sample ``pvalue``/``pvalue_low`` against ``null_draws`` random
same-size gene sets (:mod:`ressig.scoring`; cohort-independent), the **cohort-level**
``cohort_qvalue``/``cohort_qvalue_low``/``call`` (BH across the samples of the whole table, filled
in a second pass over the written table: :mod:`.calls`), and ``percentile``/``zscore`` against
the artefact's reference distribution (its frozen reference cohort if any, else the training
samples; named in ``reference``; empty for GMT signatures); a coverage TSV, a plot of the
cohort's score distribution beside the reference scores with the random-gene-set null band and,
for ``.h5ad`` input, a copy of the input file whose ``obs`` gains the
same columns as ``ressig_<signature>_<column>`` (the file is copied byte for byte and only its
``obs`` group is rewritten: ``X`` is never loaded). Every file is written atomically and only
after all scoring succeeded; if writing one output fails, the outputs already written by the
call are removed, so a failure leaves no partial output.

Sharding: ``shard=(i, n)`` scores only the ``i``-th of ``n`` contiguous blocks of samples/cells
(:func:`shard_bounds`); :func:`gather_scores` concatenates shard tables into exactly the bytes
an unsharded run writes (cohort-level columns included: shard tables leave them empty and the
gather fills them from the gathered table).

Modules: :mod:`.options` (options, constants), :mod:`.plan` (the scoring plan: kind, layout, null draws
and columns, decided once per run), :mod:`.readers` (dense matrices, probe maps),
:mod:`.idmap` (gene ids, collapsing, coverage), :mod:`.h5` (backed ``.h5ad`` access),
:mod:`.engine` (driving the scoring engine), :mod:`.calls` (cohort-level calls), :mod:`.writers` (score table, all-or-nothing
outputs), :mod:`.gather` (shards), :mod:`.reference` (reference cohorts frozen into an artefact), :mod:`ressig.pl.cohort` (figures), :mod:`.annotate` (``.h5ad`` ``obs``).
"""

from .annotate import annotate_h5ad
from .calls import fill_calls
from .engine import add_percentiles, read_and_score, score_dense, score_h5ad, shard_bounds
from .gather import gather_scores
from .idmap import check_coverage, collapse_dense, coverage_report, map_signatures
from .options import (
    CALL_COLUMNS,
    COLLAPSE_RULES,
    DEFAULT_MIN_COVERAGE,
    INPUT_KINDS,
    LAYOUTS,
    NULL_COLUMNS,
    OBS_COLUMNS,
    ORIENTATIONS,
    SCORE_COLUMNS,
    CohortOptions,
    CohortScores,
)
from .plan import ScoringPlan, plan_scoring, resolve_kind
from .readers import read_expression, read_probe_map
from .reference import attach_reference_cohort
from .writers import (
    ScoreOutputs,
    add_calls_text,
    format_scores,
    parse_scores,
    score_cohort,
    write_outputs,
)

__all__ = [
    "CALL_COLUMNS", "COLLAPSE_RULES", "DEFAULT_MIN_COVERAGE", "INPUT_KINDS", "LAYOUTS", "NULL_COLUMNS", "OBS_COLUMNS",
    "ORIENTATIONS", "SCORE_COLUMNS", "CohortOptions", "CohortScores", "ScoreOutputs", "ScoringPlan", "add_calls_text",
    "add_percentiles", "annotate_h5ad", "attach_reference_cohort", "check_coverage", "collapse_dense", "coverage_report", "fill_calls",
    "format_scores", "gather_scores", "map_signatures",
    "parse_scores", "plan_scoring", "plot_score_distribution", "read_and_score", "read_expression", "read_probe_map", "resolve_kind",
    "score_cohort", "score_dense", "score_h5ad", "shard_bounds", "write_outputs",
]


def __getattr__(name: str):
    """``plot_score_distribution`` on first use: matplotlib is not imported by scoring runs that draw nothing."""
    if name == "plot_score_distribution":
        from ..pl.cohort import plot_score_distribution

        return plot_score_distribution
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
