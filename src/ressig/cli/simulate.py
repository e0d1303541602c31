"""Write a simulated experiment with planted, documented effects (counts, sample sheet, protein table,
truth table): the two-level GEN2.2-like demo (plus its functional assays: viability plate, rhodamine 123
dye assay) or the multi-group sanctuary-site experiment."""

from __future__ import annotations

import argparse

NAME = "simulate"
HELP = "simulate demo data with planted, documented effects"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--outdir", required=True, help="directory to write counts.tsv, samples.tsv, protein.tsv, truth.tsv "
                   "(and plate.tsv, dye.tsv for the demo)")
    p.add_argument("--design", choices=["demo", "sanctuary"], default="demo",
                   help="demo: parental vs resistant (resources/demo); sanctuary: parental, resistant in vitro, "
                   "spleen, bone marrow and CNS (resources/sanctuary)")
    p.add_argument("--n-genes", type=int, default=20000, help="number of genes")
    p.add_argument("--n-per-group", type=int, default=3, help="replicates per condition")
    p.add_argument("--n-background-de", type=int, default=300, help="planted DE genes besides the named ones "
                   "(sanctuary: shared by every resistant arm)")
    p.add_argument("--n-site-de", type=int, default=30, help="sanctuary: further DE genes of each arm's own")
    p.add_argument("--seed", type=int, default=20261123, help="random seed")
    p.add_argument("--genesets-dir", default=None, help="directory of .gmt files whose genes get real symbols")


def run(args: argparse.Namespace) -> None:
    from ..simulate import (
        simulate_experiment,
        simulate_sanctuary,
        write_demo,
        write_functional_demo,
    )

    if args.design == "sanctuary":
        data = simulate_sanctuary(n_genes=args.n_genes, n_per_group=args.n_per_group,
                                  n_background_de=args.n_background_de, n_site_de=args.n_site_de, seed=args.seed,
                                  genesets_dir=args.genesets_dir)
        files = list(write_demo(data, args.outdir).values())
    else:
        data = simulate_experiment(n_genes=args.n_genes, n_per_group=args.n_per_group,
                                   n_background_de=args.n_background_de, seed=args.seed,
                                   genesets_dir=args.genesets_dir)
        files = [*write_demo(data, args.outdir).values(), *write_functional_demo(args.outdir).values()]
    for f in files:
        print(f)
