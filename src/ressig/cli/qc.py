"""Sample QC: library sizes, detected genes, PCA on VST, sample correlations, outlier flags.

Writes ``qc.tsv``, ``library_sizes.png``, ``pca.png`` and ``sample_correlation.png``.
"""

from __future__ import annotations

import argparse

NAME = "qc"
HELP = "sample QC tables and plots"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--counts", required=True, help="genes x samples raw counts TSV")
    p.add_argument("--vst", required=True, help="genes x samples VST matrix (from 'ressig de')")
    p.add_argument("--samples", required=True, help="sample sheet TSV")
    p.add_argument("--condition", default="condition", help="sample-sheet column used for colours")
    p.add_argument("--outdir", required=True, help="output directory")


def run(args: argparse.Namespace) -> None:
    from ..qc import run_qc

    for f in run_qc(args.counts, args.vst, args.samples, args.outdir, condition=args.condition):
        print(f)
