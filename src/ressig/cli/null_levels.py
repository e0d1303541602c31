"""Compute a cohort's own gene levels of the matched null once, for all the shards that score it.

A signature without frozen levels (a GMT) scored with the matched null gets the cohort's own
gene levels (cells: mean expression over all cells; bulk samples: mean within-sample rank
fraction), a first pass over the whole cohort that every ``ressig score --shard I/N`` job would
otherwise repeat. This command makes that pass once and writes the levels (JSON, atomically);
``ressig score --null-levels FILE`` then reads them instead, with byte-identical outputs. Give it
the options the cohort is scored with (the same as ``ressig score``'s); a file of another cohort
or of other options is refused by ``ressig score``. When no signature needs the cohort's levels
(frozen artefact levels, --null-reference, --null uniform, no random sets drawn) the file says
so and holds none.
"""

from __future__ import annotations

import argparse

from .score import add_cohort_arguments, cohort_options

NAME = "null-levels"
HELP = "compute a cohort's own gene levels of the matched null once (for ressig score --null-levels)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_cohort_arguments(p)
    p.add_argument("--out", required=True, help="levels file (JSON) for ressig score --null-levels")


def run(args: argparse.Namespace) -> None:
    from ..cohort.engine import cohort_levels
    from ..cohort.levels import write_levels

    print(write_levels(cohort_levels(args.signature, args.input, cohort_options(args)), args.out))
