"""Evidence table per resistance mechanism: for efflux the transporter mRNA (DE), protein
(concordance) and functional calls (IC50 reversal by the inhibitor, dye retention); for antigen
loss the target mRNA vs protein concordance. Each line carries its estimate, CI, p-value and call.
"""

from __future__ import annotations

import argparse

NAME = "evidence"
HELP = "join DE, protein concordance and functional assays into an evidence table per mechanism"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--de", required=True, help="DE table from 'ressig de'")
    p.add_argument("--concordance", default=None, help="concordance.tsv from 'ressig concordance'")
    p.add_argument("--shift", default=None, help="shift.tsv from 'ressig dose-response'")
    p.add_argument("--dye", default=None, help="dye.tsv from 'ressig dose-response'")
    p.add_argument("--treatment", default="resistant", help="treatment condition")
    p.add_argument("--alpha", type=float, default=0.05, help="test level")
    p.add_argument("--efflux-gene", default="ABCB1", help="efflux transporter gene (DE table id)")
    p.add_argument("--efflux-marker", default="P-gp", help="its protein marker in the concordance table")
    p.add_argument("--antigen-gene", default="IL3RA", help="ADC target gene")
    p.add_argument("--antigen-marker", default="CD123", help="its protein marker")
    p.add_argument("--out", required=True, help="output table (TSV)")


def run(args: argparse.Namespace) -> None:
    from ..evidence import run_evidence

    print(run_evidence(args.de, args.out, args.concordance, args.shift, args.dye, treatment=args.treatment,
                       alpha=args.alpha, efflux_gene=args.efflux_gene, efflux_marker=args.efflux_marker,
                       antigen_gene=args.antigen_gene, antigen_marker=args.antigen_marker))
