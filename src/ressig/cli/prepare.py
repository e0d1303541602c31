"""Read raw counts in any supported format plus the sample sheet; write validated, aligned tables.

Gene ids are harmonised (Ensembl versions stripped, curated aliases of ids that are not approved
symbols mapped, duplicates refused or summed) and count columns are ordered as the sample sheet.
Every step is logged; ``--out-mapping`` writes which input id became which gene id, and how.
"""

from __future__ import annotations

import argparse

NAME = "prepare"
HELP = "validate counts + sample sheet and write harmonised tables"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--counts", default=None, help="counts file (matrix TSV/CSV, featureCounts, .h5ad)")
    p.add_argument("--samples", required=True, help="sample sheet TSV with a 'sample' column")
    p.add_argument("--format", default="auto", help="auto, matrix, featurecounts, salmon, kallisto, rsem or h5ad "
                   "(rsem: one genes.results per sample in the sheet's 'counts' column; isoforms.results "
                   "with --tx2gene)")
    p.add_argument("--tx2gene", default=None, help="transcript->gene table (salmon/kallisto; rsem isoforms.results)")
    p.add_argument("--layer", default=None, help="AnnData layer with raw counts (h5ad; default X)")
    p.add_argument("--duplicates", choices=["error", "sum"], default="error", help="duplicated gene ids")
    p.add_argument("--out-counts", required=True, help="output genes x samples integer counts TSV")
    p.add_argument("--out-samples", required=True, help="output validated sample sheet TSV")
    p.add_argument("--out-mapping", default=None,
                   help="output gene mapping report TSV (input_id, mapped_id, how, note)")
    p.add_argument("--counts-from-abundance", choices=["none", "length_scaled_tpm"], default="none",
                   help="salmon/kallisto: 'none' (default) = estimated counts, whose average transcript lengths "
                        "(--out-lengths) become DESeq2 normalisation factors in 'ressig de --lengths'; "
                        "'length_scaled_tpm' = counts from abundance (tximport lengthScaledTPM), no lengths")
    p.add_argument("--out-lengths", default=None,
                   help="output genes x samples average transcript lengths TSV (salmon/kallisto/rsem, "
                        "--counts-from-abundance none). Default: beside the counts as <counts stem>.lengths.tsv "
                        "(counts.tsv -> counts.lengths.tsv), where 'ressig de' finds them")


def run(args: argparse.Namespace) -> None:
    from ..io import prepare_inputs

    prepare_inputs(counts=args.counts, samples=args.samples, fmt=args.format, tx2gene=args.tx2gene,
                   layer=args.layer, duplicates=args.duplicates, out_counts=args.out_counts,
                   out_samples=args.out_samples, out_mapping=args.out_mapping,
                   counts_from_abundance=args.counts_from_abundance, out_lengths=args.out_lengths)
