#!/usr/bin/env python3
"""Microbenchmark of the per-cell null of a sparse block (run on demand, not in CI).

One block of ``--cells`` × ``--genes`` counts (``--nnz`` stored values per cell, gene popularity as in
``score_scale.write_big_h5ad``), ``--sets`` up-only signatures of 30-200 genes, ``--draws`` random sets
each (uniform null): CPU seconds of the per-signature path (``null_pvalues`` per signature, one walk
of the block per signature) and of :class:`ressig.scoring.celldraws.CellNull` (one walk for all), after
a warm-up call of each; checks the p-values are identical.

Usage::

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/cell_null_kernels.py --cells 10000 --sets 50
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import scipy.sparse as sp


def make_block(n_cells: int, n_genes: int, nnz: int, seed: int = 1) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    p = rng.lognormal(0, 1.5, n_genes)
    p /= p.sum()
    cols = np.sort(rng.choice(n_genes, size=(n_cells, nnz), p=p), axis=1)
    data = rng.integers(1, 20, size=cols.shape).astype(np.float32)
    blk = sp.csr_matrix((data.ravel(), cols.ravel(), np.arange(0, n_cells * nnz + 1, nnz)), shape=(n_cells, n_genes))
    blk.sum_duplicates()
    return blk


def main(argv: list[str] | None = None) -> int:
    from ressig.scoring.celldraws import CellNull
    from ressig.scoring.kernels import normalise, rank_sparse
    from ressig.scoring.null import GeneOrder, RankBlock, null_pvalues

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", type=int, default=10_000)
    p.add_argument("--genes", type=int, default=20_000)
    p.add_argument("--nnz", type=int, default=1000)
    p.add_argument("--sets", type=int, default=50)
    p.add_argument("--draws", type=int, default=200)
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args(argv)
    rng = np.random.default_rng(7)
    X = make_block(args.cells, args.genes, args.nnz)
    genes = [f"G{i:05d}" for i in range(args.genes)]
    order = GeneOrder(genes)
    ranks, is_nan, zero_rank, n_measured = rank_sparse(X)
    sets = [rng.choice(args.genes, int(rng.integers(30, 201)), replace=False) for _ in range(args.sets)]
    memb = sp.csr_matrix((np.ones(sum(s.size for s in sets)), (np.concatenate(sets),
                          np.repeat(np.arange(len(sets)), [s.size for s in sets]))), shape=(args.genes, len(sets)))
    dense_sums = np.asarray((ranks @ memb).todense()) + zero_rank.reshape(-1, 1) * (
        np.asarray(memb.sum(axis=0)) - (sp.csr_matrix((np.ones(ranks.nnz), ranks.indices, ranks.indptr),
                                                      shape=ranks.shape) @ memb).toarray())
    observed = normalise(dense_sums, np.array([s.size for s in sets], dtype=float), float(args.genes))[0]

    def per_signature():
        block = RankBlock(None, n_measured, order, (ranks, is_nan, zero_rank))
        out = np.empty((2, args.cells, len(sets)))
        for k, s in enumerate(sets):
            ph, pl = null_pvalues(block, observed[:, k], np.full(args.cells, s.size), np.zeros(args.cells), True,
                                  False, args.draws, 0)
            out[0, :, k], out[1, :, k] = ph, pl
        return out

    cells = CellNull(args.genes, [(s.size, None) for s in sets], [None] * len(sets), order, args.draws, 0)

    def one_walk():
        return cells.pvalues(ranks, zero_rank, observed)

    results = {}
    for name, fn in (("per signature (main)", per_signature), ("one walk (celldraws)", one_walk)):
        out = fn()  # warm-up: jit, draws and memberships cached
        cpu = []
        for _ in range(args.repeat):
            c0 = time.process_time()
            out = fn()
            cpu.append(time.process_time() - c0)
        results[name] = (min(cpu), out)
        print(f"{name}: {min(cpu):.2f} CPU s ({args.cells} cells x {args.sets} sets x {args.draws} draws)", flush=True)
    a, b = (r[1] for r in results.values())
    print("identical p-values:", np.array_equal(a, b))
    return 0


if __name__ == "__main__":
    sys.exit(main())
