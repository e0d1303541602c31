# Helpers of the outcome step (clinical config -> outputs and `ressig associate` options).
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
            opt("--signature", clin.get("signatures", [])),
            f"--min-events {clin.get('min_events', 10)}",
        ]
    )

