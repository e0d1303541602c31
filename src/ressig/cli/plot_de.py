"""Volcano and MA plots of a DE table with key genes (ABCB1, IL3RA by default) labelled."""

from __future__ import annotations

import argparse

NAME = "plot-de"
HELP = "volcano and MA plots of a DE table"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--de", required=True, help="DE table from 'ressig de'")
    p.add_argument("--alpha", type=float, default=0.05, help="significance threshold on padj")
    p.add_argument("--label", nargs="*", default=["ABCB1", "IL3RA"], help="genes to label")
    p.add_argument("--volcano", required=True, help="output volcano plot (.png/.pdf/.svg)")
    p.add_argument("--ma", required=True, help="output MA plot")


def run(args: argparse.Namespace) -> None:
    from ..de import plot_de

    plot_de(args.de, args.volcano, args.ma, alpha=args.alpha, label=args.label)
