"""Score a cohort with a frozen signature (*.ressig.json) or a plain GMT file.

Single-sample, rank-based scores: a patient's score does not depend on the other patients in
the file. Inputs: bulk matrices (TSV/CSV/parquet, --orientation), microarray matrices with a
--probe-map, or single-cell .h5ad read in chunks of cells (optionally --pseudobulk by an obs
column). Gene ids may be symbols, aliases or Ensembl ids (versioned or not).

Each sample gets a per-sample ``pvalue`` against --null-draws random gene sets of the signature's
size drawn among its own measured genes (also single-sample; matched to the signature genes'
expression levels: frozen in the artefact, of --null-reference, else the cohort's own levels, a
cohort-level quantity, see :mod:`ressig.scoring.nullbins`, made once per cohort for all shards by
``ressig null-levels`` and read with --null-levels; the null used is the ``null_method`` column),
and a cohort-level ``call`` (BH across the samples of the table at --alpha; this one depends on the
batch).
"""

from __future__ import annotations

import argparse

from ..cohort import COLLAPSE_RULES, INPUT_KINDS, LAYOUTS, ORIENTATIONS, CohortOptions
from ..cohort.options import CELL_NULL_DRAWS, DEFAULT_NULL_DRAWS, NULL_METHODS

NAME = "score"
HELP = "score a cohort (bulk, microarray, .h5ad) with a frozen signature or GMT"


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"2/5"`` → ``(1, 5)`` (shards are numbered from 1 on the command line)."""
    from ..errors import RessigError

    if not text:
        return (0, 1)
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise RessigError(f"--shard {text!r}: expected I/N, e.g. 1/4") from None
    if n < 1 or not 1 <= i <= n:
        raise RessigError(f"--shard {text!r}: I must be between 1 and N")
    return (i - 1, n)


def add_cohort_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments saying what is scored and how (signature, input, reading, null): shared by
    ``ressig score`` and ``ressig null-levels`` (:func:`cohort_options` turns them into options)."""
    p.add_argument("--signature", required=True, help="*.ressig.json artefact or .gmt (NAME_UP/NAME_DN pairs combined)")
    p.add_argument("--input", required=True,
                   help="cohort file: .tsv/.csv(.gz), .parquet, .h5ad, or 10x output (Cell Ranger .h5 or matrix.mtx dir)")
    p.add_argument("--layout", choices=LAYOUTS, default="auto",
                   help="long: a row per signature x sample (bulk default); wide: a row per sample/cell, a column "
                        "per signature (default for cells of .h5ad/10x input)")
    p.add_argument("--columns", default="", metavar="COL,COL",
                   help="wide layout: extra per-signature columns, e.g. up_score,dispersion,percentile,zscore "
                        "(default: pvalue,pvalue_low,call; a cohort-level column brings the p-values it needs)")
    p.add_argument("--kind", choices=INPUT_KINDS, default="auto", help="input kind")
    p.add_argument("--orientation", choices=ORIENTATIONS, default="genes-x-samples",
                   help="layout of a matrix input (first column = gene id, or = sample name)")
    p.add_argument("--probe-map", default=None, help="probe id -> gene table (microarray input)")
    p.add_argument("--collapse", choices=COLLAPSE_RULES, default="mean",
                   help="combine probes/ids of one gene within each sample (maxmean is cohort-dependent)")
    p.add_argument("--layer", default=None, help=".h5ad layer to score (default X)")
    p.add_argument("--pseudobulk", default=None, metavar="OBS_KEY", help=".h5ad: sum cells per obs group, score groups")
    p.add_argument("--chunk-size", type=int, default=10000, help=".h5ad: cells read per chunk (bounds memory)")
    p.add_argument("--min-coverage", type=float, default=None,
                   help="refuse signatures with a smaller fraction of genes found (default: the artefact's, 0.5 for GMT)")
    p.add_argument("--gene-table", default=None, help="gene-id table (default: the one shipped in the package)")
    p.add_argument("--null-draws", type=int, default=None,
                   help=f"random same-size gene sets per sample for the per-sample pvalue (0 = no p-values; "
                        f"default {DEFAULT_NULL_DRAWS} per sample, {CELL_NULL_DRAWS} per cell)")
    p.add_argument("--null", choices=NULL_METHODS, default=CohortOptions.null,
                   help="random sets 'matched' to the signature genes' expression levels (levels frozen in the "
                        "artefact, or --null-reference, else the cohort's own: mean expression of cells, mean rank "
                        "fraction of bulk samples; recorded in the null_method column), or 'uniform' over the "
                        "measured genes (singscore)")
    p.add_argument("--null-reference", default=None, metavar="FILE",
                   help="expression matrix (genes x samples, as --input: mean rank fractions) or single-cell .h5ad/10x "
                        "(mean expression of its cells) whose per-gene levels stratify the matched null of every "
                        "signature, GMT sets included (a fixed file: p-values stay single-sample)")
    p.add_argument("--null-seed", type=int, default=CohortOptions.null_seed, help="seed of the random gene sets")
    p.add_argument("--alpha", type=float, default=CohortOptions.alpha,
                   help="cohort-level call: high/low when the BH-adjusted p across the table's samples is below it")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_cohort_arguments(p)
    p.add_argument("--out", required=True, help="score table: TSV, or parquet (.parquet/.pq)")
    p.add_argument("--shard", default=None, metavar="I/N", help="score only the I-th of N blocks of samples/cells")
    p.add_argument("--null-levels", default=None, metavar="FILE",
                   help="the cohort's own gene levels of the matched null, made once by ressig null-levels (sharded "
                        "runs: no first pass over the whole cohort in every shard; same bytes as without)")
    p.add_argument("--coverage-out", default=None, help="coverage report (TSV)")
    p.add_argument("--mapping-out", default=None, help="gene-id mapping report (TSV: input_id, gene, how)")
    p.add_argument("--out-h5ad", default=None, help=".h5ad input: copy of the input with scores in obs")
    p.add_argument("--plot", default=None, help="score distribution plot (PNG/PDF/SVG)")
    p.add_argument("--cohort-name", default=None, help="cohort label in the plot")


def cohort_options(args: argparse.Namespace, **extra) -> CohortOptions:
    """:class:`ressig.cohort.CohortOptions` from the arguments of :func:`add_cohort_arguments`
    (plus ``extra`` fields, e.g. ``shard``)."""
    return CohortOptions(kind=args.kind, orientation=args.orientation, layer=args.layer, probe_map=args.probe_map,
                         collapse=args.collapse, pseudobulk=args.pseudobulk, chunk_size=args.chunk_size,
                         min_coverage=args.min_coverage, gene_table=args.gene_table, progress=args.progress,
                         layout=args.layout, columns=tuple(c.strip() for c in args.columns.split(",") if c.strip()),
                         null_draws=args.null_draws, null_seed=args.null_seed, alpha=args.alpha, null=args.null,
                         null_reference=args.null_reference, **extra)


def run(args: argparse.Namespace) -> None:
    from ..cohort import score_cohort

    opts = cohort_options(args, shard=parse_shard(args.shard), null_levels=args.null_levels)
    for f in score_cohort(args.signature, args.input, args.out, opts=opts, coverage_out=args.coverage_out,
                          h5ad_out=args.out_h5ad, plot_out=args.plot, cohort=args.cohort_name,
                          mapping_out=args.mapping_out):
        print(f)
