# Functional evidence: viability dose-response (IC50, fold resistance, reversal by a P-gp inhibitor),
# an optional dye-efflux assay, and the evidence table per mechanism joining them with the DE table and
# the mRNA-vs-protein concordance. Enabled only when the config sets functional.plate; the plate (and
# dye) tables are validated when the workflow is parsed, so a bad table stops the run before the DE step.
import re
import shlex

from ressig.doseresponse import read_dye, read_plate

FUNC = config.get("functional") or {}
FUNC_ENABLED = bool(FUNC.get("plate"))

if FUNC_ENABLED:
    FUNC_CONDITIONS = set(read_plate(FUNC["plate"])["condition"])
    # evidence per contrast: the primary one, and every other arm vs the design reference that is on
    # the plate (resistant clones, sanctuary sites); fold resistance is against the design reference
    FUNC_CONTRASTS = [
        c
        for c in CONTRASTS
        if c == CONTRAST
        or (CONTRAST_PAIR[c][1] == DESIGN["reference"] and CONTRAST_PAIR[c][0] in FUNC_CONDITIONS)
    ]
    FUNC_ARMS = list(dict.fromkeys(CONTRAST_PAIR[c][0] for c in FUNC_CONTRASTS))
    if FUNC.get("dye") and FUNC.get("dye_fcs"):
        raise ValueError("config: set either functional.dye (table) or functional.dye_fcs (FCS table), not both")
    if FUNC.get("dye"):
        read_dye(FUNC["dye"])
    FUNC_DYE_INPUT = [f for f in (FUNC.get("dye"), FUNC.get("dye_fcs")) if f]
    FUNC_DYE = " ".join(
        [
            opt("--dye", FUNC.get("dye") and shlex.quote(FUNC["dye"])),
            opt("--dye-fcs", FUNC.get("dye_fcs") and shlex.quote(FUNC["dye_fcs"])),
            opt("--dye-channel", FUNC.get("dye_channel") and shlex.quote(FUNC["dye_channel"])),
            opt(
                "--gate",
                [shlex.quote(f"{ch}={lo}:{hi}") for ch, (lo, hi) in (FUNC.get("gate") or {}).items()],
            ),
            f"--min-events {FUNC.get('min_events', 100)}" if FUNC.get("dye_fcs") else "",
        ]
    )

    rule dose_response:
        input:
            plate=FUNC["plate"],
            dye=FUNC_DYE_INPUT,
        output:
            ic50=report(
                "results/functional/ic50.tsv",
                caption="../report/functional_ic50.rst",
                category="Functional evidence",
                labels=report_labels("IC50 table"),
            ),
            shift=report(
                "results/functional/shift.tsv",
                caption="../report/functional_shift.rst",
                category="Functional evidence",
                labels=report_labels("fold resistance and reversal"),
            ),
            viability="results/functional/viability.tsv",
            dye=["results/functional/dye.tsv"] if FUNC_DYE_INPUT else [],
            curves=report(
                "results/functional/curves.png",
                caption="../report/functional_curves.rst",
                category="Functional evidence",
                labels=report_labels("dose-response curves"),
            ),
        params:
            normalisation=FUNC.get("normalisation", "controls"),
            fix=" ".join(
                [
                    opt("--fix-top", FUNC.get("fix_top")),
                    opt("--fix-bottom", FUNC.get("fix_bottom")),
                    "" if FUNC.get("share_plateaus", True) else "--separate-plateaus",
                ]
            ),
            dye=FUNC_DYE,
            reference=DESIGN["reference"],
            treatment=" ".join(shlex.quote(a) for a in FUNC_ARMS),
        log:
            "logs/dose_response.log",
        benchmark:
            "benchmarks/workflow/dose_response.tsv"
        threads: 1
        resources:
            mem_mb=lambda wc, attempt: 1000 * attempt,
            runtime=lambda wc, attempt: 10 * attempt,
        conda:
            ENV
        shell:
            "ressig dose-response --input {input.plate:q} --normalisation {params.normalisation} "
            "{params.fix} {params.dye} --reference {params.reference} --treatment {params.treatment} "
            "--out results/functional > {log} 2>&1"

    rule evidence:
        input:
            de=contrast_de,
            concordance=lambda wc: (
                [f"results/concordance/{CONTRAST_DIR.format(contrast=contrast_of(wc))}concordance.tsv"]
                if CONC_ENABLED
                else []
            ),
            shift="results/functional/shift.tsv",
            dye=["results/functional/dye.tsv"] if FUNC_DYE_INPUT else [],
        output:
            table=report(
                f"results/functional/{CONTRAST_DIR}evidence.tsv",
                caption="../report/functional_evidence.rst",
                category="Functional evidence",
                subcategory=contrast_label,
                labels=report_labels("evidence table", contrast=True),
            ),
        params:
            concordance=lambda wc, input: opt("--concordance", input.concordance),
            dye=lambda wc, input: opt("--dye", input.dye),
            treatment=lambda wc: shlex.quote(CONTRAST_PAIR[contrast_of(wc)][0]),
            names=" ".join(
                f"--{k.replace('_', '-')} {shlex.quote(str(FUNC.get(k, d)))}"
                for k, d in (
                    ("efflux_gene", "ABCB1"),
                    ("efflux_marker", "P-gp"),
                    ("antigen_gene", "IL3RA"),
                    ("antigen_marker", "CD123"),
                )
            ),
        wildcard_constraints:
            contrast="|".join(re.escape(c) for c in FUNC_CONTRASTS),
        log:
            per_contrast("logs/evidence", "log"),
        benchmark:
            per_contrast("benchmarks/workflow/evidence", "tsv")
        threads: 1
        resources:
            mem_mb=lambda wc, attempt: 1000 * attempt,
            runtime=lambda wc, attempt: 10 * attempt,
        conda:
            ENV
        shell:
            "ressig evidence --de {input.de} {params.concordance} --shift {input.shift} {params.dye} "
            "--treatment {params.treatment} {params.names} --out {output.table} > {log} 2>&1"

    register_targets(
        rules.dose_response.output.ic50,
        rules.dose_response.output.shift,
        rules.dose_response.output.curves,
        *expand(rules.evidence.output.table, contrast=FUNC_CONTRASTS),
    )
