# Efflux step: single-sample scores of every gene set by condition + gseapy prerank GSEA of the DE statistic,
# per contrast: results/efflux/ with one contrast, results/efflux/<contrast>/ with several.
GENESETS_CFG = config.get("genesets", {})
EFFLUX_CFG = config.get("efflux", {})
GENESET_FILES = GENESETS_CFG.get("files", ["resources/genesets/ressig_curated.gmt"])


rule efflux:
    input:
        de=contrast_de,
        expression=rules.de.output.normalized,
        samples=rules.prepare_counts.output.samples,
        genesets=GENESET_FILES,
    output:
        scores=report(
            f"results/efflux/{CONTRAST_DIR}scores.tsv",
            caption="../report/efflux_scores_table.rst",
            category="Efflux",
            subcategory=contrast_label,
            labels=report_labels("gene-set scores table", contrast=True),
        ),
        separation=f"results/efflux/{CONTRAST_DIR}separation.tsv",
        gsea=report(
            f"results/efflux/{CONTRAST_DIR}gsea.tsv",
            caption="../report/efflux_gsea_table.rst",
            category="Efflux",
            subcategory=contrast_label,
            labels=report_labels("GSEA table", contrast=True),
        ),
        scores_plot=report(
            f"results/efflux/{CONTRAST_DIR}scores.png",
            caption="../report/efflux_scores.rst",
            category="Efflux",
            subcategory=contrast_label,
            labels=report_labels("gene-set scores", contrast=True),
        ),
        nes_plot=report(
            f"results/efflux/{CONTRAST_DIR}gsea_nes.png",
            caption="../report/efflux_nes.rst",
            category="Efflux",
            subcategory=contrast_label,
            labels=report_labels("GSEA NES", contrast=True),
        ),
        enrichment=report(
            directory(f"results/efflux/{CONTRAST_DIR}enrichment"),
            patterns=["{name}.png"],
            caption="../report/efflux_enrichment.rst",
            category="Efflux",
            subcategory=contrast_label,
            labels=report_labels("GSEA enrichment", contrast=True, gene_set=True),
        ),
    params:
        design=lambda wc: pair_args(contrast_of(wc)),
        outdir=contrast_outdir,
        contrast=contrast_of,  # named in the report captions
        efflux_sets=opt(
            "--efflux-sets", EFFLUX_CFG.get("sets", ["MULTIDRUG_EFFLUX_CORE", "HGNC_ABC_TRANSPORTERS"])
        ),
        rank_by=EFFLUX_CFG.get("rank_by", "stat"),
        min_size=EFFLUX_CFG.get("min_size", 5),
        max_size=EFFLUX_CFG.get("max_size", 500),
        permutations=EFFLUX_CFG.get("permutations", 1000),
        seed=EFFLUX_CFG.get("seed", 20261123),
        top_n=EFFLUX_CFG.get("top_n", 5),
    log:
        per_contrast("logs/efflux", "log"),
    benchmark:
        per_contrast("benchmarks/workflow/efflux", "tsv")
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 3000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    conda:
        ENV
    shell:
        "ressig efflux --de {input.de} --expression {input.expression} --samples {input.samples} "
        "--genesets {input.genesets} {params.design} {params.efflux_sets} --rank-by {params.rank_by} "
        "--min-size {params.min_size} --max-size {params.max_size} --permutations {params.permutations} "
        "--seed {params.seed} --top-n {params.top_n} --outdir {params.outdir} > {log} 2>&1"


register_targets(
    *[
        path
        for out in ("scores", "gsea", "scores_plot", "nes_plot", "enrichment")
        for path in expand(getattr(rules.efflux.output, out), contrast=CONTRASTS)
    ]
)
