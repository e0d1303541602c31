# mRNA vs protein concordance (CD123/IL3RA, P-gp/ABCB1, any marker <-> gene pair), per contrast:
# results/concordance/ with one contrast, results/concordance/<contrast>/ with several. Enabled only
# when the config names a protein table (concordance.protein) or an FCS table (concordance.fcs.files).
# The protein input is validated when the workflow is parsed, so a bad table stops the run before
# the DE step.
import shlex

from ressig.protein import fcs_files, read_fcs_table, read_protein_table

CONC = config.get("concordance") or {}
CONC_FCS = CONC.get("fcs") or {}
CONC_ENABLED = bool(CONC.get("protein") or CONC_FCS.get("files"))

if CONC.get("protein") and CONC_FCS.get("files"):
    raise ValueError(
        "config: set either concordance.protein (table) or concordance.fcs.files (FCS table), not both"
    )

if CONC.get("protein"):
    validate(
        read_protein_table(CONC["protein"], list(SAMPLES.index)).drop(columns="origin"),
        schema="../schemas/protein.schema.yaml",
    )
    CONC_INPUTS = [CONC["protein"]]
    CONC_SOURCE = f"--protein {shlex.quote(CONC['protein'])}"
elif CONC_FCS.get("files"):
    CONC_INPUTS = [
        CONC_FCS["files"],
        *fcs_files(read_fcs_table(CONC_FCS["files"], list(SAMPLES.index))),
    ]
    CONC_SOURCE = " ".join(
        [
            f"--fcs-table {shlex.quote(CONC_FCS['files'])}",
            f"--min-events {CONC_FCS.get('min_events', 100)}",
            "--channel "
            + " ".join(shlex.quote(f"{m}={c}") for m, c in (CONC_FCS.get("channels") or {}).items()),
            "--gate "
            + " ".join(
                shlex.quote(f"{ch}={lo}:{hi}")
                for ch, (lo, hi) in (CONC_FCS.get("gate") or {}).items()
            ),
        ]
    )


if CONC_ENABLED:

    rule concordance:
        input:
            protein=CONC_INPUTS,
            de=contrast_de,
            normalized="results/de/normalized_counts.tsv",
            samples="results/counts/samples.tsv",
        output:
            table=report(
                f"results/concordance/{CONTRAST_DIR}concordance.tsv",
                caption="../report/concordance_table.rst",
                category="mRNA vs protein",
                subcategory=contrast_label,
                labels=report_labels("concordance table", contrast=True),
            ),
            wells=f"results/concordance/{CONTRAST_DIR}protein_wells.tsv",
            per_sample=f"results/concordance/{CONTRAST_DIR}protein_samples.tsv",
            lfc=report(
                f"results/concordance/{CONTRAST_DIR}lfc_mrna_vs_protein.png",
                caption="../report/concordance_lfc.rst",
                category="mRNA vs protein",
                subcategory=contrast_label,
                labels=report_labels("mRNA vs protein log2FC", contrast=True),
            ),
            samples_plot=report(
                f"results/concordance/{CONTRAST_DIR}per_sample.png",
                caption="../report/concordance_samples.rst",
                category="mRNA vs protein",
                subcategory=contrast_label,
                labels=report_labels("per-sample mRNA and protein", contrast=True),
            ),
        params:
            source=CONC_SOURCE,
            design=lambda wc: design_args(contrast_of(wc)),
            outdir=contrast_outdir,
            contrast=contrast_of,  # named in the report captions
            pairs=" ".join(
                shlex.quote(f"{m}={g}")
                for m, g in (CONC.get("pairs") or {"CD123": "IL3RA", "P-gp": "ABCB1"}).items()
            ),
            margin=CONC.get("margin", 0.5),
            protein_margin=opt("--protein-margin", CONC.get("protein_margin")),
            alpha=CONC.get("alpha", 0.05),
            model=CONC.get("protein_model", "linear"),
            mrna_p=CONC.get("mrna_p", "padj"),
            min_replicates=CONC.get("min_replicates", 2),
            nonpositive=CONC.get("nonpositive", "error"),
        log:
            per_contrast("logs/concordance", "log"),
        benchmark:
            per_contrast("benchmarks/workflow/concordance", "tsv")
        threads: 1
        resources:
            mem_mb=lambda wc, attempt: 2000 * attempt,
            runtime=lambda wc, attempt: 15 * attempt,
        conda:
            ENV
        shell:
            "ressig concordance --de {input.de} --normalized {input.normalized} "
            "--samples {input.samples} {params.source} --pair {params.pairs} {params.design} "
            "--margin {params.margin} {params.protein_margin} --alpha {params.alpha} "
            "--protein-model {params.model} --mrna-p {params.mrna_p} "
            "--min-replicates {params.min_replicates} --nonpositive {params.nonpositive} "
            "--outdir {params.outdir} > {log} 2>&1"

    register_targets(
        *expand(rules.concordance.output.table, contrast=CONTRASTS),
        *expand(rules.concordance.output.lfc, contrast=CONTRASTS),
        *expand(rules.concordance.output.samples_plot, contrast=CONTRASTS),
    )
