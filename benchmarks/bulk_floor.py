#!/usr/bin/env python3
"""Bulk cost of the whole ``ressig score`` process against a plain-numpy floor (issue 33).

Writes a ``--samples`` × ``--genes`` parquet matrix (genes × samples, first column = gene id) and
a GMT of ``--sets`` up-only sets (20-300 genes), then times, each in a **fresh process** (imports
included):

* ``floor``: pyarrow reads the parquet, numpy ranks every sample (one ``argsort`` per row and a
  scatter of ``1..N``; no ties, NaN or checks) and averages the ranks of each set (one sparse
  membership product), and writes the scores as TSV: what any rank-and-average single-sample
  score must at least do;
* ``ressig score`` with ``--null-draws 0`` (scores only) and with the default (per-sample
  p-values, 1,000 draws; the matched null of the cohort's own rank levels for a GMT,
  :mod:`ressig.scoring.nullbins`).

Usage::

    python benchmarks/bulk_floor.py [--samples 2000 --genes 20000 --sets 50] [--profile DIR]

``--profile DIR`` also runs the default under cProfile and writes ``DIR/default.prof``.
Bars (issue 33): default <= 2.5x the floor, scores only <= 1.5x.

Measured 2026-12-04 on the shared 2-core machine **under load** (other agents' jobs, load average
4-5; ``--repeat 2``, lowest CPU kept), 2,000 × 20,000 × 50 sets:

| run | wall s | x floor | CPU s | x floor (CPU) |
|---|---|---|---|---|
| floor (read + rank + average + write) | 6.2 | 1.00 | 4.6 | 1.00 |
| ressig scores only (``--null-draws 0``) | 9.2 | 1.49 | 6.2 | 1.35 |
| ressig default (1,000 draws, matched null of the cohort's rank levels) | 19.1 | 3.11 | 13.1 | 2.84 |

Same inputs, the code before issue 33 (uniform null for a GMT), interleaved runs: default 19.8-21.3
CPU s, after 11.8-13.6 CPU s. The default missed the 2.5x bar by ~1.6 CPU s: the random sets'
rank sums (one sparse product per signature and block, 3.7 s) were most of what was left.

2026-12-04, branch ``nullcost``: the null's rank sums of a dense block are exact int32 sums of the
ranks held as uint16 half-units, eight rank rows per accumulator pass (:mod:`ressig.scoring.drawsums`;
cProfile: 2.76 s of ``csc_matvecs`` -> 1.39 s), and matplotlib is imported only when a figure is
drawn. Outputs byte-identical (``cmp``). Interleaved runs under load (load average 3.5-5), lowest CPU
of 3, floor 4.0 CPU s: default 11.5 CPU s (2.90x) before, **10.1 CPU s (2.53x)** after; this
script with ``--repeat 2``: before 10.7 / 3.7 = 2.92x, after 10.2 / 4.1 = **2.51x**; scores only
unchanged (1.5-1.7x, within the noise). The bar is met only at the edge of the noise: what is left
of the default beyond the scores is the cohort levels' second ranking of 250 samples (0.7 s),
the cohort-level calls' pass over the TSV (0.9 s), drawing the matched sets (0.4 s) and the null
sums (1.4 s).

2026-12-05, no other job running, ``--repeat 3`` (after: calls computed before the table is written,
the dispersion in one compiled pass, random sets kept as drawn positions, a faster text writer; bytes
unchanged): floor 3.3 CPU s (2.7 user); scores only 4.3 CPU s = **1.33x** (1.43x user); default
6.5 CPU s = **2.01x** (2.20x user); wall 1.34x / 2.03x. See benchmarks/README.md (Issue 33).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_FLOOR = r"""
import sys, numpy as np, pyarrow.parquet as pq, scipy.sparse as sp
tab = pq.read_table(sys.argv[1])
genes = [str(g) for g in tab.column(0).to_pylist()]
X = np.column_stack([tab.column(i).to_numpy() for i in range(1, tab.num_columns)]).T  # samples x genes
samples = tab.column_names[1:]
index = {g: i for i, g in enumerate(genes)}
rows, cols, vals, names = [], [], [], []
for k, line in enumerate(open(sys.argv[2])):
    f = line.rstrip("\n").split("\t")
    names.append(f[0])
    idx = [index[g] for g in f[2:] if g in index]
    rows += idx; cols += [k] * len(idx); vals += [1.0 / len(idx)] * len(idx)
M = sp.csr_matrix((vals, (rows, cols)), shape=(len(genes), len(names)))
ar = np.arange(1, X.shape[1] + 1, dtype=float)
out = np.empty((X.shape[0], len(names)))
for lo in range(0, X.shape[0], 100):
    blk = X[lo:lo + 100]
    ranks = np.empty_like(blk)
    np.put_along_axis(ranks, np.argsort(blk, axis=1), np.broadcast_to(ar, blk.shape), axis=1)
    out[lo:lo + 100] = (M.T @ ranks.T).T
with open(sys.argv[3], "w") as fh:
    fh.write("sample\t" + "\t".join(names) + "\n")
    for s, r in zip(samples, out):
        fh.write(s + "\t" + "\t".join("%.6g" % v for v in r) + "\n")
"""


def write_inputs(d: Path, n_samples: int, n_genes: int, n_sets: int, seed: int = 0) -> tuple[Path, Path]:
    import pandas as pd

    rng = np.random.default_rng(seed)
    genes = [f"G{i:05d}" for i in range(n_genes)]
    base = rng.normal(2.0, 1.5, n_genes)
    X = np.exp(base.reshape(-1, 1) + rng.normal(0, 0.5, (n_genes, n_samples)))
    frame = pd.DataFrame(X, index=pd.Index(genes, name="gene_id"), columns=[f"S{j:05d}" for j in range(n_samples)])
    frame.reset_index().to_parquet(d / "cohort.parquet", index=False)
    with open(d / "sets.gmt", "w") as fh:
        for k in range(n_sets):
            pick = rng.choice(n_genes, int(rng.integers(20, 300)), replace=False)
            fh.write(f"SET{k:03d}\tbench\t" + "\t".join(genes[i] for i in pick) + "\n")
    return d / "cohort.parquet", d / "sets.gmt"


def timed(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and user seconds of a child process. CPU is the robust
    number on a shared machine (other jobs stretch the wall time, not the work done); the system part
    itself swings (page faults of huge pages for pyarrow's allocations: the floor's own system time
    moved 0.3-2.5 s between identical runs here), so user seconds are reported too."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    user = after.ru_utime - before.ru_utime
    return wall, user + (after.ru_stime - before.ru_stime), user


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--genes", type=int, default=20000)
    ap.add_argument("--sets", type=int, default=50)
    ap.add_argument("--profile", default=None)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each, interleaved; the lowest of each time is kept")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        parquet, gmt = write_inputs(d, a.samples, a.genes, a.sets)
        score = [sys.executable, "-m", "ressig", "-q", "score", "--signature", str(gmt), "--input", str(parquet),
                 "--no-progress"]
        runs = {"floor (read + rank + average + write)": [sys.executable, "-c", _FLOOR, str(parquet), str(gmt),
                                                          str(d / "floor.tsv")],
                "ressig scores only (--null-draws 0)": [*score, "--out", str(d / "s0.tsv"), "--null-draws", "0"],
                "ressig default (1,000 draws)": [*score, "--out", str(d / "s.tsv")]}
        best: dict[str, list[float]] = {}  # lowest wall, CPU and user seconds of each, over the repeats
        for _ in range(a.repeat):
            for what, cmd in runs.items():
                r = timed(cmd)
                best[what] = [min(x, y) for x, y in zip(best.get(what, r), r, strict=True)]
        rows = list(best.items())
        if a.profile:
            Path(a.profile).mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "cProfile", "-o", str(Path(a.profile) / "default.prof"), "-m",
                            "ressig", *score[3:], "--out", str(d / "p.tsv")], check=True, stdout=subprocess.DEVNULL)
    floor = rows[0][1]
    print(f"\n{a.samples} x {a.genes} x {a.sets} sets, lowest of {a.repeat}\n\n"
          "| run | wall s | x floor | CPU s | x floor (CPU) | user s | x floor (user) |\n|---|---|---|---|---|---|---|")
    for what, (wall, cpu, user) in rows:
        print(f"| {what} | {wall:.1f} | {wall / floor[0]:.2f} | {cpu:.1f} | {cpu / floor[1]:.2f} | {user:.1f} | "
              f"{user / floor[2]:.2f} |")


if __name__ == "__main__":
    main()
