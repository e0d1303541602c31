"""Simulate the demo patient cohorts (bulk TSV and single-cell .h5ad) with known labels."""

from __future__ import annotations

import argparse

NAME = "simulate-cohorts"
HELP = "simulate demo patient cohorts (bulk + single-cell) from the demo truth table"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--truth", required=True, help="truth.tsv of the demo experiment (parental means, planted LFC)")
    p.add_argument("--outdir", required=True, help="writes demo_bulk.tsv, demo_bulk_truth.tsv, demo_sc.h5ad, demo_sc_truth.tsv")
    p.add_argument("--seed", type=int, default=20261124, help="random seed")


def run(args: argparse.Namespace) -> None:
    from ..simulate import write_demo_cohorts

    for f in write_demo_cohorts(args.truth, args.outdir, seed=args.seed).values():
        print(f)
