#!/usr/bin/env python3
"""Scale benchmark of cohort scoring (run on demand, not in CI).

1. **Bulk**: ``--samples`` × ``--genes`` dense matrix × ``--signatures`` signatures (default
   10,000 × 20,000 × 50). Wall time of :func:`ressig.scoring.score_matrix` next to

   * the **numpy rank floor**: one ``argsort`` per row + scatter of the ranks + one dense
     membership product (no ties, NaN, dispersion or bookkeeping — what any rank-based
     single-sample score must at least do), and
   * **decoupler ulm** (``pip install decoupler``; skipped with a note when not installed),
     a per-sample linear model, on the same data and signatures (weights ±1).

2. **Single cell**: a sparse CSR ``.h5ad`` of ``--cells`` × ``--genes`` (``--nnz-per-cell`` stored
   counts per cell) is written chunk by chunk (never held in memory), then scored **backed and
   chunked** by ``ressig score`` in a fresh process; wall time and that process's peak RSS
   (``VmHWM``) are reported (goal: <= 4 GB for 1,000,000 cells); ``--null-draws`` (default 1000,
   as ``ressig score``) sets the per-cell p-values' random gene sets (0 = scores only).

Usage::

    python benchmarks/score_scale.py                                   # full size (long on 2 cores)
    python benchmarks/score_scale.py --samples 2000 --cells 200000     # scaled down
    python benchmarks/score_scale.py --skip-bulk --cells 1000000

Prints a Markdown table at the end.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_signatures(genes: list[str], n_sig: int, rng: np.random.Generator):
    from ressig.scoring import GeneSignature

    sigs = []
    for k in range(n_sig):
        size = int(rng.integers(20, 300))
        pick = rng.choice(len(genes), size=size, replace=False)
        n_up = size if k % 2 else size // 2  # half the signatures are signed (up + down)
        sigs.append(GeneSignature(name=f"SIG{k:03d}", up=tuple(genes[i] for i in pick[:n_up]),
                                  down=tuple(genes[i] for i in pick[n_up:])))
    return sigs


def rank_floor(X: np.ndarray, sigs, genes: list[str], block: int = 100) -> np.ndarray:
    """Minimal rank-based scoring: argsort, scatter ranks, membership product, per row block."""
    import scipy.sparse as sp

    index = {g: i for i, g in enumerate(genes)}
    rows, cols, vals = [], [], []
    for k, s in enumerate(sigs):
        for g in s.up:
            rows.append(index[g]), cols.append(k), vals.append(1.0 / len(s.up))
        for g in s.down:
            rows.append(index[g]), cols.append(k), vals.append(-1.0 / len(s.down))
    M = sp.csr_matrix((vals, (rows, cols)), shape=(len(genes), len(sigs)))
    out = np.empty((X.shape[0], len(sigs)))
    ar = np.arange(1, X.shape[1] + 1, dtype=float)
    for lo in range(0, X.shape[0], block):
        blk = X[lo:lo + block]
        order = np.argsort(blk, axis=1)
        ranks = np.empty_like(blk)
        np.put_along_axis(ranks, order, np.broadcast_to(ar, blk.shape), axis=1)
        out[lo:lo + block] = (M.T @ ranks.T).T
    return out


def bench_bulk(n_samples: int, n_genes: int, n_sig: int, seed: int = 0) -> list[dict]:
    import pandas as pd

    from ressig.scoring import score_matrix

    rng = np.random.default_rng(seed)
    genes = [f"G{i:05d}" for i in range(n_genes)]
    samples = [f"S{i:05d}" for i in range(n_samples)]
    X = rng.lognormal(2.0, 1.5, size=(n_samples, n_genes))
    sigs = make_signatures(genes, n_sig, rng)
    rows = []
    t = time.perf_counter()
    res = score_matrix(X, genes, samples, sigs)
    t_ressig = time.perf_counter() - t
    rows.append({"what": f"bulk {n_samples}x{n_genes}x{n_sig}: ressig score_matrix", "seconds": t_ressig})
    t = time.perf_counter()
    rank_floor(X, sigs, genes)
    t_floor = time.perf_counter() - t
    rows.append({"what": f"bulk {n_samples}x{n_genes}x{n_sig}: numpy rank floor", "seconds": t_floor})
    rows[0]["vs_floor"] = t_ressig / t_floor
    try:
        import decoupler as dc
    except ImportError:
        rows.append({"what": "decoupler ulm", "seconds": float("nan"), "note": "decoupler not installed"})
        return rows
    net = pd.DataFrame([(s.name, g, 1.0) for s in sigs for g in s.up] + [(s.name, g, -1.0) for s in sigs for g in s.down],
                       columns=["source", "target", "weight"])
    mat = pd.DataFrame(np.log1p(X), index=samples, columns=genes)
    t = time.perf_counter()
    if hasattr(dc, "mt"):  # decoupler >= 2
        dc.mt.ulm(data=mat, net=net, tmin=1, verbose=False)
    else:  # decoupler 1.x
        dc.run_ulm(mat=mat, net=net, source="source", target="target", weight="weight", min_n=1, verbose=False)
    t_dc = time.perf_counter() - t
    rows.append({"what": f"bulk {n_samples}x{n_genes}x{n_sig}: decoupler ulm "
                 f"{getattr(dc, '__version__', '')}", "seconds": t_dc})
    rows[0]["vs_decoupler"] = t_ressig / t_dc
    del res
    return rows


def write_big_h5ad(path: Path, n_cells: int, n_genes: int, nnz_per_cell: int, chunk: int = 20_000,
                   seed: int = 1) -> None:
    """Write a CSR .h5ad chunk by chunk (memory bounded by ``chunk`` cells)."""
    import h5py
    import pandas as pd
    import scipy.sparse as sp
    from anndata.io import sparse_dataset, write_elem

    rng = np.random.default_rng(seed)
    genes = ["ABCB1", "SLC46A3", *[f"G{i:05d}" for i in range(n_genes - 2)]]
    # gene popularity: a few genes are detected in most cells, most genes rarely (like UMI data)
    p = rng.lognormal(0, 1.5, n_genes)
    p /= p.sum()
    with h5py.File(path, "w") as f:
        f.attrs["encoding-type"] = "anndata"
        f.attrs["encoding-version"] = "0.1.0"
        write_elem(f, "obs", pd.DataFrame(index=pd.Index([f"cell{i:07d}" for i in range(n_cells)])))
        write_elem(f, "var", pd.DataFrame(index=pd.Index(genes)))
        for lo in range(0, n_cells, chunk):
            m = min(chunk, n_cells - lo)
            cols = rng.choice(n_genes, size=(m, nnz_per_cell), p=p)
            cols.sort(axis=1)
            data = rng.integers(1, 20, size=cols.shape).astype(np.float32)
            indptr = np.arange(0, m * nnz_per_cell + 1, nnz_per_cell)
            blk = sp.csr_matrix((data.ravel(), cols.ravel(), indptr), shape=(m, n_genes))
            blk.sum_duplicates()
            if lo == 0:
                write_elem(f, "X", blk)
            else:
                sparse_dataset(f["X"]).append(blk)


_SCORE_CHILD = """
import json, resource, sys, time
from ressig.cohort import CohortOptions, score_cohort
t = time.perf_counter()
score_cohort(sys.argv[1], sys.argv[2], sys.argv[3], opts=CohortOptions(chunk_size=int(sys.argv[4]), progress=False,
                                                                     null_draws=int(sys.argv[5])))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across exec
hwm = next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM"))
print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": hwm / 1024,
                  "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def bench_sc(n_cells: int, n_genes: int, nnz: int, chunk: int, workdir: Path, null_draws: int = 1000) -> list[dict]:
    from ressig.signature import FrozenSignature, freeze_signature

    h5 = workdir / "big.h5ad"
    t = time.perf_counter()
    write_big_h5ad(h5, n_cells, n_genes, nnz)
    t_write = time.perf_counter() - t
    rng = np.random.default_rng(2)
    genes = [f"G{i:05d}" for i in range(n_genes - 2)]
    up = ["ABCB1", *rng.choice(genes, 150, replace=False)]
    down = ["SLC46A3", *[g for g in rng.choice(genes, 150, replace=False) if g not in up]]
    sig = FrozenSignature(name="BENCH", version="1.0.0", up=dict.fromkeys(up, 1.0), down=dict.fromkeys(down, -1.0),
                          created="2026-01-01T00:00:00Z")
    freeze_signature(sig, workdir / "BENCH.ressig.json")
    proc = subprocess.run([sys.executable, "-c", _SCORE_CHILD, str(workdir / "BENCH.ressig.json"), str(h5),
                           str(workdir / "scores.tsv"), str(chunk), str(null_draws)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    size_gb = h5.stat().st_size / 1e9
    return [{"what": f"sc .h5ad {n_cells}x{n_genes} CSR, {nnz} nnz/cell ({size_gb:.2f} GB): write", "seconds": t_write},
            {"what": f"sc .h5ad {n_cells}x{n_genes}: ressig score backed, chunk {chunk}, {null_draws} null draws",
             "seconds": res["seconds"],
             "peak_rss_mb": res["peak_rss_mb"], "cells_per_s": n_cells / res["seconds"]}]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--genes", type=int, default=20_000)
    p.add_argument("--signatures", type=int, default=50)
    p.add_argument("--cells", type=int, default=1_000_000)
    p.add_argument("--nnz-per-cell", type=int, default=1000)
    p.add_argument("--chunk-size", type=int, default=10_000)
    p.add_argument("--null-draws", type=int, default=1000, help="random gene sets per cell for p-values (0 = none)")
    p.add_argument("--skip-bulk", action="store_true")
    p.add_argument("--skip-sc", action="store_true")
    p.add_argument("--workdir", default=None, help="where to write the big .h5ad (default: a temp dir)")
    args = p.parse_args(argv)
    rows: list[dict] = []
    if not args.skip_bulk:
        rows += bench_bulk(args.samples, args.genes, args.signatures)
        print(json.dumps(rows, indent=1), flush=True)
    if not args.skip_sc:
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            rows += bench_sc(args.cells, args.genes, args.nnz_per_cell, args.chunk_size, Path(tmp), args.null_draws)
    print("\n| measurement | seconds | notes |\n|---|---:|---|")
    for r in rows:
        notes = ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()
                          if k not in ("what", "seconds"))
        print(f"| {r['what']} | {r['seconds']:.1f} | {notes} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
