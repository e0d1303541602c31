"""Differential expression (PyDESeq2): one model over all condition levels, one or more contrasts.

Writes ``<outdir>/<treatment>_vs_<reference>.tsv`` per contrast (all genes: baseMean,
log2FoldChange, lfcSE, stat, pvalue, padj, log2FoldChange_shrunk, lfcSE_shrunk, tested),
``normalized_counts.tsv``, ``vst.tsv``, ``size_factors.tsv`` and, with ``--lrt``, ``lrt.tsv``
(likelihood-ratio test against the design without the condition: baseMean, stat, df, pvalue,
padj, tested). With ``--lengths`` (salmon/kallisto/rsem average transcript lengths) the model uses
DESeq2's per-gene, per-sample normalisation factors; ``size_factors.tsv`` column
``normalization`` records which was used (``size_factors`` or ``avgTxLength``). Without
``--lengths``, the lengths ``ressig prepare`` wrote beside the counts (``counts.tsv`` →
``counts.lengths.tsv``) are used when present, with a log line saying so; ``--no-lengths`` uses
size factors instead.
"""

from __future__ import annotations

import argparse

from ._common import add_design_arguments

NAME = "de"
HELP = "differential expression with pydeseq2"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--counts", required=True, help="genes x samples raw integer counts TSV (from 'ressig prepare')")
    p.add_argument("--samples", required=True, help="sample sheet TSV")
    add_design_arguments(p)
    p.add_argument("--contrast", action="append", default=[], metavar="TREATMENT:REFERENCE",
                   help="a contrast of two levels of --condition (repeatable); all come from one fitted model "
                        "whose reference level is the first contrast's reference. Overrides "
                        "--treatment/--reference (the one-contrast shorthand)")
    p.add_argument("--lrt", action="store_true",
                   help="also write lrt.tsv: likelihood-ratio test of the design against ~ covariates "
                        "(changed in any level)")
    p.add_argument("--min-count", type=int, default=10, help="pre-filter: minimum reads ...")
    p.add_argument("--min-samples", type=int, default=None,
                   help="... in at least this many samples (default: size of the smaller group)")
    p.add_argument("--alpha", type=float, default=0.05, help="FDR target for independent filtering")
    p.add_argument("--no-shrink", dest="shrink", action="store_false", help="skip log2 fold-change shrinkage")
    p.add_argument("--engine", choices=["ressig", "pydeseq2"], default="ressig",
                   help="inference engine: ressig (vectorised, R DESeq2's algorithms; default) or pydeseq2 "
                        "(its DefaultInference, one optimisation per gene; for cross-checks)")
    p.add_argument("--lengths", default=None,
                   help="genes x samples average transcript lengths TSV (from 'ressig prepare --out-lengths', "
                        "salmon/kallisto/rsem): normalise with DESeq2's per-gene, per-sample normalisation factors "
                        "(DESeqDataSetFromTximport) instead of size factors; needs --engine ressig. Default: "
                        "the <counts stem>.lengths.tsv prepare wrote beside --counts, if present")
    p.add_argument("--no-lengths", action="store_true",
                   help="use size factors even if prepare wrote transcript lengths beside the counts")
    p.add_argument("--threads", type=int, default=1, help="worker processes for pydeseq2")
    p.add_argument("--outdir", required=True, help="output directory")


def run(args: argparse.Namespace) -> None:
    from .._log import logger
    from ..de import parse_contrast, run_de, write_de
    from ..errors import RessigError
    from ..io import read_counts_matrix, read_sample_sheet
    from ..normfactors import read_lengths
    from ..quantfiles import default_lengths_path

    counts = read_counts_matrix(args.counts).astype("int64")
    samples = read_sample_sheet(args.samples)
    contrasts = [parse_contrast(c) for c in args.contrast]
    treatment, reference = contrasts[0] if contrasts else (args.treatment, args.reference)
    beside = default_lengths_path(args.counts)
    if args.no_lengths and args.lengths is not None:
        raise RessigError("--lengths and --no-lengths contradict each other; give one")
    if args.lengths is None and beside.exists():
        if args.no_lengths:
            logger.info("not using the transcript lengths beside the counts (%s): --no-lengths, size factors", beside)
        elif args.engine != "ressig":
            raise RessigError(f"{beside}: 'ressig prepare' wrote transcript lengths beside the counts, which engine "
                              f"{args.engine} cannot use (no normalisation factors); use --engine ressig, or "
                              "--no-lengths for size factors")
        else:
            args.lengths = str(beside)
            logger.info("using the transcript lengths beside the counts (%s, written by 'ressig prepare') for DESeq2 "
                        "normalisation factors; --no-lengths to use size factors", beside)
    lengths = None if args.lengths is None else read_lengths(args.lengths, counts.index, samples.index)
    result = run_de(counts.loc[:, samples.index], samples, condition=args.condition, reference=reference,
                    treatment=treatment, covariates=args.covariates, continuous=args.continuous,
                    min_count=args.min_count, min_samples=args.min_samples, alpha=args.alpha,
                    shrink=args.shrink, n_cpus=args.threads, engine=args.engine, contrasts=contrasts,
                    lrt_test=args.lrt, lengths=lengths)
    for f in write_de(result, args.outdir):
        print(f)
