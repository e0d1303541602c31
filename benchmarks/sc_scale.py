#!/usr/bin/env python3
"""Single-cell scale benchmark of ``ressig score`` (run on demand, not in CI).

For each (backed CSR ``.h5ad``, GMT) pair, runs ``ressig score --input FILE --signature GMT
--out scores.tsv`` in a fresh process and reports wall time, cells/s and that process's peak
RSS (``VmHWM``) and CPU seconds of it and its children, the sink's formatting process included (robust
to other jobs on a shared machine); optionally runs
decoupler's ``ulm`` (``pip install decoupler``; not a ressig dependency) on the same backed file
and sets (weights 1). Build the files with ``benchmarks/score_scale.py``'s :func:`write_big_h5ad` (e.g. 500,000 and 1,000,000 cells x
20,000 genes, 1,000 stored counts per cell); the GMT files hold up-only sets of 30-200 genes.

Usage::

    python benchmarks/sc_scale.py --h5ad /work/bench/cells500k.h5ad --gmt sets1.gmt sets50.gmt \
        [--null-draws 1000 0] [--decoupler] --json results.json

``--null-draws`` runs each file once per value (default 1000, as ``ressig score``; 0 = scores
only, no per-cell p-values or calls): the cost of the per-cell p-values.

Measured 2026-12-01 (2 cores, 20,000 genes, 1,000 stored values per cell, ``--null-draws 0``):
500,000 cells, 1 set 37.1 s / 639 MB peak RSS, 50 sets 41.7 s / 904 MB (1.12x); 1,000,000 cells
(other jobs running) 1 set 68.3 s / 697 MB, 50 sets 102.4 s / 977 MB. decoupler 2.2.0 ``ulm`` on the
500k file and 50 sets: 223.9 s / 3,870 MB (ressig in the same session: 48.2 s / 920 MB).

Measured 2026-12-05 (no other job running; CPU of the process and its children): 500,000 cells,
scores only, 1 set 28.7 CPU s / 29.6 s / 684 MB, 50 sets 41.8 CPU s (1.46x) / 34.6 s / 944 MB;
1,000,000 cells x 50 sets x 200 draws per cell 252.0 CPU s / 211.2 s / 1,187 MB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

_CHILD = """
import json, resource, sys, time
from ressig.cli import main
def used():  # user + system CPU of this process and of its finished children (the sink's formatting process)
    return sum(r.ru_utime + r.ru_stime for r in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))
t, cpu0 = time.perf_counter(), used()
rc = main(["-q", "score", "--signature", sys.argv[1], "--input", sys.argv[2], "--out", sys.argv[3],
           "--no-progress", "--chunk-size", sys.argv[4], "--null-draws", sys.argv[5]])
hwm = next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM"))
cpu = used() - cpu0  # robust to other jobs on a shared machine
print(json.dumps({"rc": rc, "seconds": time.perf_counter() - t, "cpu_seconds": cpu, "peak_rss_mb": hwm / 1024}))
"""

_DECOUPLER = """
import json, sys, time
import anndata as ad, pandas as pd, decoupler as dc
t = time.perf_counter()
rows = []
for line in open(sys.argv[1]):
    f = line.rstrip("\\n").split("\\t")
    rows += [(f[0], g, 1.0) for g in f[2:]]
net = pd.DataFrame(rows, columns=["source", "target", "weight"])
adata = ad.read_h5ad(sys.argv[2], backed="r")
res = dc.mt.ulm(data=adata, net=net, tmin=1, bsize=10000, verbose=False)
hwm = next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM"))
print(json.dumps({"rc": 0, "seconds": time.perf_counter() - t, "peak_rss_mb": hwm / 1024,
                  "version": dc.__version__}))
"""


def n_cells(path: Path) -> int:
    import h5py

    with h5py.File(path, "r") as f:
        x = f["X"]
        return int(x.attrs["shape"][0]) if "shape" in x.attrs else int(x.shape[0])


def n_sets(gmt: Path) -> int:
    return sum(1 for ln in gmt.read_text().splitlines() if ln.strip())


def run(code: str, args: list[str], timeout: float) -> dict:
    try:
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"rc": "timeout", "seconds": timeout}
    if proc.returncode != 0:
        return {"rc": proc.returncode, "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--h5ad", nargs="+", required=True, type=Path)
    p.add_argument("--gmt", nargs="+", required=True, type=Path)
    p.add_argument("--chunk-size", default="10000")
    p.add_argument("--null-draws", nargs="+", default=["1000"],
                   help="random gene sets per cell for the p-values, one run each (0 = scores only; default 1000)")
    p.add_argument("--decoupler", action="store_true", help="also run decoupler ulm (largest GMT, first file)")
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--json", type=Path, default=None, help="append each result as a JSON line")
    args = p.parse_args(argv)
    rows = []

    def record(r: dict) -> None:
        rows.append(r)
        print(json.dumps(r), flush=True)
        if args.json:
            with open(args.json, "a") as fh:
                fh.write(json.dumps(r) + "\n")

    for h5 in args.h5ad:
        n = n_cells(h5)
        for gmt in args.gmt:
            for draws in args.null_draws:
                out = h5.with_name(f"{h5.stem}.{gmt.stem}.{draws}.scores.tsv")
                r = run(_CHILD, [str(gmt), str(h5), str(out), args.chunk_size, draws], args.timeout)
                rows_out = sum(1 for _ in open(out)) - 1 if out.exists() else None
                record({"tool": f"ressig score, {draws} null draws", "file": h5.name, "cells": n,
                        "sets": n_sets(gmt), **r,
                        "cells_per_s": n / r["seconds"] if isinstance(r.get("seconds"), float) else None,
                        "rows_written": rows_out})
        if args.decoupler and h5 == args.h5ad[0]:
            gmt = max(args.gmt, key=n_sets)
            r = run(_DECOUPLER, [str(gmt), str(h5)], args.timeout)
            record({"tool": "decoupler ulm", "file": h5.name, "cells": n, "sets": n_sets(gmt), **r})
    print("\n| tool | cells | sets | seconds | cells/s | peak RSS (MB) |\n|---|---:|---:|---:|---:|---:|")
    for r in rows:
        s = r.get("seconds")
        print(f"| {r['tool']} | {r['cells']} | {r['sets']} | {s if not isinstance(s, float) else round(s, 1)} | "
              f"{round(r['cells'] / s) if isinstance(s, float) else ''} | "
              f"{round(r['peak_rss_mb']) if 'peak_rss_mb' in r else ''} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
