# Signature step: derive up/down genes from the DE table and freeze them as a versioned artefact.
SIG_CFG = config.get("signature", {})
SIG_NAME = SIG_CFG["name"]  # schema default filled in common.smk
SIG_JSON = f"results/signature/{SIG_NAME}.ressig.json"
SIG_FROM = SIG_CFG.get("contrast") or CONTRAST
if SIG_FROM != "consensus" and SIG_FROM not in CONTRASTS:
    raise ValueError(
        f"config: signature.contrast {SIG_FROM!r} is not a contrast of the DE step "
        f"({', '.join(CONTRASTS)}) nor 'consensus'"
    )
SIG_PAIR = dict(zip(CONTRASTS, CONTRAST_PAIRS)).get(SIG_FROM, CONTRAST_PAIRS[0])
SIG_DE = [f"results/de/{c}.tsv" for c in (CONTRASTS if SIG_FROM == "consensus" else [SIG_FROM])]

SIG_REF = SIG_CFG.get("reference_cohort") or {}
# optional reference cohort frozen into the artefact (patients' percentile/zscore against it)
SIG_REF_OPTS = (
    " ".join(
        [
            f"--reference-cohort {SIG_REF['path']}",
            f"--reference-orientation {SIG_REF.get('orientation', 'genes-x-samples')}",
            opt("--reference-pseudobulk", SIG_REF.get("pseudobulk")),
        ]
    )
    if SIG_REF
    else ""
)


rule signature:
    input:
        unpack(lambda wc: {"reference_cohort": SIG_REF["path"]} if SIG_REF else {}),
        de=SIG_DE,
        normalized=rules.de.output.normalized,
        samples=rules.prepare_counts.output.samples,
    output:
        artefact=SIG_JSON,
        gmt=f"results/signature/{SIG_NAME}.gmt",
        genes=report(
            f"results/signature/{SIG_NAME}_genes.tsv",
            caption="../report/signature_genes.rst",
            category="Signature",
            labels=report_labels("signature genes", signature=True),
        ),
    params:
        name=SIG_NAME,
        version=SIG_CFG.get("version", "1.0.0"),
        design=f"--condition {DESIGN['condition']} --reference {SIG_PAIR[1]} --treatment {SIG_PAIR[0]}",
        rule=SIG_CFG.get("rule", "threshold_test"),
        padj=SIG_CFG.get("padj", 0.05),
        min_abs_lfc=SIG_CFG.get("min_abs_lfc", 1.0),
        min_base_mean=SIG_CFG.get("min_base_mean", 10),
        max_genes=SIG_CFG.get("max_genes", 200),
        curated=" ".join(
            [
                opt("--curated-up", SIG_CFG.get("curated_up", [])),
                opt("--curated-down", SIG_CFG.get("curated_down", [])),
            ]
        ),
        min_coverage=SIG_CFG.get("min_coverage", 0.5),
        reference_cohort=SIG_REF_OPTS,
    log:
        "logs/signature.log",
    benchmark:
        "benchmarks/workflow/signature.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 10 * attempt,
    conda:
        ENV
    shell:
        "ressig signature --de {input.de} --normalized {input.normalized} --samples {input.samples} "
        "--name {params.name} --version {params.version} {params.design} --rule {params.rule} --padj {params.padj} "
        "--min-abs-lfc {params.min_abs_lfc} --min-base-mean {params.min_base_mean} "
        "--max-genes {params.max_genes} {params.curated} --min-coverage {params.min_coverage} "
        "{params.reference_cohort} --outdir results/signature > {log} 2>&1"


register_targets(rules.signature.output.artefact, rules.signature.output.gmt, rules.signature.output.genes)

