# Sample QC on raw counts and the VST matrix of the DE step.


rule qc:
    input:
        counts="results/counts/counts.tsv",
        samples="results/counts/samples.tsv",
        vst="results/de/vst.tsv",
    output:
        table="results/qc/qc.tsv",
        libsizes=report(
            "results/qc/library_sizes.png", caption="../report/library_sizes.rst", category="QC",
            labels=report_labels("library sizes"),
        ),
        pca=report("results/qc/pca.png", caption="../report/pca.rst", category="QC", labels=report_labels("PCA")),
        corr=report(
            "results/qc/sample_correlation.png",
            caption="../report/sample_correlation.rst",
            category="QC",
            labels=report_labels("sample correlation"),
        ),
    params:
        condition=DESIGN["condition"],
    log:
        "logs/qc.log",
    benchmark:
        "benchmarks/workflow/qc.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=lambda wc, attempt: 10 * attempt,
    conda:
        ENV
    shell:
        "ressig qc --counts {input.counts} --vst {input.vst} --samples {input.samples} "
        "--condition {params.condition} --outdir results/qc > {log} 2>&1"


register_targets(rules.qc.output.table)
