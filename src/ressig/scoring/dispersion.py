"""Dispersion of a signature's ranks in each sample: the scaled median absolute deviation (R's ``mad``).

singscore reports, beside the score, how spread the ranks of a signature's genes are in the sample
(``dispersion`` = MAD of the up genes' ranks + MAD of the down genes' ranks). With many signatures
the medians were most of the scoring time when computed part by part with ``np.median`` (a sorted copy
of every rows × part-genes array); :func:`part_mads` computes every part of every row in one compiled
pass over the gathered ranks, with a (branch-free) quickselect median that returns exactly what ``np.median`` /
``np.nanmedian`` return (the middle value, or the two middle values' sum halved), so the dispersion
column is unchanged bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from .types import MAD_SCALE


@numba.njit(cache=True, nogil=True)
def _select(buf: np.ndarray, n: int, k: int) -> float:  # pragma: no cover - jit
    """The ``k``-th smallest of ``buf[:n]`` (0-based), reordering ``buf[:n]`` in place: quickselect with a
    median-of-three pivot and branch-free three-way partitions (values below the pivot, then equal to it),
    about twice as fast as comparison branches on ranks, whose order the processor cannot predict."""
    lo, hi = 0, n  # the k-th value lies in buf[lo:hi]; everything left of lo is <= it, right of hi >= it
    while hi - lo > 1:
        a, b, c = buf[lo], buf[(lo + hi) // 2], buf[hi - 1]
        if a > b:
            a, b = b, a
        if b > c:
            b = c
            if a > b:
                b = a
        pivot = b
        s = lo
        for t in range(lo, hi):  # swap always, advance when below: no data-dependent branch
            v = buf[t]
            buf[t] = buf[s]
            buf[s] = v
            s += v < pivot
        if k < s:
            hi = s
            continue
        e = s
        for t in range(s, hi):
            v = buf[t]
            buf[t] = buf[e]
            buf[e] = v
            e += v == pivot
        if k < e:
            return pivot
        lo = e
    return buf[k]


@numba.njit(cache=True, nogil=True)
def _median(buf: np.ndarray, n: int) -> float:  # pragma: no cover - jit
    """Median of ``buf[:n]`` as ``np.median`` computes it (reorders ``buf[:n]``)."""
    half = n // 2
    upper = _select(buf, n, half)
    if n % 2:
        return upper
    lower = buf[0]  # after the selection every value left of ``half`` is <= upper: the lower middle is their max
    for t in range(1, half):
        if buf[t] > lower:
            lower = buf[t]
    return (lower + upper) / 2.0


@numba.njit(cache=True, nogil=True)
def _part_mads(values: np.ndarray, indptr: np.ndarray, cols: np.ndarray, scale: float,
               out: np.ndarray) -> None:  # pragma: no cover - jit
    n_rows = values.shape[0]
    n_parts = indptr.size - 1
    width = 0
    for j in range(n_parts):
        width = max(width, indptr[j + 1] - indptr[j])
    buf = np.empty(max(width, 1))
    for i in range(n_rows):
        for j in range(n_parts):
            n = 0
            for t in range(indptr[j], indptr[j + 1]):
                v = values[i, cols[t]]
                if v == v:  # not NaN
                    buf[n] = v
                    n += 1
            if n == 0:
                out[i, j] = np.nan
                continue
            med = _median(buf, n)
            for t in range(n):
                buf[t] = abs(buf[t] - med)
            out[i, j] = scale * _median(buf, n)


def part_mads(values: np.ndarray, parts: Sequence[np.ndarray], scale: float = MAD_SCALE) -> np.ndarray:
    """Scaled median absolute deviation of ``values[i, parts[j]]`` for every row ``i`` and part ``j``.

    Parameters
    ----------
    values
        Rows × columns float array (``NaN`` = not measured: left out, as ``np.nanmedian`` does).
    parts
        Column indices of each part (a signature's up or down genes).
    scale
        Multiplier of the MAD (:data:`MAD_SCALE`, 1.4826, makes it consistent for normal data as R's ``mad``).

    Returns
    -------
    ndarray
        Rows × parts; ``NaN`` where a row has no measured value in a part (or the part is empty).
        Equal bit for bit to ``scale * nanmedian(|v - nanmedian(v)|)`` computed with NumPy.
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D, got {values.ndim}-D")
    sizes = np.asarray([len(p) for p in parts], dtype=np.int64)
    indptr = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    cols = (np.concatenate([np.asarray(p, dtype=np.int64) for p in parts]) if len(parts)
            else np.empty(0, dtype=np.int64))
    if cols.size and (cols.min() < 0 or cols.max() >= values.shape[1]):
        raise ValueError(f"part column indices must lie in 0..{values.shape[1] - 1}")
    out = np.empty((values.shape[0], len(parts)))
    _part_mads(values, indptr, cols, float(scale), out)
    return out
