"""Gather the shard score tables of one cohort into the table an unsharded run writes.

Refuses a shard given twice or missing (naming it) and, with --input, gathered samples that
are not the input's. Also writes, from the gathered table, the distribution plot and (for .h5ad cohorts) the copy of
the input with the scores in ``obs``. Shard tables are given in shard order.
"""

from __future__ import annotations

import argparse

from ..cohort import INPUT_KINDS, ORIENTATIONS, CohortOptions

NAME = "score-gather"
HELP = "gather sharded cohort scores (byte-identical to unsharded), plot, annotate .h5ad"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shards", nargs="+", required=True, help="shard score tables, in shard order")
    p.add_argument("--coverage", nargs="*", default=[], help="shard coverage tables (must agree)")
    p.add_argument("--signature", required=True, help="the signature the shards were scored with")
    p.add_argument("--out", default=None, help="gathered score table (TSV); omit to only write the plot/.h5ad")
    p.add_argument("--coverage-out", default=None, help="coverage report (TSV)")
    p.add_argument("--input", default=None,
                   help="the cohort input: the gathered samples must be its samples (and --out-h5ad copies it)")
    p.add_argument("--kind", choices=INPUT_KINDS, default="auto", help="input kind (as for ressig score)")
    p.add_argument("--orientation", choices=ORIENTATIONS, default="genes-x-samples", help="matrix layout of --input")
    p.add_argument("--mapping", default=None, help="a shard's gene-id mapping report (identical for every shard)")
    p.add_argument("--mapping-out", default=None, help="gene-id mapping report (TSV)")
    p.add_argument("--out-h5ad", default=None, help="copy of the input .h5ad with the scores in obs")
    p.add_argument("--pseudobulk", default=None, metavar="OBS_KEY", help="obs key the cohort was pseudobulked by")
    p.add_argument("--plot", default=None, help="score distribution plot")
    p.add_argument("--cohort-name", default=None, help="cohort label in the plot")
    p.add_argument("--alpha", type=float, default=CohortOptions.alpha,
                   help="cohort-level call threshold over the gathered table (as for 'ressig score')")
    p.add_argument("--embedding-plot", default=None,
                   help=".h5ad input: obsm X_umap (else X_tsne) coloured by each score (scanpy)")
    p.add_argument("--group-plot", default=None, help=".h5ad input: per-group score distributions (needs --group-by)")
    p.add_argument("--group-by", default=None, metavar="OBS_KEY", help="obs key of the groups (patient, cluster ...)")


def run(args: argparse.Namespace) -> None:
    from ..cohort import gather_scores

    opts = CohortOptions(kind=args.kind, orientation=args.orientation, pseudobulk=args.pseudobulk, progress=False,
                         alpha=args.alpha)
    for f in gather_scores(args.shards, args.signature, args.out, coverage=args.coverage,
                           coverage_out=args.coverage_out, input_path=args.input, h5ad_out=args.out_h5ad,
                           plot_out=args.plot, pseudobulk=args.pseudobulk, cohort=args.cohort_name, opts=opts,
                           mapping=args.mapping, mapping_out=args.mapping_out, embedding_out=args.embedding_plot,
                           groups_out=args.group_plot, group_by=args.group_by):
        print(f)
