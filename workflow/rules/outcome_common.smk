# Helpers of the outcome step (clinical config -> outputs and `ressig associate` options).
from types import SimpleNamespace

OUTCOME = {name: c["clinical"] for name, c in COHORTS.items() if c.get("clinical")}
for _cname, _cclin in OUTCOME.items():
    if not (_cclin.get("time") and _cclin.get("event")) and not (_cclin.get("response") and _cclin.get("positive") is not None):
        raise RessigError(
            f"{CONFIG_SOURCE}: cohorts.{_cname}.clinical tests nothing: set time and event (survival) "
            "and/or response and positive"
        )


def outcome_outputs(name, clin):
    """Named outputs of a cohort's outcome rule (survival and/or response files)."""
    out = {"matching": f"results/outcome/{name}/matching.tsv"}
    surv = {"cohort": name, "table": "survival"}
    km = {"cohort": name, "figure": "Kaplan-Meier"}
    forest = {"cohort": name, "figure": "forest"}
    resp = {"cohort": name, "table": "response"}
    resp_plot = {"cohort": name, "figure": "score by response"}
    if clin.get("time") or clin.get("event"):
        out["survival"] = report(
            f"results/outcome/{name}/survival.tsv",
            caption="../report/outcome_survival.rst",
            category="Outcome",
            subcategory=name,
            labels=surv,
        )
        out["km"] = report(
            f"results/outcome/{name}/km.png",
            caption="../report/outcome_km.rst",
            category="Outcome",
            subcategory=name,
            labels=km,
        )
        out["forest"] = report(
            f"results/outcome/{name}/forest.png",
            caption="../report/outcome_forest.rst",
            category="Outcome",
            subcategory=name,
            labels=forest,
        )
    if clin.get("response"):
        out["response"] = report(
            f"results/outcome/{name}/response.tsv",
            caption="../report/outcome_response.rst",
            category="Outcome",
            subcategory=name,
            labels=resp,
        )
        out["response_plot"] = report(
            f"results/outcome/{name}/response.png",
            caption="../report/outcome_response_plot.rst",
            category="Outcome",
            subcategory=name,
            labels=resp_plot,
        )
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
            opt("--signature", outcome_signatures(clin)),
            f"--min-events {clin.get('min_events', 10)}",
        ]
    )



def outcome_signatures(clin):
    """Signatures to test: `signatures` (default all of the signature's table) plus `genesets`."""
    if not clin.get("genesets"):
        return clin.get("signatures", [])
    return list(dict.fromkeys([*(clin.get("signatures") or [SIG_NAME]), *clin["genesets"]]))


def outcome_geneset_tables(name, clin):
    """Gene-set score tables of a cohort (one per GMT of genesets.files) when `genesets` is set."""
    if not clin.get("genesets"):
        return []
    files = config.get("genesets", {}).get("files") or []
    return [f"results/outcome/{name}/geneset_scores/{i}.tsv" for i in range(1, len(files) + 1)]


def outcome_geneset_options(name):
    """`ressig score` options of a cohort for its gene-set scores: the cohort's, without p-values."""
    return cohort_options(SimpleNamespace(cohort=name)) + " --null-draws 0"
