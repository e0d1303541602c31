# Config and sample-sheet validation, shared values and the list of final targets.
# Rule files register their final outputs with register_targets(); `rule all` asks for them.
# The config is the user's --configfile alone (or the demo, config/demo.yaml, without one; see
# the Snakefile): every key it leaves out takes its schema default, filled in here. Optional steps
# (concordance, cohorts, ...) default to off and define/register their rules only when configured.
import os

from snakemake.utils import validate

from ressig.config import check_config, check_paths, load_schema, prefer_own_scripts
from ressig.de import contrast_name
from ressig.errors import RessigError
from ressig.io import read_sample_sheet


# Every rule runs the `ressig` of the Python that runs this workflow (its jobs too, locally and on
# SLURM, where the job step starts the same interpreter and reads this file again), never whichever
# `ressig` happens to be first on PATH: that interpreter's scripts folder goes first.
prefer_own_scripts()

CONFIG_SCHEMA = "../schemas/config.schema.yaml"
CONFIG_SOURCE = ", ".join(
    os.path.relpath(p) for p in (workflow.overwrite_configfiles or ["config/demo.yaml"])
)
# one line naming the key (unknown, missing, wrong type) instead of a schema dump
# (loaded once, here: snakemake 9.0 resolves source_path against the *calling* file, so
# check_config_paths, called from the Snakefile, could not resolve it itself)
CONFIG_SCHEMA_DOC = load_schema(workflow.source_path(CONFIG_SCHEMA))
check_config(config, CONFIG_SCHEMA_DOC, CONFIG_SOURCE)
# fill the schema defaults into every section (nested ones too)
validate(config, schema=CONFIG_SCHEMA, set_default=True)

SAMPLES = read_sample_sheet(config["samples"])
validate(SAMPLES.reset_index(), schema="../schemas/samples.schema.yaml")

DESIGN = config["design"]
DE_CFG = config.get("de", {})
CONTRAST = contrast_name(DESIGN["treatment"], DESIGN["reference"])
# all contrasts of the one DE model: treatment vs reference first (the model's reference level, the
# default of signature.contrast; functional evidence: every arm on the plate), then design.contrasts
CONTRAST_PAIRS = [(DESIGN["treatment"], DESIGN["reference"])] + [
    (c["treatment"], c["reference"])
    for c in DESIGN.get("contrasts") or []
    if (c["treatment"], c["reference"]) != (DESIGN["treatment"], DESIGN["reference"])
]
CONTRASTS = [contrast_name(t, r) for t, r in CONTRAST_PAIRS]
CONTRAST_PAIR = dict(zip(CONTRASTS, CONTRAST_PAIRS))
# per-contrast steps (concordance, efflux) write results/<step>/<contrast>/ when there are several
# contrasts, and results/<step>/ (the paths of a two-level experiment) when there is one
MULTI_CONTRAST = len(CONTRASTS) > 1
CONTRAST_DIR = "{contrast}/" if MULTI_CONTRAST else ""


# salmon/kallisto/rsem with estimated counts: prepare writes the average transcript lengths and DE uses
# them as DESeq2 normalisation factors (counts.counts_from_abundance: length_scaled_tpm = no lengths)
USE_LENGTHS = (
    config["counts"].get("format") in ("salmon", "kallisto", "rsem")
    and config["counts"].get("counts_from_abundance", "none") == "none"
)
LENGTHS = ["results/counts/lengths.tsv"] if USE_LENGTHS else []
if USE_LENGTHS and DE_CFG.get("engine", "ressig") != "ressig":
    raise RessigError(
        f"{CONFIG_SOURCE}: de.engine {DE_CFG['engine']} cannot use the {config['counts']['format']} transcript "
        "lengths (pydeseq2 has no normalisation factors); set de.engine: ressig, or "
        "counts.counts_from_abundance: length_scaled_tpm"
    )
ENV = "../../environment.yml"

_TARGETS = []


def register_targets(*paths):
    """Add final outputs of a rule file to `rule all`."""
    _TARGETS.extend(paths)


def all_targets():
    return list(_TARGETS)


def counts_input(wildcards):
    """Raw counts inputs: the counts file, or per-sample quantification files (salmon/kallisto/rsem)."""
    files = [config["samples"]]
    if config["counts"].get("path"):
        files.append(config["counts"]["path"])
    if "counts" in SAMPLES.columns:
        files.extend(SAMPLES["counts"].tolist())
    if config["counts"].get("tx2gene"):
        files.append(config["counts"]["tx2gene"])
    return files


def opt(flag, value):
    """Render an optional CLI flag: '' when value is None/empty, else '--flag value'."""
    if value is None or value == [] or value == "":
        return ""
    if isinstance(value, (list, tuple)):
        return f"{flag} " + " ".join(str(v) for v in value)
    return f"{flag} {value}"


def pair_args(contrast=CONTRAST):
    """--condition/--reference/--treatment of one contrast (default: the first)."""
    treatment, reference = CONTRAST_PAIR[contrast]
    return f"--condition {DESIGN['condition']} --reference {reference} --treatment {treatment}"


def design_args(contrast=CONTRAST):
    """pair_args plus the design covariates."""
    return " ".join(
        [
            pair_args(contrast),
            opt("--covariates", DESIGN.get("covariates", [])),
            opt("--continuous", DESIGN.get("continuous", [])),
        ]
    )


def per_contrast(stem, ext):
    """Log or benchmark path of a per-contrast step: <stem>/{contrast}.<ext> with several contrasts,
    <stem>.<ext> with one."""
    return f"{stem}/{{contrast}}.{ext}" if MULTI_CONTRAST else f"{stem}.{ext}"


def contrast_of(wildcards):
    """The contrast a per-contrast job works on (the only one when there is no wildcard)."""
    return wildcards.get("contrast", CONTRAST)


def contrast_de(wildcards):
    """DE table of the job's contrast."""
    return f"results/de/{contrast_of(wildcards)}.tsv"


def contrast_outdir(wildcards, output):
    """--outdir of a per-contrast step: the directory of its first output."""
    return os.path.dirname(output[0])


def contrast_label(wildcards):
    """Report subcategory of a per-contrast output: its contrast (none with a single contrast)."""
    return wildcards.get("contrast")


def check_config_paths():
    """Stop before any job if a configured input file neither exists nor is made by a rule.

    Called by the Snakefile once every rule is defined (the demo cohorts are made by a rule).
    """
    check_paths(
        config,
        CONFIG_SCHEMA_DOC,
        CONFIG_SOURCE,
        produced=lambda path: any(r.is_producer(path) for r in workflow.rules),
    )


def contrast_args():
    """--contrast T:R for every contrast beyond the first (empty for a two-level design)."""
    if len(CONTRAST_PAIRS) == 1:
        return ""
    return " ".join(f"--contrast {t}:{r}" for t, r in CONTRAST_PAIRS)
