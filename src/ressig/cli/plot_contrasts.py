"""Cross-contrast figure: log2FC heatmap of chosen genes across contrasts + overlap of DE calls."""

from __future__ import annotations

import argparse

NAME = "plot-contrasts"
HELP = "log2FC heatmap and DE-call overlap across contrasts"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--de", required=True, nargs="+", help="DE tables from 'ressig de' (one per contrast)")
    p.add_argument("--genes", nargs="*", default=[], help="genes of the heatmap (e.g. signature + efflux genes)")
    p.add_argument("--genes-file", default=None, help="TSV with a 'gene' column (e.g. <signature>_genes.tsv)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance threshold on padj")
    p.add_argument("--out", required=True, help="output figure (.png/.pdf/.svg)")


def run(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .._atomic import save_figure
    from ..de import contrast_matrix, read_de
    from ..io import read_table
    from ..pl.de import contrast_overview

    genes = list(args.genes)
    if args.genes_file:
        genes += read_table(args.genes_file, "gene list")["gene"].astype(str).tolist()
    lfc, calls = contrast_matrix({Path(p).stem: read_de(p) for p in args.de}, genes, args.alpha)
    print(save_figure(contrast_overview(lfc, calls, args.alpha), args.out))
