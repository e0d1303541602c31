# ressig: parental vs drug-resistant RNA-seq -> DE -> concordance, efflux, frozen signature -> patient scores.
# Run the bundled demo:   snakemake --cores 2
# Your own data:          snakemake --cores 8 --configfile my.yaml
# SLURM:                  snakemake --profile profiles/slurm
from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


# The bundled demo applies only when no --configfile is given: a user config is complete on its
# own, every key it leaves out is taken from the schema defaults (workflow/schemas), never from the demo.
if not workflow.overwrite_configfiles:

    configfile: "config/demo.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/qc.smk"
include: "workflow/rules/de.smk"
include: "workflow/rules/concordance.smk"
include: "workflow/rules/functional.smk"
include: "workflow/rules/efflux.smk"
include: "workflow/rules/signature.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/outcome.smk"
# last: the summary page takes every output registered above as input
include: "workflow/rules/summary.smk"


check_config_paths()


rule all:
    input:
        all_targets(),
    default_target: True
