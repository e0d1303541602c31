"""The demo workflow on a real SLURM cluster, through ``--profile profiles/slurm``.

Needs a running SLURM controller and node (``bash .ci/cluster.sh`` installs slurm-wlm and munge,
starts a local single-node cluster with ``tests/cluster/local_slurm.sh`` and runs this file with
``RESSIG_SLURM_TEST=1``). Without that variable the test is skipped; with it, an unreachable
cluster is a failure, not a skip.

Evidence that every rule ran on SLURM, independent of snakemake's own bookkeeping:
the plugin's submission lines give the SLURM job ids; ``squeue --states=all`` (slurmctld keeps
finished jobs for ``MinJobAge``) must list exactly those ids under this run's job name, all
``COMPLETED``; and the SLURM log of each job, written by the job itself on the node, must name the
rules it executed. Their union must be every rule of the DAG except the local ``all``.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, copy_workflow, snakemake_cmd

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.workflow,
    pytest.mark.skipif(
        os.environ.get("RESSIG_SLURM_TEST") != "1",
        reason="needs a SLURM cluster: run `bash .ci/cluster.sh` (starts a local one and sets "
        "RESSIG_SLURM_TEST=1), or set RESSIG_SLURM_TEST=1 with SLURM_CONF pointing at a cluster",
    ),
]

# Test-only flags on top of the user-facing profile: no account on the test cluster; status from
# squeue because the test cluster has no slurmdbd (see tests/cluster/local_slurm.sh); the first
# status check after 2 s instead of 40 s; keep the SLURM logs of successful jobs as evidence.
SLURM_TEST_FLAGS = (
    "--slurm-no-account",
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
    "--slurm-keep-successful-logs",
)
LOCAL_RULES = {"all"}
SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.?$",
                       re.MULTILINE)
RUN_ID = re.compile(r"SLURM run ID: (\S+)")
RULE_LINE = re.compile(r"^\s*rule (\w+):$", re.MULTILINE)


def _slurm(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def cluster() -> str:
    """Name of an idle-or-busy node of the reachable cluster; fails (not skips) otherwise."""
    if shutil.which("sinfo") is None:
        pytest.fail("RESSIG_SLURM_TEST=1 but the SLURM client `sinfo` is not installed "
                    "(apt-get install -y slurm-wlm munge)")
    proc = _slurm("sinfo", "--noheader", "--format=%n|%T")
    nodes = dict(line.split("|") for line in proc.stdout.split())
    usable = [n for n, state in nodes.items() if state.rstrip("*") in {"idle", "mixed", "allocated"}]
    if proc.returncode != 0 or not usable:
        pytest.fail(f"RESSIG_SLURM_TEST=1 but no usable SLURM node (SLURM_CONF="
                    f"{os.environ.get('SLURM_CONF')}): sinfo exit {proc.returncode}, "
                    f"nodes {nodes}, stderr {proc.stderr.strip()!r}. Start one with "
                    f"`eval \"$(bash tests/cluster/local_slurm.sh start)\"`.")
    return usable[0]


@pytest.fixture(scope="module")
def slurm_run(cluster: str, tmp_path_factory: pytest.TempPathFactory,
              request: pytest.FixtureRequest):
    """A complete demo run submitted through ``--profile profiles/slurm``: (workdir, log text).

    The local reference run (``demo_run``) is made while the SLURM run waits for its jobs, so the
    two overlap instead of adding up.
    """
    workdir = copy_workflow(tmp_path_factory.mktemp("slurm_run"))
    shutil.copytree(REPO / "profiles", workdir / "profiles", symlinks=True)
    cmd = [*snakemake_cmd(), "--cores", "2", "--profile", "profiles/slurm", *SLURM_TEST_FLAGS]
    log_path = workdir / "snakemake_slurm.log"
    with log_path.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
        try:
            request.getfixturevalue("demo_run")
            rc = proc.wait(timeout=900)
        finally:
            if proc.poll() is None:  # also cancels the run's SLURM jobs
                proc.terminate()
                proc.wait(timeout=120)
    log = log_path.read_text()
    assert rc == 0, f"snakemake --profile profiles/slurm failed ({rc}):\n{log[-6000:]}"
    return workdir, log


def _dag_rules(log: str) -> set[str]:
    """Rules of the run's DAG, from snakemake's first 'Job stats' table."""
    table = log.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rows = [line.split() for line in table.splitlines()[3:]]
    return {row[0] for row in rows if len(row) == 2 and row[0] != "total"}


def test_every_rule_ran_as_a_completed_slurm_job(slurm_run):
    workdir, log = slurm_run
    run_id = RUN_ID.search(log).group(1)
    submitted = SUBMITTED.findall(log)
    assert submitted, f"no SLURM submissions in the snakemake log:\n{log[-3000:]}"
    job_ids = {slurm_id for _, slurm_id, _ in submitted}

    # slurmctld's own record: every job of this run (job name = run id) and only those.
    proc = _slurm("squeue", "--states=all", "--noheader", "--format=%i|%T|%k", "--name", run_id)
    assert proc.returncode == 0, proc.stderr
    states = {jid: (state, comment) for jid, state, comment in
              (line.split("|") for line in proc.stdout.split())}
    assert set(states) == job_ids, f"squeue shows {states}, snakemake submitted {job_ids}"
    assert {s for s, _ in states.values()} == {"COMPLETED"}, states

    # Each job's own SLURM log names the rules it ran (a group job runs several).
    ran_on_slurm: dict[str, list[str]] = {}
    for _, slurm_id, slurm_log in submitted:
        text = Path(slurm_log).read_text()
        assert "--executor slurm-jobstep" in text, f"job {slurm_id} did not run via the jobstep"
        for rule in set(RULE_LINE.findall(text)):
            ran_on_slurm.setdefault(rule, []).append(slurm_id)
    expected = _dag_rules(log) - LOCAL_RULES
    assert {"prepare_counts", "de", "de_plots", "qc"} <= expected
    assert set(ran_on_slurm) == expected, (
        f"rules run inside SLURM jobs {sorted(ran_on_slurm)} != rules of the DAG {sorted(expected)}")
    # Nothing but the local target rule ran on the submitting host.
    assert set(re.findall(r"^localrule (\w+):$", log, re.MULTILINE)) == LOCAL_RULES


def test_rule_resources_reach_sbatch(slurm_run, cluster):
    """The de rule's threads and mem_mb become the job's CPUs and memory."""
    _, log = slurm_run
    run_id = RUN_ID.search(log).group(1)
    proc = _slurm("squeue", "--states=all", "--noheader", "--format=%k|%C|%m", "--name", run_id)
    rows = {c: (int(cpus), mem) for c, cpus, mem in (line.split("|") for line in proc.stdout.split())}
    cpus, mem = rows["rule_de"]
    assert cpus == 2
    mem_mb = int(re.match(r"(\d+)M", mem).group(1))
    assert 1000 <= mem_mb <= 8000


def test_slurm_results_identical_to_local_run(slurm_run, demo_run):
    workdir, _ = slurm_run
    local = sorted(p.relative_to(demo_run) for p in (demo_run / "results").rglob("*")
                   if p.is_file() and p.name != "report.html")
    remote = sorted(p.relative_to(workdir) for p in (workdir / "results").rglob("*")
                    if p.is_file())
    assert remote == local
    tables = [p for p in local if p.suffix not in {".png", ".svg", ".pdf"}]
    assert any(p.name == "resistant_vs_parental.tsv" for p in tables)
    differ = [p for p in tables if not filecmp.cmp(demo_run / p, workdir / p, shallow=False)]
    if not os.environ.get("SOURCE_DATE_EPOCH"):
        # Signature artefacts record their creation time (and a checksum over it) unless
        # SOURCE_DATE_EPOCH fixes it, as .ci/cluster.sh does; compare the rest of the content.
        differ = [p for p in differ if not (p.name.endswith(".ressig.json")
                                            and _artefact_content(demo_run / p)
                                            == _artefact_content(workdir / p))]
    assert differ == [], f"SLURM and local results differ: {[str(p) for p in differ]}"


def _artefact_content(path: Path) -> dict:
    data = json.loads(path.read_text())
    return {k: v for k, v in data.items() if k not in {"created", "checksum"}}
