"""Exact integer rank sums of random gene sets over a dense block of ranks (the bulk null's inner loop).

Within-sample ranks are half-integers (ties averaged), so ``2 × rank`` is an integer; while
``2 × n_genes`` fits in 16 bits a block is held as ``uint16`` half-units (a quarter of the float64
memory traffic, half of float32) and each random set's sum is accumulated in ``int32``. Integer sums
are exact, and so are the float sums they replace (every partial sum of half-integers below
``2**24``/``2**53`` is exact in float32/float64), so ``sum / 2`` is the float rank sum bit for bit.
"""

from __future__ import annotations

import numba
import numpy as np

#: Half-units must fit in ``uint16``.
MAX_HALF_UNIT = 65535


@numba.njit(cache=True, nogil=True)
def _to_half_units(dense: np.ndarray, out: np.ndarray) -> bool:  # pragma: no cover - jit
    """``out[g, i] = 2 * dense[i, g]`` (genes × rows); False if a value is NaN, out of range or not a half-integer."""
    m, g = dense.shape
    tile = 64
    for i0 in range(0, m, tile):
        i1 = min(m, i0 + tile)
        for j0 in range(0, g, tile):
            j1 = min(g, j0 + tile)
            for i in range(i0, i1):
                for j in range(j0, j1):
                    v = 2.0 * dense[i, j]
                    if not (v >= 1.0 and v <= 65535.0):  # NaN fails too
                        return False
                    w = np.uint16(v)
                    if w != v:
                        return False
                    out[j, i] = w
    return True


@numba.njit(cache=True, nogil=True)
def _draw_sums(half_t: np.ndarray, indptr: np.ndarray, cols: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """``out[d, r] = sum of half_t[c, r] / 2`` over the columns ``c`` of draw ``d`` (exact int32 accumulation).

    Eight rank rows are added per pass over the accumulator (a third of the time of one row per
    pass: the accumulator's loads and stores, not the rank rows, bound the one-row loop)."""
    n_rows = half_t.shape[1]
    acc = np.zeros(n_rows, dtype=np.int32)
    for d in range(indptr.size - 1):
        acc[:] = 0
        t, end = indptr[d], indptr[d + 1]
        while t + 8 <= end:
            r0, r1, r2, r3 = half_t[cols[t]], half_t[cols[t + 1]], half_t[cols[t + 2]], half_t[cols[t + 3]]
            r4, r5, r6, r7 = half_t[cols[t + 4]], half_t[cols[t + 5]], half_t[cols[t + 6]], half_t[cols[t + 7]]
            for r in range(n_rows):
                acc[r] += (((np.int32(r0[r]) + np.int32(r1[r])) + (np.int32(r2[r]) + np.int32(r3[r])))
                           + ((np.int32(r4[r]) + np.int32(r5[r])) + (np.int32(r6[r]) + np.int32(r7[r]))))
            t += 8
        while t < end:
            r0 = half_t[cols[t]]
            for r in range(n_rows):
                acc[r] += np.int32(r0[r])
            t += 1
        for r in range(n_rows):
            out[d, r] = acc[r] * 0.5


def half_units(dense: np.ndarray) -> np.ndarray | None:
    """Genes × rows ``uint16`` copy of ``2 × dense`` (rows × genes ranks), or ``None`` when some rank is
    NaN, above ``MAX_HALF_UNIT / 2`` or not a half-integer (then use float products)."""
    dense = np.ascontiguousarray(dense, dtype=np.float64)
    if 2 * dense.shape[1] > MAX_HALF_UNIT:
        return None
    out = np.empty((dense.shape[1], dense.shape[0]), dtype=np.uint16)
    return out if _to_half_units(dense, out) else None


def draw_rank_sums(half_t: np.ndarray, draws: tuple[np.ndarray, np.ndarray], n_part: int) -> np.ndarray | None:
    """Rows × draws rank sums (float64, exact) of the draws ``(indptr, columns)`` over half-unit ranks
    ``half_t`` (genes × rows, :func:`half_units`); ``None`` if an int32 sum could overflow."""
    if int(n_part) * MAX_HALF_UNIT >= 2**31:
        return None
    indptr, cols = draws
    out = np.empty((indptr.size - 1, half_t.shape[1]), dtype=np.float64)
    _draw_sums(half_t, indptr, cols, out)
    return out.T
