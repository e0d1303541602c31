#!/usr/bin/env python3
"""Sharded cells with the cohort's own null levels: CPU of the shards with and without ``--null-levels``
(run on demand, not in CI).

Writes (once) a synthetic backed CSR ``.h5ad`` (:func:`score_scale.write_big_h5ad`) and a GMT of
up-only sets, then runs, each as a fresh ``ressig`` process one after the other:

* ``ressig score --shard i/N`` for every shard (each makes the first pass over all cells);
* ``ressig null-levels`` once, then ``ressig score --shard i/N --null-levels FILE`` for every shard;

and reports each process's wall and CPU seconds (user + system, ``resource.getrusage`` of the
children: robust to other jobs on a shared machine), then checks that both sets of shards gather
(``ressig score-gather``) to the same bytes.

Usage::

    python benchmarks/null_levels.py --dir /tmp/levels_bench --cells 200000 --shards 4 --sets 20 \\
        --null-draws 200 [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score_scale import write_big_h5ad  # noqa: E402


def timed(args: list[str]) -> dict:
    """Run ``python -m ressig ARGS``; wall and CPU seconds of that child."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ressig", "-q", *args], capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"ressig {' '.join(args)} failed:\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}


def write_gmt(path: Path, n_genes: int, n_sets: int, seed: int = 2) -> None:
    rng = np.random.default_rng(seed)
    genes = ["ABCB1", "SLC46A3", *[f"G{i:05d}" for i in range(n_genes - 2)]]
    lines = []
    for k in range(n_sets):
        size = int(rng.integers(30, 200))
        lines.append("\t".join([f"SET{k:02d}", "bench", *rng.choice(genes, size=size, replace=False)]))
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", type=Path, default=Path("/tmp/levels_bench"))
    p.add_argument("--cells", type=int, default=200_000)
    p.add_argument("--genes", type=int, default=20_000)
    p.add_argument("--nnz", type=int, default=1000, help="stored values per cell")
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--sets", type=int, default=20)
    p.add_argument("--null-draws", default="200")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    h5 = args.dir / f"cells{args.cells}.h5ad"
    if not h5.exists():
        t = time.perf_counter()
        write_big_h5ad(h5, args.cells, args.genes, args.nnz)
        print(f"wrote {h5} in {time.perf_counter() - t:.0f} s", flush=True)
    gmt = args.dir / f"sets{args.sets}.gmt"
    write_gmt(gmt, args.genes, args.sets)
    common = ["--signature", str(gmt), "--input", str(h5), "--null-draws", args.null_draws, "--no-progress"]
    n = args.shards
    res: dict = {"cells": args.cells, "shards": n, "sets": args.sets, "null_draws": int(args.null_draws)}
    plain, with_file = [], []
    for i in range(1, n + 1):
        out = args.dir / f"plain.{i}.tsv"
        res[f"plain_{i}"] = timed(["score", *common, "--shard", f"{i}/{n}", "--out", str(out)])
        plain.append(str(out))
        print("without", i, res[f"plain_{i}"], flush=True)
    levels = args.dir / "levels.json"
    res["null_levels"] = timed(["null-levels", *common, "--out", str(levels)])
    print("null-levels", res["null_levels"], flush=True)
    for i in range(1, n + 1):
        out = args.dir / f"file.{i}.tsv"
        res[f"file_{i}"] = timed(["score", *common, "--shard", f"{i}/{n}", "--null-levels", str(levels),
                                  "--out", str(out)])
        with_file.append(str(out))
        print("with", i, res[f"file_{i}"], flush=True)
    for name, shards in (("plain", plain), ("file", with_file)):
        timed(["score-gather", "--shards", *shards, "--signature", str(gmt), "--input", str(h5), "--out",
               str(args.dir / f"{name}.gathered.tsv")])
    res["identical"] = ((args.dir / "plain.gathered.tsv").read_bytes()
                        == (args.dir / "file.gathered.tsv").read_bytes())
    for key in ("plain", "file"):
        res[f"{key}_cpu_s"] = round(sum(res[f"{key}_{i}"]["cpu_s"] for i in range(1, n + 1)), 2)
    res["file_total_cpu_s"] = round(res["file_cpu_s"] + res["null_levels"]["cpu_s"], 2)
    print(json.dumps({k: v for k, v in res.items() if not isinstance(v, dict)}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0 if res["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
