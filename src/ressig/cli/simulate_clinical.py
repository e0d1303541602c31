"""Simulate a clinical table with planted hazard/odds ratios per SD of the given signatures' scores."""

from __future__ import annotations

import argparse

from ..errors import RessigError

NAME = "simulate-clinical"
HELP = "simulate a demo clinical table (survival + response) with planted effects of signature scores"


def _ratios(items: list[str], flag: str) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        try:
            ratio = float(value)
        except ValueError:
            ratio = float("nan")
        if not sep or not name or not ratio > 0:
            raise RessigError(f"{flag} {item!r}: expected SIGNATURE=RATIO with a ratio > 0")
        out[name] = ratio
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scores", required=True, help="score table from 'ressig score' (long or wide)")
    p.add_argument("--out", required=True, help="clinical table to write (TSV)")
    p.add_argument("--hr", nargs="*", default=[], metavar="SIGNATURE=HR", help="planted hazard ratio per SD")
    p.add_argument("--or", dest="odds", nargs="*", default=[], metavar="SIGNATURE=OR",
                   help="planted odds ratio per SD of phenotype = resistant")
    p.add_argument("--seed", type=int, default=20261204, help="random seed")


def run(args: argparse.Namespace) -> None:
    from ..outcome.demo import write_demo_clinical

    print(write_demo_clinical(args.scores, args.out, _ratios(args.hr, "--hr"), _ratios(args.odds, "--or"),
                              seed=args.seed))
