"""Shared fixtures: seeded toy data and ONE real snakemake run of the demo workflow per session.

Tests that assert on "the real workflow outputs" use ``demo_run`` (the working directory of a
completed ``snakemake --cores 2`` run on a copy of the repository's workflow, config and demo
resources) instead of starting their own run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings

# Property tests are reproducible by default (the same examples every run, like every other test
# here); HYPOTHESIS_PROFILE=explore draws fresh random examples to hunt for new failures.
settings.register_profile("repro", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repro"))

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = ("Snakefile", "environment.yml", "workflow", "config", "resources")


def snakemake_cmd() -> list[str]:
    """The real snakemake CLI of the Python running the tests (whatever ``snakemake`` PATH holds)."""
    return [sys.executable, "-m", "snakemake"]


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow, config and resources into ``dest`` (a clean run directory)."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / part)
    return dest


def decoy_path() -> str:
    """``PATH`` with a folder of decoy ``ressig`` and ``snakemake`` commands (both exit 1) first.

    Commands that tests and workflow rules start must come from the interpreter under test
    (``sys.executable -m ...``), never from whatever ``PATH`` holds: under this ``PATH`` any command
    that does fails loudly.
    """
    decoys = Path(tempfile.gettempdir()) / f"ressig-decoys-{os.getuid()}"
    decoys.mkdir(exist_ok=True)
    for name in ("ressig", "snakemake"):
        exe = decoys / name
        if not exe.exists():
            tmp = decoys / f".{name}.{os.getpid()}"
            tmp.write_text(f"#!/bin/sh\necho 'decoy {name} on PATH was run' >&2\nexit 1\n")
            tmp.chmod(0o755)
            os.replace(tmp, exe)
    return f"{decoys}{os.pathsep}{os.environ.get('PATH', '')}"


def run_snakemake(workdir: Path, *args: str, check: bool = True, timeout: float = 1200,
                  env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real ``snakemake`` CLI in ``workdir`` (decoys first on PATH) and return the process."""
    cmd = [*snakemake_cmd(), "--cores", "2", *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PATH": decoy_path(), **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Working directory of one complete demo workflow run (shared by the whole session)."""
    workdir = copy_workflow(tmp_path_factory.mktemp("demo_run"))
    run_snakemake(workdir)
    return workdir


@pytest.fixture(scope="session")
def demo_truth() -> pd.DataFrame:
    """Planted truth of the shipped demo data."""
    return pd.read_csv(REPO / "resources/demo/truth.tsv", sep="\t", index_col=0)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)


@pytest.fixture(scope="session")
def small_experiment():
    """A small simulated experiment (2,000 genes, 3 vs 3) for fast DE-level tests."""
    from ressig.simulate import simulate_experiment

    return simulate_experiment(n_genes=2000, n_background_de=100, seed=7, genesets_dir=REPO / "resources/genesets")


@pytest.fixture(autouse=True)
def _ressig_log_propagates():
    """``ressig.cli.main`` run in-process turns propagation off (its own handler prints once);
    turn it back on so that later tests' ``caplog`` (a root handler) sees ressig's records."""
    import logging

    yield
    logging.getLogger("ressig").propagate = True
