# Score step: every cohort of config `cohorts` is scored with the frozen signature, split into
# `scoring.shards` blocks of samples/cells (one job each) and gathered into one table that is
# byte-identical to an unsharded run. Pseudobulk cohorts are scored in one job.
include: "score_common.smk"


wildcard_constraints:
    cohort="[A-Za-z0-9._-]+",
    shard=r"\d+",
    nshards=r"\d+",


rule simulate_cohorts:
    input:
        truth="resources/demo/truth.tsv",
    output:
        bulk="results/cohorts/demo_bulk.tsv",
        bulk_truth="results/cohorts/demo_bulk_truth.tsv",
        sc="results/cohorts/demo_sc.h5ad",
        sc_truth="results/cohorts/demo_sc_truth.tsv",
    log:
        "logs/simulate_cohorts.log",
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 10 * attempt,
    conda:
        ENV
    shell:
        "ressig simulate-cohorts --truth {input.truth} --outdir results/cohorts > {log} 2>&1"


rule score_shard:
    input:
        unpack(cohort_inputs),
        signature=SIG_JSON,
    output:
        scores=temp("results/scores/{cohort}/shards/{shard}-of-{nshards}.tsv"),
        coverage=temp("results/scores/{cohort}/shards/{shard}-of-{nshards}.coverage.tsv"),
        mapping=temp("results/scores/{cohort}/shards/{shard}-of-{nshards}.mapping.tsv"),
    params:
        options=cohort_options,
    log:
        "logs/score/{cohort}.{shard}-of-{nshards}.log",
    benchmark:
        "benchmarks/workflow/score/{cohort}.{shard}-of-{nshards}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    conda:
        ENV
    shell:
        "ressig score --signature {input.signature} --input {input.data} {params.options} "
        "--shard {wildcards.shard}/{wildcards.nshards} --no-progress "
        "--out {output.scores} --coverage-out {output.coverage} --mapping-out {output.mapping} > {log} 2>&1"


rule score_gather:
    input:
        shards=lambda wc: shard_files(wc.cohort, "scores"),
        coverage=lambda wc: shard_files(wc.cohort, "coverage"),
        mapping=lambda wc: shard_files(wc.cohort, "mapping")[0],
        data=lambda wc: COHORTS[wc.cohort]["path"],
        signature=SIG_JSON,
    output:
        scores=report(
            "results/scores/{cohort}/scores.tsv",
            caption="../report/cohort_scores_table.rst",
            category="Cohort scores",
            subcategory="{cohort}",
            labels=report_labels("scores table", cohort=True, signature=True),
        ),
        coverage="results/scores/{cohort}/coverage.tsv",
        mapping="results/scores/{cohort}/gene_mapping.tsv",
        plot=report(
            "results/scores/{cohort}/score_distribution.png",
            caption="../report/cohort_score_distribution.rst",
            category="Cohort scores",
            subcategory="{cohort}",
            labels=report_labels("score distribution", cohort=True, signature=True),
        ),
    params:
        name="{cohort}",
        input=gather_input_options,
        alpha=SCORING_CFG.get("alpha", 0.05),
    log:
        "logs/score/{cohort}.gather.log",
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    conda:
        ENV
    shell:
        "ressig score-gather --shards {input.shards} --coverage {input.coverage} "
        "--signature {input.signature} --out {output.scores} --coverage-out {output.coverage} "
        "--mapping {input.mapping} --mapping-out {output.mapping} --input {input.data} {params.input} "
        "--plot {output.plot} --cohort-name {params.name} --alpha {params.alpha} > {log} 2>&1"


rule score_h5ad:
    input:
        scores="results/scores/{cohort}/scores.tsv",
        data=lambda wc: COHORTS[wc.cohort]["path"],
        signature=SIG_JSON,
    output:
        h5ad="results/scores/{cohort}/scores.h5ad",
        embedding=report(
            "results/scores/{cohort}/score_embedding.png",
            caption="../report/cohort_score_embedding.rst",
            category="Cohort scores",
            subcategory="{cohort}",
            labels=report_labels("score embedding", cohort=True, signature=True),
        ),
        groups=report(
            "results/scores/{cohort}/score_groups.png",
            caption="../report/cohort_score_groups.rst",
            category="Cohort scores",
            subcategory="{cohort}",
            labels=report_labels("scores per group", cohort=True, signature=True),
        ),
    params:
        pseudobulk=lambda wc: opt("--pseudobulk", COHORTS[wc.cohort].get("pseudobulk")),
        group_by=lambda wc: cohort_group_by(wc.cohort),
    log:
        "logs/score/{cohort}.h5ad.log",
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    conda:
        ENV
    shell:
        "ressig score-gather --shards {input.scores} --signature {input.signature} "
        "--input {input.data} --out-h5ad {output.h5ad} {params.pseudobulk} "
        "--embedding-plot {output.embedding} --group-plot {output.groups} --group-by {params.group_by} "
        "> {log} 2>&1"


for _name in COHORTS:
    register_targets(f"results/scores/{_name}/scores.tsv", f"results/scores/{_name}/score_distribution.png",
                     f"results/scores/{_name}/gene_mapping.tsv")
    if cohort_is_h5ad(_name):
        register_targets(f"results/scores/{_name}/scores.h5ad", f"results/scores/{_name}/score_embedding.png",
                         f"results/scores/{_name}/score_groups.png")
