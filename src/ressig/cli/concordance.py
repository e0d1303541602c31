"""mRNA vs protein concordance per marker <-> gene pair (CD123/IL3RA, P-gp/ABCB1, ...).

Protein from a table (sample, marker, value, optional isotype/background, replicate) or from FCS
files (median of a channel after background subtraction, optional rectangular scatter gate).
Writes concordance.tsv (both effects and their difference delta, CIs, p-values, TOST p-values, margins, call, reason),
protein_wells.tsv, protein_samples.tsv, lfc_mrna_vs_protein.png and per_sample.png to --outdir.
The decision table is documented in the ressig.concordance module.
"""

from __future__ import annotations

import argparse

from ..errors import RessigError
from ._common import add_design_arguments

NAME = "concordance"
HELP = "mRNA vs protein concordance calls (post-transcriptional loss/gain/buffering, concordant, no change)"


def _mapping(items: list[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise RessigError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def _gate(items: list[str] | None) -> dict[str, list[float]]:
    gate = {}
    for ch, bounds in _mapping(items, "--gate").items():
        lo, sep, hi = bounds.partition(":")
        try:
            gate[ch] = [float(lo), float(hi)]
        except ValueError:
            raise RessigError(f"--gate {ch}={bounds!r}: expected CHANNEL=MIN:MAX with numbers") from None
        if not sep or gate[ch][0] > gate[ch][1]:
            raise RessigError(f"--gate {ch}={bounds!r}: expected CHANNEL=MIN:MAX with MIN <= MAX")
    return gate


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--de", required=True, help="DE table from 'ressig de' (results/de/<contrast>.tsv)")
    p.add_argument("--normalized", required=True, help="normalised counts from 'ressig de'")
    p.add_argument("--samples", required=True, help="sample sheet TSV")
    src = p.add_argument_group("protein input (exactly one)")
    src.add_argument("--protein", default=None, help="protein table: sample, marker, value, [isotype|background], "
                     "[replicate]")
    src.add_argument("--fcs-table", default=None, help="table of FCS files: sample, file, [marker], [isotype_file], "
                     "[replicate]")
    src.add_argument("--channel", nargs="*", default=[], metavar="MARKER=CHANNEL",
                     help="FCS channel ($PnN or $PnS) of each marker")
    src.add_argument("--gate", nargs="*", default=[], metavar="CHANNEL=MIN:MAX",
                     help="optional rectangular scatter gate (inclusive bounds)")
    src.add_argument("--min-events", type=int, default=100, help="minimum events inside the gate per FCS file")
    p.add_argument("--pair", nargs="*", default=["CD123=IL3RA", "P-gp=ABCB1"], metavar="MARKER=GENE",
                   help="marker -> gene pairs (gene as in the DE table)")
    add_design_arguments(p)
    p.add_argument("--margin", type=float, default=0.5, help="mRNA equivalence margin (log2)")
    p.add_argument("--protein-margin", type=float, default=None, help="protein equivalence margin (default: --margin)")
    p.add_argument("--alpha", type=float, default=0.05, help="test level; CIs are (1 - alpha)")
    p.add_argument("--protein-model", choices=["linear", "welch"], default="linear",
                   help="linear: y ~ covariates + condition; welch: Welch t-test")
    p.add_argument("--mrna-p", choices=["padj", "pvalue"], default="padj", help="DE column of the mRNA difference test")
    p.add_argument("--min-replicates", type=int, default=2, help="biological protein replicates needed per condition")
    p.add_argument("--nonpositive", choices=["error", "clip"], default="error",
                   help="value - background <= 0: error, or clip to 1 before log2")
    p.add_argument("--outdir", required=True, help="output directory")


def run(args: argparse.Namespace) -> None:
    from ..concordance import run_concordance

    paths = run_concordance(
        args.de, args.normalized, args.samples, args.outdir, protein_path=args.protein,
        fcs_table_path=args.fcs_table, channels=_mapping(args.channel, "--channel"), gate=_gate(args.gate),
        min_events=args.min_events, nonpositive=args.nonpositive, pairs=_mapping(args.pair, "--pair"),
        condition=args.condition, reference=args.reference, treatment=args.treatment,
        covariates=args.covariates, continuous=args.continuous, margin=args.margin,
        protein_margin=args.protein_margin, alpha=args.alpha, protein_model=args.protein_model,
        mrna_p=args.mrna_p, min_replicates=args.min_replicates,
    )
    for f in paths:
        print(f)
