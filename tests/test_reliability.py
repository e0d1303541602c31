"""Reliability: byte-identical reruns and kill-and-resume of the real demo workflow."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import copy_workflow, run_snakemake, snakemake_cmd

pytestmark = pytest.mark.workflow

#: Result files compared byte for byte (tables and figures; the signature artefact embeds its
#: creation time and is compared through its content checksum by its own tests).
COMPARED = ("*.tsv", "*.png", "*.gmt")


def result_files(root: Path) -> dict[str, bytes]:
    files = {}
    for pattern in COMPARED:
        for f in (root / "results").rglob(pattern):
            files[str(f.relative_to(root))] = f.read_bytes()
    return files


def assert_same_results(a: Path, b: Path) -> None:
    fa, fb = result_files(a), result_files(b)
    assert sorted(fa) == sorted(fb)
    differing = [k for k in fa if fa[k] != fb[k]]
    assert not differing, f"differ between runs: {differing}"


def test_two_clean_runs_byte_identical(demo_run, tmp_path):
    work = copy_workflow(tmp_path / "second")
    run_snakemake(work)
    assert len(result_files(work)) >= 10
    assert_same_results(demo_run, work)


def test_kill_mid_run_then_resume_gives_identical_results(demo_run, tmp_path):
    work = copy_workflow(tmp_path / "killed")
    proc = subprocess.Popen([*snakemake_cmd(), "--cores", "2"], cwd=work, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    de_log = work / "logs/de.log"
    deadline = time.time() + 600
    while time.time() < deadline and not (de_log.exists() and "fitting" in de_log.read_text()):
        assert proc.poll() is None, "workflow ended before it could be killed"
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its running jobs, no clean-up possible
    proc.wait()
    table = work / "results/de/resistant_vs_parental.tsv"
    assert not table.exists(), "DE table exists although DE was killed"
    assert not [p for p in (work / "results").rglob(".*") if p.is_file()], "temporary files left behind"
    run_snakemake(work, "--unlock")
    run_snakemake(work, "--rerun-incomplete")
    assert_same_results(demo_run, work)
