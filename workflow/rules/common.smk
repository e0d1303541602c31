# Config and sample-sheet validation, shared values and the list of final targets.
# Rule files register their final outputs with register_targets(); `rule all` asks for them.
import os

from snakemake.utils import validate

from ressig.de import contrast_name
from ressig.io import read_sample_sheet


validate(config, schema="../schemas/config.schema.yaml")

SAMPLES = read_sample_sheet(config["samples"])
validate(SAMPLES.reset_index(), schema="../schemas/samples.schema.yaml")

DESIGN = config["design"]
DE_CFG = config.get("de", {})
CONTRAST = contrast_name(DESIGN["treatment"], DESIGN["reference"])
# all contrasts of the one DE model: treatment vs reference first (the model's reference level and
# the contrast concordance, efflux and the signature use), then design.contrasts
CONTRAST_PAIRS = [(DESIGN["treatment"], DESIGN["reference"])] + [
    (c["treatment"], c["reference"])
    for c in DESIGN.get("contrasts") or []
    if (c["treatment"], c["reference"]) != (DESIGN["treatment"], DESIGN["reference"])
]
CONTRASTS = [contrast_name(t, r) for t, r in CONTRAST_PAIRS]
ENV = "../../environment.yml"

_TARGETS = []


def register_targets(*paths):
    """Add final outputs of a rule file to `rule all`."""
    _TARGETS.extend(paths)


def all_targets():
    return list(_TARGETS)


def counts_input(wildcards):
    """Raw counts inputs: the counts file, or per-sample quantification files (salmon/kallisto)."""
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


def design_args():
    return " ".join(
        [
            f"--condition {DESIGN['condition']}",
            f"--reference {DESIGN['reference']}",
            f"--treatment {DESIGN['treatment']}",
            opt("--covariates", DESIGN.get("covariates", [])),
            opt("--continuous", DESIGN.get("continuous", [])),
        ]
    )


def contrast_args():
    """--contrast T:R for every contrast beyond the first (empty for a two-level design)."""
    if len(CONTRAST_PAIRS) == 1:
        return ""
    return " ".join(f"--contrast {t}:{r}" for t, r in CONTRAST_PAIRS)
