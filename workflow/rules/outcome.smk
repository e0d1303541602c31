# Outcome step: for every cohort whose config has a `clinical:` block, its scores are tested against
# survival (Cox per SD of score, Kaplan-Meier/log-rank of a median split) and/or a binary response
# (logistic model, AUC) by `ressig associate` into results/outcome/<cohort>/. One rule per cohort:
# its outputs depend on what the cohort's clinical block asks for.
include: "outcome_common.smk"


rule simulate_clinical:
    input:
        scores="results/scores/demo_bulk/scores.tsv",
    output:
        clinical="results/cohorts/demo_bulk_clinical.tsv",
    params:
        planted=f"--hr {SIG_NAME}=2 --or {SIG_NAME}=3",
    log:
        "logs/simulate_clinical.log",
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=lambda wc, attempt: 10 * attempt,
    conda:
        ENV
    shell:
        "ressig simulate-clinical --scores {input.scores} --out {output.clinical} {params.planted} > {log} 2>&1"


for _name, _clin in OUTCOME.items():
    for _i, _gmt in enumerate(outcome_geneset_tables(_name, _clin), start=1):

        rule:
            name:
                f"outcome_geneset_scores_{_name}_{_i}"
            input:
                **cohort_inputs(SimpleNamespace(cohort=_name)),
                gmt=config["genesets"]["files"][_i - 1],
            output:
                scores=_gmt,
            params:
                options=outcome_geneset_options(_name),
            log:
                f"logs/outcome/{_name}.geneset_scores.{_i}.log",
            threads: 1
            resources:
                mem_mb=lambda wc, attempt: 4000 * attempt,
                runtime=lambda wc, attempt: 60 * attempt,
            conda:
                ENV
            shell:
                "ressig score --signature {input.gmt} --input {input.data} {params.options} --no-progress "
                "--out {output.scores} > {log} 2>&1"

    rule:
        name:
            f"outcome_{_name}"
        input:
            scores=f"results/scores/{_name}/scores.tsv",
            genesets=outcome_geneset_tables(_name, _clin),
            clinical=_clin["path"],
        output:
            **outcome_outputs(_name, _clin),
        params:
            options=outcome_options(_clin),
            outdir=lambda wc, output: os.path.dirname(output.matching),
        log:
            f"logs/outcome/{_name}.log",
        benchmark:
            f"benchmarks/workflow/outcome/{_name}.tsv"
        threads: 1
        resources:
            mem_mb=lambda wc, attempt: 2000 * attempt,
            runtime=lambda wc, attempt: 20 * attempt,
        conda:
            ENV
        shell:
            "ressig associate --scores {input.scores} {input.genesets} --clinical {input.clinical} {params.options} "
            "--out {params.outdir} > {log} 2>&1"

    register_targets(*(str(p) for p in outcome_outputs(_name, _clin).values()))
