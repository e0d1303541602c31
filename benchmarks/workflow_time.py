#!/usr/bin/env python3
"""Wall and CPU time of a whole demo workflow run (``snakemake --cores 2``) in a fresh copy.

The workflow tests assert what a run finds, never how long it takes (CPU time depends on the
machine, its BLAS kernels and its load); this script measures the time instead. CPU time is that
of the snakemake process tree (``RUSAGE_CHILDREN``), so it does not depend on other load on the
machine. The sanctuary demo took under 240 CPU s on the development machine (2 cores).

Usage::

    python benchmarks/workflow_time.py                                  # the default demo
    python benchmarks/workflow_time.py --configfile config/sanctuary.yaml --repeats 2

Prints a Markdown table (one row per run).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from conftest import copy_workflow  # noqa: E402  (the test suite's clean run directory)


def run_once(configfile: str | None, cores: int) -> tuple[float, float]:
    """Run the workflow once in a fresh copy; return (wall seconds, CPU seconds of the tree)."""
    with tempfile.TemporaryDirectory(prefix="ressig-wf-") as tmp:
        work = copy_workflow(Path(tmp))
        cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--quiet"]
        if configfile:
            cmd += ["--configfile", configfile]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, cwd=work, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default=None, help="config relative to the repository root")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print("| config | run | wall s | CPU s |\n|---|---|---|---|")
    for i in range(args.repeats):
        wall, cpu = run_once(args.configfile, args.cores)
        print(f"| {args.configfile or 'config/demo.yaml'} | {i + 1} | {wall:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
