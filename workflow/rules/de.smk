# Input harmonisation and differential expression (pydeseq2).


rule prepare_counts:
    input:
        counts_input,
    output:
        counts="results/counts/counts.tsv",
        samples="results/counts/samples.tsv",
        mapping="results/counts/gene_mapping.tsv",
        lengths=LENGTHS,
    params:
        counts=opt("--counts", config["counts"].get("path")),
        fmt=config["counts"].get("format", "auto"),
        tx2gene=opt("--tx2gene", config["counts"].get("tx2gene")),
        layer=opt("--layer", config["counts"].get("layer")),
        duplicates=config["counts"].get("duplicates", "error"),
        from_abundance=config["counts"].get("counts_from_abundance", "none"),
        lengths=opt("--out-lengths", LENGTHS),
        samples=config["samples"],
    log:
        "logs/prepare_counts.log",
    benchmark:
        "benchmarks/workflow/prepare_counts.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    conda:
        ENV
    shell:
        "ressig prepare {params.counts} --samples {params.samples} --format {params.fmt} "
        "{params.tx2gene} {params.layer} --duplicates {params.duplicates} "
        "--counts-from-abundance {params.from_abundance} {params.lengths} "
        "--out-counts {output.counts} --out-samples {output.samples} --out-mapping {output.mapping} "
        "> {log} 2>&1"


rule de:
    input:
        counts=rules.prepare_counts.output.counts,
        samples=rules.prepare_counts.output.samples,
        lengths=LENGTHS,
    output:
        table=f"results/de/{CONTRAST}.tsv",
        normalized="results/de/normalized_counts.tsv",
        vst="results/de/vst.tsv",
        size_factors="results/de/size_factors.tsv",
        contrasts=[f"results/de/{c}.tsv" for c in CONTRASTS[1:]],
        lrt=["results/de/lrt.tsv"] if DE_CFG.get("lrt", False) else [],
    params:
        design=design_args(),
        contrasts=contrast_args(),
        lrt="--lrt" if DE_CFG.get("lrt", False) else "",
        min_count=DE_CFG.get("min_count", 10),
        min_samples=opt("--min-samples", DE_CFG.get("min_samples")),
        alpha=DE_CFG.get("alpha", 0.05),
        shrink="" if DE_CFG.get("shrink", True) else "--no-shrink",
        engine=DE_CFG.get("engine", "ressig"),
        fit_type=DE_CFG.get("fit_type", "parametric"),
        lengths=opt("--lengths", LENGTHS),
    log:
        "logs/de.log",
    benchmark:
        "benchmarks/workflow/de.tsv"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
        cpus_per_task=lambda wc, threads: threads,
    conda:
        ENV
    shell:
        "ressig de --counts {input.counts} --samples {input.samples} {params.design} "
        "{params.contrasts} {params.lrt} --min-count {params.min_count} {params.min_samples} --alpha {params.alpha} {params.shrink} "
        "--engine {params.engine} --fit-type {params.fit_type} {params.lengths} --threads {threads} --outdir results/de > {log} 2>&1"


wildcard_constraints:
    contrast="|".join(CONTRASTS),


rule de_plots:
    input:
        table="results/de/{contrast}.tsv",
    output:
        volcano=report(
            "results/de/plots/{contrast}_volcano.png",
            caption="../report/volcano.rst",
            category="Differential expression",
            labels=report_labels("volcano plot", contrast=True),
        ),
        ma=report(
            "results/de/plots/{contrast}_ma.png",
            caption="../report/ma.rst",
            category="Differential expression",
            labels=report_labels("MA plot", contrast=True),
        ),
    params:
        alpha=DE_CFG.get("alpha", 0.05),
        label=" ".join(DE_CFG.get("label_genes", ["ABCB1", "IL3RA"])),
    log:
        "logs/de_plots/{contrast}.log",
    benchmark:
        "benchmarks/workflow/de_plots/{contrast}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=lambda wc, attempt: 10 * attempt,
    conda:
        ENV
    shell:
        "ressig plot-de --de {input.table} --alpha {params.alpha} --label {params.label} "
        "--volcano {output.volcano} --ma {output.ma} > {log} 2>&1"


register_targets(
    rules.de.output.table,
    *rules.de.output.contrasts,
    *rules.de.output.lrt,
    *expand(rules.de_plots.output.volcano, contrast=CONTRASTS),
    *expand(rules.de_plots.output.ma, contrast=CONTRASTS),
)


if MULTI_CONTRAST:

    rule plot_contrasts:
        input:
            de=[f"results/de/{c}.tsv" for c in CONTRASTS],
            # the frozen signature's genes (rule signature, workflow/rules/signature.smk)
            genes=f"results/signature/{config['signature']['name']}_genes.tsv",
        output:
            report(
                "results/de/plots/contrasts.png",
                caption="../report/contrasts.rst",
                category="Differential expression",
                labels=report_labels("all contrasts", signature=True),
            ),
        params:
            alpha=DE_CFG.get("alpha", 0.05),
            label=" ".join(DE_CFG.get("label_genes", ["ABCB1", "IL3RA"])),
        log:
            "logs/plot_contrasts.log",
        benchmark:
            "benchmarks/workflow/plot_contrasts.tsv"
        threads: 1
        resources:
            mem_mb=lambda wc, attempt: 1000 * attempt,
            runtime=lambda wc, attempt: 10 * attempt,
        conda:
            ENV
        shell:
            "ressig plot-contrasts --de {input.de} --genes {params.label} --genes-file {input.genes} "
            "--alpha {params.alpha} --out {output} > {log} 2>&1"

    register_targets(rules.plot_contrasts.output)
