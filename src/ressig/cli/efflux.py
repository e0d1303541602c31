"""Efflux step: single-sample scores of every gene set by condition, and gseapy prerank GSEA of the
DE statistic (fixed seed, deterministic).

Writes under ``--outdir``: ``scores.tsv``, ``separation.tsv``, ``gsea.tsv``, ``scores.png``,
``gsea_nes.png`` and ``enrichment/<set>.png`` (efflux sets and the top sets by FDR).
"""

from __future__ import annotations

import argparse

NAME = "efflux"
HELP = "gene-set scores by condition and GSEA prerank on the DE statistic"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--de", required=True, help="DE table from 'ressig de'")
    p.add_argument("--expression", required=True,
                   help="genes x samples expression to score (e.g. results/de/normalized_counts.tsv)")
    p.add_argument("--samples", required=True, help="sample sheet TSV (with the condition column)")
    p.add_argument("--genesets", nargs="+", required=True, metavar="GMT", help="gene-set files (GMT)")
    p.add_argument("--condition", default="condition", help="sample-sheet column holding the condition")
    p.add_argument("--reference", default="parental", help="reference level")
    p.add_argument("--treatment", default="resistant", help="treatment level")
    p.add_argument("--efflux-sets", nargs="*", default=["MULTIDRUG_EFFLUX_CORE", "HGNC_ABC_TRANSPORTERS"],
                   metavar="SET", help="sets always given an enrichment plot")
    p.add_argument("--rank-by", default="stat", help="DE column ranking the genes for GSEA")
    p.add_argument("--min-size", type=int, default=5, help="GSEA: minimum genes of a set in the ranking")
    p.add_argument("--max-size", type=int, default=500, help="GSEA: maximum genes of a set in the ranking")
    p.add_argument("--permutations", type=int, default=1000, help="GSEA gene-set permutations")
    p.add_argument("--seed", type=int, default=20261123, help="GSEA random seed")
    p.add_argument("--top-n", type=int, default=5, help="also plot the enrichment of this many top sets by FDR")
    p.add_argument("--outdir", required=True, help="output directory")


def run(args: argparse.Namespace) -> None:
    from ..gsea import run_efflux

    files = run_efflux(args.de, args.expression, args.samples, args.genesets, args.outdir,
                       condition=args.condition, reference=args.reference, treatment=args.treatment,
                       efflux_sets=args.efflux_sets, rank_by=args.rank_by, min_size=args.min_size,
                       max_size=args.max_size, permutations=args.permutations, seed=args.seed, top_n=args.top_n)
    for f in files.values():
        print(f)
