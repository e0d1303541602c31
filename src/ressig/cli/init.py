"""Write a minimal workflow config for your own counts and sample sheet, after checking them.

The inputs are read as the workflow reads them (format, gene ids, every sheet sample in the
counts, design levels and replicates); the config names them, the design and a signature name.
Every other key takes its default (config/README.md). Run the workflow with
``snakemake --cores N --configfile <out>`` from the directory the paths are relative to.
"""

from __future__ import annotations

import argparse

NAME = "init"
HELP = "check counts + sample sheet and write a minimal workflow config"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--counts", required=True, help="counts file (matrix TSV/CSV, featureCounts, .h5ad)")
    p.add_argument("--samples", required=True, help="sample sheet TSV (sample, condition, covariates)")
    p.add_argument("--condition", default="condition", help="sample-sheet column holding the condition")
    p.add_argument("--reference", default=None,
                   help="reference level, the fold-change denominator (default: parental, or the other level)")
    p.add_argument("--treatment", default=None,
                   help="treatment level, the numerator (default: resistant, or the other level)")
    p.add_argument("--covariates", nargs="*", default=[], metavar="COL",
                   help="sample-sheet columns entering the design before the condition")
    p.add_argument("--out", default="config.yaml", help="config file to write")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")


def run(args: argparse.Namespace) -> None:
    from ..config import init_config

    print(init_config(args.counts, args.samples, condition=args.condition, reference=args.reference,
                      treatment=args.treatment, covariates=args.covariates, out=args.out, force=args.force))
