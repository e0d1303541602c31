#!/usr/bin/env python3
"""Time ressig's single-sample scoring engine against decoupler's ULM on the same data.

Default problem: 1,000 samples x 20,000 genes x 50 gene sets (15-200 genes each), log-normal
expression with 60 % zeros; the engine is timed on the dense matrix and on the same data as a
CSR sparse matrix. decoupler (``pip install decoupler``) is a benchmark-only dependency: without
it, its row is reported as skipped.

    python benchmarks/score_engine.py [--samples 1000] [--genes 20000] [--sets 50] [--repeats 3]

With ``--aucell`` decoupler's rank-based AUCell is timed too.
Prints a table of the best wall-clock time over the repeats (seconds) and throughput.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ressig.scoring import GeneSignature, score_matrix


def make_problem(n_samples: int, n_genes: int, n_sets: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.lognormal(mean=1.5, sigma=1.5, size=(n_samples, n_genes))
    X[rng.random(X.shape) < 0.6] = 0.0
    genes = [f"G{i:05d}" for i in range(n_genes)]
    samples = [f"S{i:05d}" for i in range(n_samples)]
    sigs = [GeneSignature(f"SET{k:03d}", tuple(rng.choice(genes, size=int(rng.integers(15, 201)), replace=False)))
            for k in range(n_sets)]
    return X, genes, samples, sigs


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--genes", type=int, default=20000)
    ap.add_argument("--sets", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--aucell", action="store_true", help="also time decoupler's rank-based AUCell")
    args = ap.parse_args()

    X, genes, samples, sigs = make_problem(args.samples, args.genes, args.sets)
    S = sp.csr_matrix(X)
    rows = []
    t = best_of(lambda: score_matrix(X, genes, samples, sigs), args.repeats)
    rows.append(("ressig score_matrix (dense)", "single-sample ranks", t))
    t = best_of(lambda: score_matrix(S, genes, samples, sigs), args.repeats)
    rows.append(("ressig score_matrix (CSR sparse)", "single-sample ranks", t))

    try:
        import decoupler as dc
    except ImportError:
        rows.append(("decoupler ulm", "skipped: pip install decoupler", float("nan")))
    else:
        df = pd.DataFrame(X, index=samples, columns=genes)
        net = pd.DataFrame([(s.name, g, 1.0) for s in sigs for g in s.up], columns=["source", "target", "weight"])
        t = best_of(lambda: dc.mt.ulm(df, net, tmin=5), args.repeats)
        rows.append((f"decoupler {dc.__version__} mt.ulm (dense)", "linear model per sample", t))
        if args.aucell:
            t = best_of(lambda: dc.mt.aucell(df, net, tmin=5), args.repeats)
            rows.append((f"decoupler {dc.__version__} mt.aucell (dense)", "single-sample ranks (AUC)", t))

    cells = args.samples * args.genes
    print(f"scoring {args.samples} samples x {args.genes} genes x {args.sets} sets "
          f"(best of {args.repeats}; {platform.processor() or platform.machine()}, numpy {np.__version__})")
    print(f"{'method':40s} {'kind':32s} {'seconds':>9s} {'Mcells/s':>9s}")
    for name, kind, t in rows:
        rate = cells / t / 1e6 if np.isfinite(t) else float("nan")
        print(f"{name:40s} {kind:32s} {t:9.2f} {rate:9.1f}")


if __name__ == "__main__":
    main()
