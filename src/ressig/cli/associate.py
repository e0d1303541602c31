"""Signature scores against patient outcome: Cox model, Kaplan–Meier/log-rank, logistic model + AUC.

Joins a score table (``ressig score``: long bulk layout, or wide) to a clinical table by sample id
and writes to --out: survival.tsv (with --time/--event), response.tsv (with --response/--positive),
matching.tsv (every sample of both tables, matched or not) and km.png, forest.png, response.png.
The statistics and their R equivalents are documented in the ressig.outcome modules.
"""

from __future__ import annotations

import argparse

NAME = "associate"
HELP = "signature scores against survival (Cox, log-rank) and a binary response (logistic, AUC)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scores", required=True, nargs="+",
                   help="score table(s) from 'ressig score' (long or wide; TSV/CSV/parquet), joined by sample")
    p.add_argument("--clinical", required=True, help="clinical table (TSV, or CSV by suffix): one row per patient")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--sample-col", default="sample", help="clinical column holding the sample ids of the scores")
    p.add_argument("--time", default=None, help="follow-up time column (any unit, >= 0)")
    p.add_argument("--event", default=None,
                   help="event column: 0/1, 1/2 (2 = event), TRUE/FALSE or two named levels")
    p.add_argument("--event-level", default=None,
                   help="which named level of --event is the event (default: the second in sorted order)")
    p.add_argument("--time-unit", default=None, help="unit of --time, stated in survival.tsv and the KM plot")
    p.add_argument("--covariates", nargs="*", default=[], metavar="COL",
                   help="adjust the Cox model for these columns (numeric, or categorical: dummy-coded "
                   "against the first level in sorted order)")
    p.add_argument("--strata", default=None, metavar="COL", help="stratify the Cox model and the log-rank test")
    p.add_argument("--response", default=None, metavar="COL", help="binary response column")
    p.add_argument("--positive", default=None, metavar="LEVEL", help="the positive level of --response")
    p.add_argument("--signature", nargs="*", default=None, metavar="NAME", help="test only these signatures")
    p.add_argument("--min-events", type=int, default=10, help="fewer events: an NA row with the reason")
    p.add_argument("--no-figures", dest="figures", action="store_false", help="write the tables only")


def run(args: argparse.Namespace) -> None:
    from ..outcome import OutcomeSpec, associate

    spec = OutcomeSpec(time=args.time, event=args.event, covariates=list(args.covariates), strata=args.strata,
                       response=args.response, positive=args.positive, sample_col=args.sample_col,
                       event_level=args.event_level, time_unit=args.time_unit, min_events=args.min_events)
    for path in associate(args.scores, args.clinical, args.out, spec, signatures=args.signature,
                          figures=args.figures).values():
        print(path)
