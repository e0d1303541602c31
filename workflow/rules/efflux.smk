# Efflux step: single-sample scores of every gene set by condition + gseapy prerank GSEA of the DE statistic.
GENESETS_CFG = config.get("genesets", {})
EFFLUX_CFG = config.get("efflux", {})
GENESET_FILES = GENESETS_CFG.get("files", ["resources/genesets/ressig_curated.gmt"])


rule efflux:
    input:
        de=rules.de.output.table,
        expression=rules.de.output.normalized,
        samples=rules.prepare_counts.output.samples,
        genesets=GENESET_FILES,
    output:
        scores=report(
            "results/efflux/scores.tsv", caption="../report/efflux_scores_table.rst", category="Efflux"
        ),
        separation="results/efflux/separation.tsv",
        gsea=report("results/efflux/gsea.tsv", caption="../report/efflux_gsea_table.rst", category="Efflux"),
        scores_plot=report(
            "results/efflux/scores.png", caption="../report/efflux_scores.rst", category="Efflux"
        ),
        nes_plot=report("results/efflux/gsea_nes.png", caption="../report/efflux_nes.rst", category="Efflux"),
        enrichment=report(
            directory("results/efflux/enrichment"),
            patterns=["{name}.png"],
            caption="../report/efflux_enrichment.rst",
            category="Efflux",
        ),
    params:
        design=f"--condition {DESIGN['condition']} --reference {DESIGN['reference']} "
        f"--treatment {DESIGN['treatment']}",
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
        "logs/efflux.log",
    benchmark:
        "benchmarks/workflow/efflux.tsv"
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
        "--seed {params.seed} --top-n {params.top_n} --outdir results/efflux > {log} 2>&1"


register_targets(
    rules.efflux.output.scores,
    rules.efflux.output.gsea,
    rules.efflux.output.scores_plot,
    rules.efflux.output.nes_plot,
    rules.efflux.output.enrichment,
)
