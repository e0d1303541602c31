"""Viability dose-response: 4PL fits per (condition, drug, inhibitor), IC50 with a 95% CI (profile
likelihood on log IC50; plateaus shared by the curves of a drug), fold resistance and reversal by a P-gp inhibitor; optional dye-efflux assay.

Input: a plate table (sample, condition, drug, inhibitor, concentration, response, [replicate],
[type: treated|blank]). Writes ic50.tsv, shift.tsv, viability.tsv, curves.png and, with a dye
assay, dye.tsv to --out. Methods are documented in the ressig.doseresponse module.
"""

from __future__ import annotations

import argparse

from .concordance import _gate

NAME = "dose-response"
HELP = "dose-response IC50s, fold resistance, reversal by an inhibitor, dye-efflux retention"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, help="plate table: sample, condition, drug, inhibitor, concentration, "
                   "response, [replicate], [type]")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--normalisation", choices=["controls", "none"], default="controls",
                   help="controls: raw signal scaled to untreated (conc 0, same inhibitor) and blank wells, "
                   "one scale per culture in the fit; none: response already is a viability fraction")
    p.add_argument("--fix-top", type=float, default=None,
                   help="fix the top plateau (e.g. 1); with controls it also turns the culture scales off")
    p.add_argument("--fix-bottom", type=float, default=None, help="fix the bottom plateau (e.g. 0)")
    p.add_argument("--separate-plateaus", action="store_true",
                   help="fit top and bottom per curve instead of sharing them across the curves of a drug")
    p.add_argument("--reference", default="parental", help="reference condition (denominator of fold resistance)")
    p.add_argument("--treatment", nargs="+", default=["resistant"],
                   help="treatment condition(s): one arm, or several (resistant clones, sanctuary sites); the "
                        "first must be on the plate, fold resistance is computed for each arm that is")
    dye = p.add_argument_group("dye-efflux assay (optional, at most one)")
    dye.add_argument("--dye", default=None, help="dye table: sample, condition, inhibitor, value, [replicate]")
    dye.add_argument("--dye-fcs", default=None, help="dye FCS table: sample, condition, inhibitor, file, [replicate]")
    dye.add_argument("--dye-channel", default=None, help="FCS channel of the dye ($PnN or $PnS)")
    dye.add_argument("--gate", nargs="*", default=[], metavar="CHANNEL=MIN:MAX",
                     help="optional rectangular scatter gate for the dye FCS files")
    dye.add_argument("--min-events", type=int, default=100, help="minimum events inside the gate per FCS file")


def run(args: argparse.Namespace) -> None:
    from ..doseresponse import run_dose_response

    paths = run_dose_response(args.input, args.out, normalisation=args.normalisation, fix_top=args.fix_top,
                              fix_bottom=args.fix_bottom, share_plateaus=not args.separate_plateaus,
                              reference=args.reference, treatment=args.treatment,
                              dye_path=args.dye, dye_fcs_path=args.dye_fcs, dye_channel=args.dye_channel,
                              gate=_gate(args.gate), min_events=args.min_events)
    for f in paths:
        print(f)
