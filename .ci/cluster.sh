#!/usr/bin/env bash
# CI stage "cluster": the demo workflow on a real single-node SLURM cluster.
#
#   bash .ci/cluster.sh
#
# Installs Debian's slurm-wlm and munge (needs root and the Debian mirror), starts a local
# slurmctld + slurmd + munged (tests/cluster/local_slurm.sh), runs the SLURM-marked tests with
# RESSIG_SLURM_TEST=1 (so an unreachable cluster fails instead of skipping), and always stops the
# cluster again, also on failure or Ctrl-C. Budget: under 10 minutes.
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"  # slurmctld, slurmd, munged (a stripped PATH lacks sbin)
start=$(date +%s)
stage() { echo "== cluster stage: $* ($(($(date +%s) - start)) s)"; }

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    stage "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

# Runs in the venv of .ci/run stage 1 (ressig + its declared dependencies, nothing else): the
# snakemake executor plugin must come from pyproject.toml, not from a hand-installed package.
python -c "import snakemake_executor_plugin_slurm, ressig, sys; print('cluster stage python:', sys.prefix)"

export RESSIG_SLURM_DIR=${RESSIG_SLURM_DIR:-$(mktemp -d /tmp/ressig-slurm.XXXXXX)}
cleanup() {
    rc=$?
    if [ "$rc" -ne 0 ] && [ -d "$RESSIG_SLURM_DIR/log" ]; then
        echo "== cluster stage failed ($rc); last daemon log lines:"
        tail -n 20 "$RESSIG_SLURM_DIR"/log/*.log || true
    fi
    bash tests/cluster/local_slurm.sh stop || true
    stage "done (exit $rc)"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stage "starting the local SLURM cluster in $RESSIG_SLURM_DIR"
cluster_env=$(bash tests/cluster/local_slurm.sh start)   # a failed start stops the stage here
eval "$cluster_env"
sinfo

stage "running the cluster test"
# Fixed creation time for signature artefacts, so SLURM and local results are byte-identical.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
RESSIG_SLURM_TEST=1 python -m pytest tests/test_cluster.py -m slurm -q -p no:cacheprovider
