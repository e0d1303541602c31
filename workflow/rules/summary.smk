# Run summary: one self-contained page stating what the run found (results/summary.html), also the
# landing page of `snakemake --report` (workflow/report/workflow.rst shows summary_landing.html).
# Included last in the Snakefile: its input is every final output registered before it (what exists
# depends on the config: optional steps register their outputs only when configured), so it runs last.
SUMMARY_INPUTS = all_targets()
SUMMARY_CONFIGS = [os.path.relpath(p) for p in (workflow.overwrite_configfiles or ["config/demo.yaml"])]


rule summary:
    input:
        SUMMARY_INPUTS,
        config=SUMMARY_CONFIGS,
    output:
        html=report(
            "results/summary.html",
            caption="../report/summary.rst",
            category="Summary",
            labels=report_labels("run summary", signature=True),
        ),
        landing="results/summary_landing.html",
    log:
        "logs/summary.log",
    benchmark:
        "benchmarks/workflow/summary.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=lambda wc, attempt: 10 * attempt,
    conda:
        ENV
    shell:
        "ressig summary --results results --config {input.config:q} --out {output.html} "
        "--landing {output.landing} > {log} 2>&1"


register_targets(rules.summary.output.html)
