"""Numeric kernels of the rank-based score: within-sample ranks (dense and sparse, numba), rank-sum
normalisation, the random-draw positions and sparse draw sums."""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp


@numba.njit(cache=True, nogil=True)
def _average_ranks(block: np.ndarray, order: np.ndarray, out: np.ndarray,
                   n_measured: np.ndarray) -> None:  # pragma: no cover - jit
    """Write average ranks (ties averaged, NaN kept) into ``out`` walking each row's sort order once,
    and each row's number of non-NaN values into ``n_measured``."""
    m, g = block.shape
    for i in range(m):
        p = 0
        n_measured[i] = g
        while p < g:
            v = block[i, order[i, p]]
            if np.isnan(v):  # argsort puts NaN last: the rest of the row is unmeasured
                n_measured[i] = p
                for t in range(p, g):
                    out[i, order[i, t]] = np.nan
                break
            q = p + 1
            while q < g and block[i, order[i, q]] == v:
                q += 1
            r = (p + 1 + q) / 2.0  # mean of ranks p+1 .. q
            for t in range(p, q):
                out[i, order[i, t]] = r
            p = q


def rank_dense(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks within each row of a dense block, ``NaN`` excluded.

    One ``argsort`` per row (NumPy) followed by a single compiled pass that averages tie groups
    and scatters the ranks back (about 1.3x the cost of the ``argsort`` alone).

    Parameters
    ----------
    block
        Samples × genes float array.

    Returns
    -------
    ranks
        Same shape; ascending ranks starting at 1, ties averaged, ``NaN`` where the input is NaN.
    n_measured
        Number of non-NaN values per row (the ``N`` of each sample's ranking).
    """
    block = np.ascontiguousarray(block, dtype=float)
    m, g = block.shape
    if g == 0:
        return np.empty((m, 0)), np.zeros(m, dtype=np.int64)
    ranks = np.empty((m, g), dtype=float)
    n_measured = np.empty(m, dtype=np.int64)
    _average_ranks(block, np.argsort(block, axis=1), ranks, n_measured)
    return ranks, n_measured


def rank_sparse(block: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
    """Rank a CSR block without densifying.

    Returns
    -------
    ranks
        CSR with the structure of ``block``: the rank of each stored value (0 at stored NaNs).
    is_nan
        Boolean array over ``block.data``: stored NaN (= not measured).
    zero_rank
        Per row, the shared (average) rank of all zeros, implicit and explicit.
    n_measured
        Per row, number of measured genes (all columns minus stored NaNs).
    """
    m, g = block.shape
    block = block.copy()
    block.sort_indices()
    data = np.asarray(block.data, dtype=float)
    indptr = block.indptr
    nnz_row = np.diff(indptr)
    row = np.repeat(np.arange(m), nnz_row)
    is_nan = np.isnan(data)
    n_nan = np.bincount(row[is_nan], minlength=m)
    n_neg = np.bincount(row[data < 0], minlength=m)
    n_zero = np.bincount(row[data == 0], minlength=m)
    n_implicit = g - nnz_row
    zero_rank = n_neg + (n_zero + n_implicit + 1) / 2.0
    rank_data = np.zeros(data.shape[0], dtype=float)
    if data.size:
        # rank the stored values of each row among themselves: pad rows to the longest with +inf
        # (inputs are finite, so padding sorts after every real value and before NaN) and reuse
        # the dense ranking; then shift by the row's implicit zeros.
        width = int(nnz_row.max())
        inside = np.arange(width) < nnz_row.reshape(-1, 1)
        padded = np.full((m, width), np.inf)
        padded[inside] = data  # CSR data are row-major, like boolean-mask assignment
        r_stored = rank_dense(padded)[0][inside]
        rank_data = np.where(data < 0, r_stored, np.where(data > 0, r_stored + n_implicit[row], zero_rank[row]))
        rank_data[is_nan] = 0.0
    ranks = sp.csr_matrix((rank_data, block.indices.copy(), indptr.copy()), shape=(m, g))
    return ranks, is_nan, zero_rank, g - n_nan


def gather_sparse(ranks: sp.csr_matrix, is_nan: np.ndarray, zero_rank: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Dense samples × ``cols`` ranks of a ranked CSR block (NaN = not measured): every cell
    starts at its row's zero rank, then the stored values in ``cols`` are scattered in (one
    vectorised pass over the stored values, whatever the number of columns)."""
    m, g = ranks.shape
    out = np.repeat(zero_rank.reshape(m, 1).astype(float), len(cols), axis=1)
    colpos = np.full(g, -1, dtype=np.int64)
    colpos[cols] = np.arange(len(cols))
    pos = colpos[ranks.indices]
    hit = pos >= 0
    row = np.repeat(np.arange(m), np.diff(ranks.indptr))
    out[row[hit], pos[hit]] = np.where(is_nan, np.nan, ranks.data)[hit]
    return out


def part_bounds(n, big_n):
    """The lowest and highest possible mean rank of ``n`` genes among ``big_n`` ranked, and their span:
    ``(n + 1) / 2``, ``(2 big_n - n + 1) / 2`` (floats or broadcastable arrays). The one expression of
    the bounds for observed and null scores (:func:`normalise`, :func:`normalise_part`,
    :mod:`ressig.scoring.celldraws`), so equal rank sums normalise bit for bit alike."""
    low = (n + 1.0) / 2.0
    high = (2.0 * big_n - n + 1.0) / 2.0
    return low, high, high - low


def normalise(sums: np.ndarray, used, big_n) -> tuple[np.ndarray, np.ndarray]:
    """Rank sums of ``used`` genes among ``big_n`` measured (broadcastable) → centred normalised up
    score (ascending ranks) and down score (reversed ranks), NaN where a part has no measured gene.

    The one formula for observed and random-gene-set (null) scores, so equal rank sums give
    bit-identical scores.
    """
    used = np.asarray(used, dtype=float)
    big_n = np.asarray(big_n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / used
        low, high, span = part_bounds(used, big_n)
        ok = (used > 0) & (span > 0)
        up_norm = np.where(ok, (mean - low) / np.where(ok, span, 1.0), np.nan)
        down_norm = np.where(ok, (high - mean) / np.where(ok, span, 1.0), np.nan)  # reversed ranks
    return up_norm - 0.5, down_norm - 0.5


def normalise_part(sums: np.ndarray, n: float, big_n: float, up: bool) -> np.ndarray:
    """:func:`normalise` of one part with scalar sizes, **in place** on ``sums`` (the null's
    rows × draws rank sums): the same operations in the same order, so a random set with the
    sample's rank sum gets its score bit for bit, at a third of the memory traffic."""
    n, big_n = float(n), float(big_n)
    low, high, span = part_bounds(n, big_n)
    if not (n > 0 and span > 0):
        sums[...] = np.nan
        return sums
    np.divide(sums, n, out=sums)
    if up:
        sums -= low
    else:
        np.subtract(high, sums, out=sums)
    sums /= span
    sums -= 0.5
    return sums


@numba.njit(cache=True, nogil=True)
def draw_positions(u: np.ndarray, n_pop: int, out: np.ndarray) -> None:  # pragma: no cover - jit
    """Fill each row of ``out`` (draws × n) with ``n`` distinct positions in ``0..n_pop-1`` in random order.

    Floyd's algorithm picks a uniform ``n``-subset from ``u[:, :n]``; a Fisher-Yates shuffle driven
    by ``u[:, n:]`` makes the order uniform too (the first ``n_up`` positions are the up part).
    """
    n_draws, n = out.shape
    seen = np.zeros(n_pop, dtype=np.bool_)
    for b in range(n_draws):
        k = 0
        for j in range(n_pop - n, n_pop):
            t = min(int(u[b, k] * (j + 1)), j)  # uniform on 0..j
            if seen[t]:
                t = j
            seen[t] = True
            out[b, k] = t
            k += 1
        for i in range(n - 1, 0, -1):
            s = min(int(u[b, n + i] * (i + 1)), i)
            tmp = out[b, i]
            out[b, i] = out[b, s]
            out[b, s] = tmp
        for i in range(n):
            seen[out[b, i]] = False


@numba.njit(cache=True, nogil=True)
def _part_walk(indptr, indices, values, is_nan, m_indptr, m_indices, sums, n_stored,
               n_nan) -> None:  # pragma: no cover - jit
    for i in range(sums.shape[0]):
        for t in range(indptr[i], indptr[i + 1]):
            g = indices[t]
            nan = is_nan[t]
            v = values[t]
            for u in range(m_indptr[g], m_indptr[g + 1]):
                p = m_indices[u]
                if nan:
                    n_nan[i, p] += 1.0
                else:
                    sums[i, p] += v
                    n_stored[i, p] += 1.0


def sparse_part_sums(ranks: sp.csr_matrix, is_nan: np.ndarray,
                     membership: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row and signature part, over the **stored** values of a ranked CSR block: the sum of
    their ranks, how many are measured and how many are stored NaN (one compiled walk of the
    stored values; ``membership`` is the CSR of genes × parts).

    Returns
    -------
    sums, n_stored, n_nan
        Rows × parts float arrays (the implicit zeros are the caller's: ``zero_rank`` × the rest).
    """
    shape = (ranks.shape[0], membership.shape[1])
    sums, n_stored, n_nan = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    if ranks.nnz and membership.nnz:
        _part_walk(ranks.indptr, ranks.indices, np.asarray(ranks.data, dtype=np.float64), is_nan,
                   membership.indptr, membership.indices, sums, n_stored, n_nan)
    return sums, n_stored, n_nan


@numba.njit(cache=True, nogil=True)
def sparse_draw_sums(indptr, indices, values, m_indptr, m_indices, out) -> None:  # pragma: no cover - jit
    """``out[i, b] += sum of values[i, g]`` over stored genes ``g`` of row ``i`` drawn in ``b``.

    ``m_indptr``/``m_indices`` are the CSR of the gene × draw membership: walking each stored value
    once and adding it to the draws holding its gene costs nnz × (draws × n / genes) per row.
    """
    for i in range(out.shape[0]):
        for t in range(indptr[i], indptr[i + 1]):
            g = indices[t]
            v = values[t]
            for u in range(m_indptr[g], m_indptr[g + 1]):
                out[i, m_indices[u]] += v
