# Functional evidence: viability dose-response (IC50, fold resistance, reversal by a P-gp inhibitor),
# an optional dye-efflux assay, and the evidence table per mechanism joining them with the DE table and
# the mRNA-vs-protein concordance. Enabled only when the config sets functional.plate; the plate (and
# dye) tables are validated when the workflow is parsed, so a bad table stops the run before the DE step.
import shlex

from ressig.doseresponse import read_dye, read_plate

FUNC = config.get("functional") or {}
FUNC_ENABLED = bool(FUNC.get("plate"))

if FUNC_ENABLED:
    read_plate(FUNC["plate"])
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
            ),
            shift=report(
                "results/functional/shift.tsv",
                caption="../report/functional_shift.rst",
                category="Functional evidence",
            ),
            viability="results/functional/viability.tsv",
            dye=["results/functional/dye.tsv"] if FUNC_DYE_INPUT else [],
            curves=report(
                "results/functional/curves.png",
                caption="../report/functional_curves.rst",
                category="Functional evidence",
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
            treatment=DESIGN["treatment"],
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
            de=f"results/de/{CONTRAST}.tsv",
            concordance=(
                [f"results/concordance/{CONTRAST_DIR.format(contrast=CONTRAST)}concordance.tsv"]
                if CONC_ENABLED
                else []
            ),
            shift="results/functional/shift.tsv",
            dye=["results/functional/dye.tsv"] if FUNC_DYE_INPUT else [],
        output:
            table=report(
                "results/functional/evidence.tsv",
                caption="../report/functional_evidence.rst",
                category="Functional evidence",
            ),
        params:
            concordance=lambda wc, input: opt("--concordance", input.concordance),
            dye=lambda wc, input: opt("--dye", input.dye),
            treatment=DESIGN["treatment"],
            names=" ".join(
                f"--{k.replace('_', '-')} {shlex.quote(str(FUNC.get(k, d)))}"
                for k, d in (
                    ("efflux_gene", "ABCB1"),
                    ("efflux_marker", "P-gp"),
                    ("antigen_gene", "IL3RA"),
                    ("antigen_marker", "CD123"),
                )
            ),
        log:
            "logs/evidence.log",
        benchmark:
            "benchmarks/workflow/evidence.tsv"
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
        rules.evidence.output.table,
    )
