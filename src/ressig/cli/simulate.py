"""Write the GEN2.2-like demo experiment (counts, sample sheet, protein table, truth table) and the
functional assays (viability plate, rhodamine 123 dye assay)."""

from __future__ import annotations

import argparse

NAME = "simulate"
HELP = "simulate demo data with planted, documented effects"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--outdir", required=True, help="directory to write counts.tsv, samples.tsv, protein.tsv, truth.tsv, plate.tsv, dye.tsv")
    p.add_argument("--n-genes", type=int, default=20000, help="number of genes")
    p.add_argument("--n-per-group", type=int, default=3, help="replicates per condition")
    p.add_argument("--n-background-de", type=int, default=300, help="planted DE genes besides the named ones")
    p.add_argument("--seed", type=int, default=20261123, help="random seed")
    p.add_argument("--genesets-dir", default=None, help="directory of .gmt files whose genes get real symbols")


def run(args: argparse.Namespace) -> None:
    from ..simulate import simulate_experiment, write_demo, write_functional_demo

    data = simulate_experiment(n_genes=args.n_genes, n_per_group=args.n_per_group,
                               n_background_de=args.n_background_de, seed=args.seed,
                               genesets_dir=args.genesets_dir)
    for f in [*write_demo(data, args.outdir).values(), *write_functional_demo(args.outdir).values()]:
        print(f)
