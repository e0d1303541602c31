"""Derive the resistance signature from a DE table and freeze it as a versioned artefact.

Writes ``<outdir>/<name>.ressig.json`` (genes + weights, DE contrast and thresholds, training
samples' reference scores, optionally a --reference-cohort's score distribution, sha256 checksum),
``<outdir>/<name>.gmt`` (``<name>_UP``/``<name>_DN``)
and ``<outdir>/<name>_genes.tsv`` (gene, direction, weight and DE statistics).
"""

from __future__ import annotations

import argparse

from ..cohort import ORIENTATIONS

NAME = "signature"
HELP = "derive and freeze a signature (*.ressig.json + .gmt) from DE results"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--de", required=True, nargs="+",
                   help="DE table from 'ressig de'; several tables (contrasts of one model) give the consensus "
                        "signature: genes passing the thresholds in every contrast with one direction")
    p.add_argument("--normalized", required=True, help="genes x samples normalised counts of the training samples")
    p.add_argument("--samples", required=True, help="sample sheet (labels the reference samples' groups)")
    p.add_argument("--name", required=True, help="signature name (letters, digits, . _ -)")
    p.add_argument("--version", dest="sig_version", default="1.0.0", help="semantic version of the signature")
    p.add_argument("--condition", default="condition", help="sample-sheet column with the condition")
    p.add_argument("--reference", default="parental", help="reference level of the contrast")
    p.add_argument("--treatment", default="resistant", help="treatment level of the contrast")
    p.add_argument("--rule", choices=["threshold_test", "filter"], default="threshold_test",
                   help="gene selection: 'threshold_test' = padj of the Wald test of |log2FC| > --min-abs-lfc "
                        "(DESeq2 lfcThreshold, altHypothesis=greaterAbs); 'filter' = DE padj (vs 0) and "
                        "|shrunken log2FC| >= --min-abs-lfc")
    p.add_argument("--padj", type=float, default=0.05, help="maximum adjusted p-value (of the rule's test)")
    p.add_argument("--min-abs-lfc", type=float, default=1.0,
                   help="log2 fold-change threshold: tested against (threshold_test) or applied to the "
                        "shrunken log2FC (filter)")
    p.add_argument("--min-base-mean", type=float, default=10.0, help="minimum baseMean")
    p.add_argument("--max-genes", type=int, default=200, help="maximum genes per direction (strongest first)")
    p.add_argument("--lfc-column", default="log2FoldChange_shrunk", help="DE column used for thresholds and weights")
    p.add_argument("--curated-up", nargs="*", default=[], metavar="GENE", help="genes added to the up set")
    p.add_argument("--curated-down", nargs="*", default=[], metavar="GENE", help="genes added to the down set")
    p.add_argument("--min-coverage", type=float, default=0.5,
                   help="default minimum fraction of signature genes a cohort must contain")
    p.add_argument("--created", default=None, help="creation time to record (ISO-8601; default now or $SOURCE_DATE_EPOCH)")
    p.add_argument("--reference-cohort", default=None, metavar="PATH",
                   help="cohort whose score distribution is frozen into the artefact (patients then get "
                        "percentile/zscore against it instead of the training samples)")
    p.add_argument("--reference-orientation", choices=ORIENTATIONS, default="genes-x-samples",
                   help="layout of a matrix --reference-cohort")
    p.add_argument("--reference-pseudobulk", default=None, metavar="OBS_KEY",
                   help=".h5ad --reference-cohort: sum cells per obs group first")
    p.add_argument("--outdir", required=True, help="output directory")


def run(args: argparse.Namespace) -> None:
    from pathlib import Path

    from ..de import consensus_table, read_de
    from ..io import read_matrix_tsv, read_sample_sheet
    from ..signature import DerivationRules, build_signature, freeze_signature, write_gene_table

    tables = {Path(p).name: read_de(p) for p in args.de}
    de = consensus_table(tables) if len(tables) > 1 else next(iter(tables.values()))
    de_source = args.de[0] if len(tables) == 1 else "consensus(" + ",".join(tables) + ")"
    normalized = read_matrix_tsv(args.normalized, "normalised counts")
    samples = read_sample_sheet(args.samples)
    rules = DerivationRules(padj=args.padj, min_abs_lfc=args.min_abs_lfc, min_base_mean=args.min_base_mean,
                            max_genes=args.max_genes, lfc_column=args.lfc_column, rule=args.rule)
    sig = build_signature(de, normalized, samples, name=args.name, version=args.sig_version, rules=rules,
                          condition=args.condition, reference=args.reference, treatment=args.treatment,
                          curated_up=args.curated_up, curated_down=args.curated_down,
                          min_coverage=args.min_coverage, de_source=de_source, created=args.created)
    if args.reference_cohort:
        from ..cohort import CohortOptions
        from ..cohort.reference import attach_reference_cohort

        attach_reference_cohort(sig, args.reference_cohort,
                                CohortOptions(orientation=args.reference_orientation,
                                              pseudobulk=args.reference_pseudobulk, progress=False))
    out = Path(args.outdir)
    files = freeze_signature(sig, out / f"{args.name}.ressig.json", out / f"{args.name}.gmt")
    files.append(write_gene_table(sig, de, out / f"{args.name}_genes.tsv"))
    for f in files:
        print(f)
