# Outcome step: for every cohort whose config has a `clinical:` block, its scores are tested against
# survival (Cox per SD of score, Kaplan-Meier/log-rank of a median split) and/or a binary response
# (logistic model, AUC) by `ressig associate` into results/outcome/<cohort>/. One rule per cohort:
# its outputs depend on what the cohort's clinical block asks for.
OUTCOME = {name: c["clinical"] for name, c in COHORTS.items() if c.get("clinical")}


def outcome_outputs(name, clin):
    """Named outputs of a cohort's outcome rule (survival and/or response files)."""
    out = {"matching": f"results/outcome/{name}/matching.tsv"}
    if clin.get("time") or clin.get("event"):
        out["survival"] = report(f"results/outcome/{name}/survival.tsv", caption="../report/outcome_survival.rst",
                                 category="Outcome", subcategory=name, labels={"cohort": name, "table": "survival"})
        out["km"] = report(f"results/outcome/{name}/km.png", caption="../report/outcome_km.rst",
                           category="Outcome", subcategory=name, labels={"cohort": name, "figure": "Kaplan-Meier"})
        out["forest"] = report(f"results/outcome/{name}/forest.png", caption="../report/outcome_forest.rst",
                               category="Outcome", subcategory=name, labels={"cohort": name, "figure": "forest"})
    if clin.get("response"):
        out["response"] = report(f"results/outcome/{name}/response.tsv", caption="../report/outcome_response.rst",
                                 category="Outcome", subcategory=name, labels={"cohort": name, "table": "response"})
        out["response_plot"] = report(f"results/outcome/{name}/response.png",
                                      caption="../report/outcome_response_plot.rst", category="Outcome",
                                      subcategory=name, labels={"cohort": name, "figure": "score by response"})
    return out


def outcome_options(clin):
    """`ressig associate` options of a clinical block."""
    return " ".join(
        [
            f"--sample-col {clin.get('sample', 'sample')}",
            opt("--time", clin.get("time")),
            opt("--event", clin.get("event")),
            opt("--event-level", clin.get("event_level")),
            opt("--time-unit", clin.get("time_unit")),
            opt("--covariates", clin.get("covariates", [])),
            opt("--strata", clin.get("strata")),
            opt("--response", clin.get("response")),
            opt("--positive", clin.get("positive")),
            opt("--signature", clin.get("signatures", [])),
            f"--min-events {clin.get('min_events', 10)}",
        ]
    )


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

    rule:
        name:
            f"outcome_{_name}"
        input:
            scores=f"results/scores/{_name}/scores.tsv",
            clinical=_clin["path"],
        output:
            **outcome_outputs(_name, _clin),
        params:
            options=outcome_options(_clin),
            outdir=f"results/outcome/{_name}",
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
            "ressig associate --scores {input.scores} --clinical {input.clinical} {params.options} "
            "--out {params.outdir} > {log} 2>&1"

    register_targets(*(str(p) for p in outcome_outputs(_name, _clin).values()))
