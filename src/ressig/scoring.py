"""Single-sample, rank-based gene-signature scores (singscore-style).

The score of a sample depends on that sample alone: genes are ranked *within* the sample, so a
patient's score is the same whether it is scored alone or inside any cohort, and it is unchanged
by any strictly increasing transform of its expression values (log, scaling, normalisation by a
per-sample factor). This follows singscore (Foroutan et al. 2018, BMC Bioinformatics 19:404):

* within-sample ranks, ascending (1 = lowest expression), ties get their average rank; genes not
  measured in a sample (``NaN``) are left out of that sample's ranking (``N`` = measured genes);
* ``up_score`` = mean rank of the ``n`` measured up genes, normalised by its theoretical minimum
  ``(n + 1) / 2`` and maximum ``(2N - n + 1) / 2`` to [0, 1], then centred (−0.5 … 0.5);
* ``down_score`` = the same on reversed ranks ``N + 1 - rank`` of the down genes;
* ``score`` = ``up_score + down_score`` (or the one part a signature has): −1 … 1 with both;
* ``dispersion`` = median absolute deviation (scaled by 1.4826, as R's ``mad``) of the ranks of
  the up genes plus that of the down genes (singscore's ``TotalDispersion``).

Implementation: samples are processed in row blocks; each block is ranked in one pass (NumPy
``argsort``, then a compiled numba walk that averages tie groups and scatters ranks back) and the per-signature rank sums and gene counts come from a
sparse gene × signature-part membership product. Sparse input (CSR/CSC) is ranked without
densifying: implicit zeros are real zeros, all tied, and their shared rank is computed
analytically from the number of negative, zero and stored values of the row.

Per-sample p-values (``null_draws > 0``; singscore's ``generateNull``/``getPvals`` idea): for
each sample and signature, the score is compared with the scores of ``null_draws`` random gene
sets of the same size and up/down split, drawn among the genes **measured in that sample**:

* ``n_up``/``n_down`` are the sample's used (measured) up/down genes and ``N`` its measured genes;
  a draw picks ``n_up + n_down`` distinct positions among the ``N`` measured genes sorted by gene
  id (Floyd's algorithm, then a shuffle assigns the first ``n_up`` to the up part). The draws
  depend only on ``(seed, n_up, n_down, N)``, so every sample with the same sizes shares them (one
  sparse position × draw membership matrix multiplied with the sample block's ranks) and a
  sample's p-value depends neither on the other samples scored with it, nor on block/chunk
  sizes, nor on the column order of its file;
* ``pvalue = (k + 1) / (n + 1)`` with ``k`` = draws scoring **at least** the sample's score
  (one-sided, "higher than random"), ``pvalue_low`` the same for "at most" (lower than random);
  ties count against the sample (conservative), which matters for sparse single-cell rows where
  many genes share the zero rank;
* random sets are exchangeable with signature genes only if genes were independent: co-expressed
  signature genes (a real pathway) give small p-values because they *are* coherent, which is the
  point; the p-value is exact for the "random gene set" null, not for a "random sample" null
  (that needs a reference cohort: :mod:`ressig.signature`).

Cohort-dependent alternatives (explicitly labelled): :func:`score_ssgsea` (gseapy ssGSEA,
normalised across the samples scored together).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._log import logger
from .errors import RessigError

#: Output columns of :func:`score_matrix`.
SCORE_COLUMNS = ["signature", "sample", "score", "up_score", "down_score", "dispersion",
                 "n_genes_used", "n_genes_missing"]
#: Scale factor making the MAD a consistent estimator of the SD for normal data (R's ``mad``).
MAD_SCALE = 1.4826
#: Target number of matrix cells ranked at once (bounds memory to ~ 8 arrays of this size).
BLOCK_CELLS = 2_000_000
#: Columns added by :func:`score_matrix` when ``null_draws > 0``.
NULL_COLUMNS = ["n_genes_measured", "pvalue", "pvalue_low"]
#: Default number of random gene sets per null distribution (p-values resolve down to 1/1001).
DEFAULT_NULL_DRAWS = 1000
#: Default seed of the random gene sets (with the sizes, it fixes every draw).
DEFAULT_NULL_SEED = 20261130
#: Default number of expression-level bins of the matched null (:class:`LevelBins`).
DEFAULT_LEVEL_BINS = 10
#: Null scores within this distance of the observed score count as ties (scores lie in -1..1).
_TIE_TOL = 1e-12


@dataclass(frozen=True)
class GeneSignature:
    """A gene signature: genes expected up (and optionally down) in the phenotype.

    Attributes
    ----------
    name
        Signature name (unique within one scoring call).
    up
        Genes expected high. May be empty only when ``down`` is not.
    down
        Genes expected low (optional).
    """

    name: str
    up: tuple[str, ...]
    down: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------
# ranking


@numba.njit(cache=True, nogil=True)
def _average_ranks(block: np.ndarray, order: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - jit
    """Write average ranks (ties averaged, NaN kept) into ``out`` walking each row's sort order once."""
    m, g = block.shape
    for i in range(m):
        p = 0
        while p < g:
            v = block[i, order[i, p]]
            if np.isnan(v):  # argsort puts NaN last: the rest of the row is unmeasured
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
    _average_ranks(block, np.argsort(block, axis=1), ranks)
    return ranks, g - np.isnan(block).sum(axis=1)


def _rank_sparse(block: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
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


def _gather_sparse(ranks: sp.csr_matrix, is_nan: np.ndarray, zero_rank: np.ndarray, cols: np.ndarray) -> np.ndarray:
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


# ----------------------------------------------------------------------------------------------
# signatures -> membership


@dataclass
class _Parts:
    """Signature parts (up / down) as columns of a sparse membership matrix over gathered genes."""

    cols: np.ndarray  # matrix column of each gathered gene (union of all signature genes present)
    membership: sp.csc_matrix  # gathered genes × parts
    part_genes: list[np.ndarray]  # per part: positions into ``cols``
    up_part: list[int | None]  # per signature: part index of its up genes (None if empty)
    down_part: list[int | None]
    total: np.ndarray  # per signature: number of distinct genes (up + down), present or not
    present: np.ndarray  # per signature: genes present in the matrix's gene list


def _check_inputs(X, genes: Sequence[str], samples: Sequence[str], signatures: Sequence[GeneSignature],
                  min_coverage: float) -> tuple[list[str], list[str]]:
    if X.ndim != 2:
        raise RessigError(f"expression matrix must be 2-D (samples x genes), got {X.ndim}-D")
    genes = [str(g) for g in genes]
    samples = [str(s) for s in samples]
    if X.shape != (len(samples), len(genes)):
        raise RessigError(f"expression matrix is {X.shape[0]} x {X.shape[1]} but {len(samples)} sample and "
                          f"{len(genes)} gene names were given; X must be samples x genes")
    if len(set(genes)) < len(genes):
        dup = pd.Index(genes)[pd.Index(genes).duplicated()][0]
        raise RessigError(f"gene {dup!r} appears more than once in the expression matrix; make gene ids unique "
                          "(e.g. sum duplicates) before scoring")
    if len(set(samples)) < len(samples):
        dup = pd.Index(samples)[pd.Index(samples).duplicated()][0]
        raise RessigError(f"sample {dup!r} appears more than once; sample names must be unique")
    if not signatures:
        raise RessigError("no signatures to score")
    if not 0.0 <= float(min_coverage) <= 1.0:
        raise RessigError(f"min_coverage must be between 0 and 1, got {min_coverage}")
    names = [s.name for s in signatures]
    if len(set(names)) < len(names):
        dup = pd.Index(names)[pd.Index(names).duplicated()][0]
        raise RessigError(f"signature name {dup!r} is used twice; signature names must be unique")
    for s in signatures:
        if not isinstance(s, GeneSignature):
            raise RessigError(f"expected GeneSignature objects, got {type(s).__name__}")
        if not s.up and not s.down:
            raise RessigError(f"signature {s.name!r} has no genes")
        both = sorted(set(map(str, s.up)) & set(map(str, s.down)))
        if both:
            raise RessigError(f"signature {s.name!r} lists {', '.join(both[:5])} as both up and down; a gene can "
                              "only be in one direction")
    return genes, samples


def _build_parts(genes: list[str], signatures: Sequence[GeneSignature]) -> _Parts:
    index = {g: i for i, g in enumerate(genes)}
    part_cols: list[list[int]] = []
    up_part: list[int | None] = []
    down_part: list[int | None] = []
    total = np.zeros(len(signatures), dtype=np.int64)
    present = np.zeros(len(signatures), dtype=np.int64)
    for k, s in enumerate(signatures):
        up = list(dict.fromkeys(map(str, s.up)))
        down = list(dict.fromkeys(map(str, s.down)))
        total[k] = len(up) + len(down)
        for genes_part, slot in ((up, up_part), (down, down_part)):
            if not genes_part:
                slot.append(None)
                continue
            cols = [index[g] for g in genes_part if g in index]
            present[k] += len(cols)
            slot.append(len(part_cols))
            part_cols.append(cols)
    union = np.unique(np.concatenate([np.asarray(c, dtype=np.int64) for c in part_cols]
                                     + [np.empty(0, dtype=np.int64)]))
    where = {c: i for i, c in enumerate(union.tolist())}
    part_genes = [np.asarray([where[c] for c in cols], dtype=np.int64) for cols in part_cols]
    rows = np.concatenate([pg for pg in part_genes] + [np.empty(0, dtype=np.int64)])
    colidx = np.concatenate([np.full(len(pg), j, dtype=np.int64) for j, pg in enumerate(part_genes)]
                            + [np.empty(0, dtype=np.int64)])
    membership = sp.csc_matrix((np.ones(rows.size), (rows, colidx)), shape=(union.size, len(part_cols)))
    return _Parts(cols=union, membership=membership, part_genes=part_genes, up_part=up_part,
                  down_part=down_part, total=total, present=present)


def _mad(values: np.ndarray) -> np.ndarray:
    """Scaled MAD along axis 1, ignoring NaN (NaN for rows without values)."""
    if values.shape[1] == 0:
        return np.full(values.shape[0], np.nan)
    if not np.isnan(values).any():
        med = np.median(values, axis=1, keepdims=True)
        return MAD_SCALE * np.median(np.abs(values - med), axis=1)
    out = np.full(values.shape[0], np.nan)
    ok = ~np.isnan(values).all(axis=1)
    if ok.any():
        v = values[ok]
        med = np.nanmedian(v, axis=1, keepdims=True)
        out[ok] = MAD_SCALE * np.nanmedian(np.abs(v - med), axis=1)
    return out


def _normalise(sums: np.ndarray, used, big_n) -> tuple[np.ndarray, np.ndarray]:
    """Rank sums of ``used`` genes among ``big_n`` measured (broadcastable) → centred normalised up
    score (ascending ranks) and down score (reversed ranks), NaN where a part has no measured gene.

    The one formula for observed and random-gene-set (null) scores, so equal rank sums give
    bit-identical scores.
    """
    used = np.asarray(used, dtype=float)
    big_n = np.asarray(big_n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / used
        low = (used + 1.0) / 2.0
        high = (2.0 * big_n - used + 1.0) / 2.0
        span = high - low
        ok = (used > 0) & (span > 0)
        up_norm = np.where(ok, (mean - low) / np.where(ok, span, 1.0), np.nan)
        down_norm = np.where(ok, (high - mean) / np.where(ok, span, 1.0), np.nan)  # reversed ranks
    return up_norm - 0.5, down_norm - 0.5


def _normalise_part(sums: np.ndarray, n: float, big_n: float, up: bool) -> np.ndarray:
    """:func:`_normalise` of one part with scalar sizes, **in place** on ``sums`` (the null's
    rows × draws rank sums): the same operations in the same order, so a random set with the
    sample's rank sum gets its score bit for bit, at a third of the memory traffic."""
    n, big_n = float(n), float(big_n)
    low = (n + 1.0) / 2.0
    high = (2.0 * big_n - n + 1.0) / 2.0
    span = high - low
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


def _part_scores(gathered: np.ndarray, n_measured: np.ndarray, parts: _Parts, dispersion: bool = True):
    """Per part: normalised centred mean rank (ascending), used-gene count and MAD of ranks
    (NaN when ``dispersion`` is False: the medians are most of the cost with many signatures)."""
    measured = ~np.isnan(gathered)
    filled = np.where(measured, gathered, 0.0)
    mt = parts.membership.T.tocsr()  # parts × gathered genes
    sums = np.asarray(mt @ filled.T).T  # samples × parts
    used = np.asarray(mt @ measured.T.astype(float)).T
    up, down = _normalise(sums, used, n_measured.reshape(-1, 1))
    if not dispersion:
        mad = np.full((gathered.shape[0], len(parts.part_genes)), np.nan)
    elif parts.part_genes:
        mad = np.column_stack([_mad(gathered[:, pg]) for pg in parts.part_genes])
    else:
        mad = np.empty((gathered.shape[0], 0))
    return up, down, used, mad


def _sparse_part_sums(ranks: sp.csr_matrix, is_nan: np.ndarray, zero_rank: np.ndarray,
                      full_membership: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Rank sums and measured-gene counts per part straight from a ranked CSR block, without a
    dense samples × genes array: stored ranks through one sparse product, the implicit zeros as
    ``zero_rank × (part size − stored genes of the part)``."""
    shape = ranks.shape
    stored = sp.csr_matrix(((~is_nan).astype(float), ranks.indices, ranks.indptr), shape=shape)
    rank_sum = (ranks @ full_membership).toarray()  # stored NaN carry rank 0
    n_stored = (stored @ full_membership).toarray()
    n_nan = np.zeros_like(n_stored)
    if is_nan.any():
        nan = sp.csr_matrix((is_nan.astype(float), ranks.indices, ranks.indptr), shape=shape)
        n_nan = (nan @ full_membership).toarray()
    size = np.asarray(full_membership.sum(axis=0), dtype=float).reshape(1, -1)
    used = size - n_nan
    sums = rank_sum + zero_rank.reshape(-1, 1) * (size - n_stored - n_nan)
    return sums, used


# ----------------------------------------------------------------------------------------------
# null distribution of random gene sets (per-sample p-values)


@numba.njit(cache=True, nogil=True)
def _draw_positions(u: np.ndarray, n_pop: int, out: np.ndarray) -> None:  # pragma: no cover - jit
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


@lru_cache(maxsize=128)  # one entry per (sizes, N): signatures of a chunk rarely have more
def null_draws(n_up: int, n_down: int, n_pop: int, draws: int, seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Random gene sets as sparse position × draw membership matrices (up part, down part).

    Parameters
    ----------
    n_up, n_down
        Sizes of the up and down parts (a draw holds ``n_up + n_down`` distinct positions).
    n_pop
        Number of positions to draw from (the sample's measured genes).
    draws
        Number of random sets.
    seed
        Base seed; the draws are a pure function of ``(seed, n_up, n_down, n_pop, draws)``.

    Returns
    -------
    (csr_matrix, csr_matrix)
        ``n_pop × draws`` 0/1 matrices; treat them as read-only (they are cached).
    """
    n = n_up + n_down
    if n > n_pop or n < 1:
        raise RessigError(f"cannot draw {n} genes among {n_pop} measured genes")
    rng = np.random.default_rng([int(seed), int(n_up), int(n_down), int(n_pop)])
    pos = np.empty((draws, n), dtype=np.int64)
    _draw_positions(rng.random((draws, 2 * n)), int(n_pop), pos)
    return _membership(pos[:, :n_up], n_pop), _membership(pos[:, n_up:], n_pop)


def _membership(pos: np.ndarray, n_pop: int) -> sp.csr_matrix:
    """``n_pop × draws`` 0/1 matrix from a draws × n array of positions."""
    draws = pos.shape[0]
    cols = np.repeat(np.arange(draws), pos.shape[1])
    return sp.csr_matrix((np.ones(pos.size), (pos.ravel(), cols)), shape=(n_pop, draws))


class LevelBins:
    """Expression-level bin of every gene of a scoring call: the strata of the **matched** null.

    Genes are cut into ``n_bins`` quantile bins of a *reference* level (e.g. the mean log
    expression of the signature's training samples, frozen in its artefact); genes of the data
    without a reference level join the bin of the median level. The bins depend on the gene
    columns of the data and the frozen levels only, never on the samples scored.
    """

    def __init__(self, genes: Sequence[str], levels: Mapping[str, float], n_bins: int = DEFAULT_LEVEL_BINS):
        if int(n_bins) < 1:
            raise RessigError(f"level bins must be >= 1, got {n_bins}")
        lv = pd.Series(levels, dtype=float).reindex(pd.Index(list(genes))).to_numpy()
        known = np.isfinite(lv)
        if known.sum() < 2 * int(n_bins):
            raise RessigError(f"only {int(known.sum())} genes of the data have a reference expression level: too few "
                              f"for a matched null with {n_bins} bins; use the uniform null (--null uniform)")
        edges = np.quantile(lv[known], np.linspace(0, 1, int(n_bins) + 1)[1:-1])
        bins = np.searchsorted(edges, lv, side="right")
        bins[~known] = np.searchsorted(edges, np.median(lv[known]), side="right")
        self.by_column = bins.astype(np.int64)
        self.n_bins = int(n_bins)


class _PosBins:
    """Bins of the positions a null draws from (measured genes in gene-id order), hashable by content."""

    def __init__(self, bins: np.ndarray, n_bins: int):
        self.bins = np.ascontiguousarray(bins, dtype=np.int64)
        self.n_bins = n_bins
        self.digest = hashlib.blake2b(self.bins.tobytes(), digest_size=8).digest()
        self.pools = [np.flatnonzero(self.bins == b) for b in range(n_bins)]

    def __hash__(self) -> int:
        return hash(self.digest)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _PosBins) and self.digest == other.digest


@lru_cache(maxsize=128)
def matched_null_draws(up_counts: tuple[int, ...], down_counts: tuple[int, ...], pos_bins: _PosBins, draws: int,
                       seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Random gene sets matched to a signature's expression levels (see :func:`null_draws`).

    ``up_counts[b]``/``down_counts[b]`` genes of the up/down part lie in level bin ``b``; every
    draw takes that many distinct positions from the positions of bin ``b`` (Floyd + shuffle per
    bin, as :func:`null_draws`), so a random set has the signature's level profile. The draws are
    a pure function of the counts, the positions' bins, ``draws`` and ``seed``.
    """
    ku, kd = np.asarray(up_counts, dtype=np.int64), np.asarray(down_counts, dtype=np.int64)
    n_pop = pos_bins.bins.size
    rng = np.random.default_rng([int(seed), int(n_pop), int.from_bytes(pos_bins.digest, "little"), *ku.tolist(),
                                 *kd.tolist()])
    up = np.empty((draws, int(ku.sum())), dtype=np.int64)
    down = np.empty((draws, int(kd.sum())), dtype=np.int64)
    iu = idn = 0
    for b in np.flatnonzero(ku + kd):
        pool, nu, nd = pos_bins.pools[b], int(ku[b]), int(kd[b])
        if nu + nd > pool.size:
            raise RessigError(f"cannot draw {nu + nd} genes among the {pool.size} of level bin {b}")
        out = np.empty((draws, nu + nd), dtype=np.int64)
        _draw_positions(rng.random((draws, 2 * (nu + nd))), int(pool.size), out)
        out = pool[out]
        up[:, iu:iu + nu], down[:, idn:idn + nd] = out[:, :nu], out[:, nu:]
        iu, idn = iu + nu, idn + nd
    return _membership(up, n_pop), _membership(down, n_pop)


@numba.njit(cache=True, nogil=True)
def _sparse_draw_sums(indptr, indices, values, m_indptr, m_indices, out) -> None:  # pragma: no cover - jit
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


class _GeneOrder:
    """Draw positions index the measured genes **sorted by gene id**, not the input's column order.

    So a sample's p-value depends neither on the other samples nor on how the columns of its
    file are ordered. Holds the permutation and the column-order membership matrices of one call.
    """

    def __init__(self, genes: Sequence[str]):
        self.order = np.argsort(np.asarray(genes, dtype=object), kind="stable")  # position -> column
        self.position = np.empty(len(genes), dtype=np.int64)
        self.position[self.order] = np.arange(len(genes))  # column -> position
        self._by_column: dict[tuple, sp.csr_matrix] = {}  # (key, dtype) -> membership

    def by_column(self, key: tuple, member: sp.csr_matrix, dtype=np.float64) -> sp.csr_matrix:
        """``member`` (positions × draws, all genes measured) re-indexed by input column."""
        if (key, dtype) not in self._by_column:
            self._by_column[key, dtype] = member[self.position].astype(dtype)
        return self._by_column[key, dtype]


class _RankBlock:
    """Ranks of one block of samples, in the forms the null computation needs (built lazily)."""

    def __init__(self, dense: np.ndarray | None, n_measured: np.ndarray, gene_order: _GeneOrder, sparse=None):
        self.dense = dense  # samples × genes ranks (NaN = not measured), or None for sparse input
        self.sparse = sparse  # (ranks CSR, is_nan, zero_rank) for sparse input
        self.n_measured = n_measured
        self.gene_order = gene_order
        self._stored = None
        self._dense_t: dict = {}  # dtype -> genes x rows ranks
        self.null_cache: dict[tuple, np.ndarray] = {}  # (sizes, parts, rows) -> null scores, shared by signatures

    def _dense(self) -> np.ndarray:
        if self.dense is None:
            ranks, is_nan, zero_rank = self.sparse
            self.dense = _gather_sparse(ranks, is_nan, zero_rank, np.arange(ranks.shape[1]))
        return self.dense

    def rank_sums(self, rows: np.ndarray, member: sp.csr_matrix, n_part: int, key: tuple) -> np.ndarray:
        """rows × draws sums of the ranks at the drawn positions (positions among measured genes)."""
        if n_part == 0:
            return np.zeros((rows.size, member.shape[1]))
        n_genes = (self.dense if self.dense is not None else self.sparse[0]).shape[1]
        if (self.n_measured[rows] == n_genes).all():  # every gene measured: permute the draws, not the ranks
            if self.sparse is not None and self.dense is None:
                by_col = self.gene_order.by_column(key, member)
                ranks, _, zero_rank = self.sparse
                if self._stored is None:  # stored ranks relative to the row's zero rank: implicit zeros add 0
                    row = np.repeat(np.arange(ranks.shape[0]), np.diff(ranks.indptr))
                    self._stored = sp.csr_matrix((ranks.data - zero_rank[row], ranks.indices, ranks.indptr),
                                                 shape=ranks.shape)
                sub = self._stored if rows.size == ranks.shape[0] else self._stored[rows]  # rows: sorted, unique
                out = np.zeros((rows.size, member.shape[1]))
                _sparse_draw_sums(sub.indptr, sub.indices, sub.data, by_col.indptr, by_col.indices, out)
                return out + zero_rank[rows].reshape(-1, 1) * n_part
            # ranks are half-integers <= n_genes: while 2 * n_part * n_genes <= 2**24 every partial sum is exact
            # in float32, so the float32 product gives the float64 sums bit for bit at half the memory traffic
            dtype = np.float32 if 2 * n_part * n_genes <= 1 << 24 else np.float64
            by_col = self.gene_order.by_column(key, member, dtype)
            if rows.size == self.dense.shape[0]:  # genes x rows, C-contiguous: made once per block, not per product
                if dtype not in self._dense_t:
                    self._dense_t[dtype] = np.ascontiguousarray(self.dense.T, dtype=dtype)
                dense_t = self._dense_t[dtype]
            else:
                dense_t = np.ascontiguousarray(self.dense[rows].T, dtype=dtype)
            return np.asarray(by_col.T @ dense_t, dtype=float).T
        # rows with unmeasured genes: their measured genes in gene-id order
        block = self._dense()[rows][:, self.gene_order.order]
        block = block[~np.isnan(block)].reshape(rows.size, member.shape[0])
        return np.asarray(member.T @ block.T).T


@dataclass(frozen=True)
class _Matched:
    """What a matched null needs of one signature: level bin of every column, the parts' columns,
    and the bins of all positions (every gene measured), shared by the signatures of one binning."""

    col_bins: np.ndarray
    n_bins: int
    up_cols: np.ndarray
    down_cols: np.ndarray
    full: _PosBins


def _matched_groups(ranks: _RankBlock, matched: _Matched, ok: np.ndarray):
    """Rows of ``ok`` grouped by measured-gene pattern, with each group's draw key and positions' bins.

    Rows measuring every gene form one group; rows with unmeasured genes are grouped by their
    pattern (their positions are their own measured genes in gene-id order)."""
    n_genes = matched.col_bins.size
    idx = np.flatnonzero(ok)
    full = ranks.n_measured[idx] == n_genes
    order = ranks.gene_order.order
    groups = []
    if full.any():
        measured = np.ones(n_genes, dtype=bool)
        groups.append((idx[full], measured))
    if (~full).any():
        masks = ~np.isnan(ranks._dense()[idx[~full]])
        uniq, inv = np.unique(masks, axis=0, return_inverse=True)
        for g in range(uniq.shape[0]):
            groups.append((idx[~full][inv.ravel() == g], uniq[g]))
    for rows, measured in groups:
        pos_bins = matched.full if measured.all() else _PosBins(matched.col_bins[order][measured[order]],
                                                                matched.n_bins)
        ku = np.bincount(matched.col_bins[matched.up_cols[measured[matched.up_cols]]], minlength=matched.n_bins)
        kd = np.bincount(matched.col_bins[matched.down_cols[measured[matched.down_cols]]], minlength=matched.n_bins)
        yield rows, pos_bins, tuple(ku.tolist()), tuple(kd.tolist())


def _null_pvalues(ranks: _RankBlock, observed: np.ndarray, n_up: np.ndarray, n_down: np.ndarray,
                  has_up: bool, has_down: bool, draws: int, seed: int,
                  matched: _Matched | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-row one-sided empirical p-values (high, low) of ``observed`` against random gene sets
    (uniform over the measured genes, or ``matched`` to the signature's expression-level bins)."""
    m = observed.size
    p_high = np.full(m, np.nan)
    p_low = np.full(m, np.nan)
    ok = np.isfinite(observed)
    if not ok.any():
        return p_high, p_low
    if matched is None:
        keys = np.column_stack([ranks.n_measured, n_up, n_down]).astype(np.int64)
        uniq, inverse = np.unique(keys[ok], axis=0, return_inverse=True)
        idx_ok = np.flatnonzero(ok)
        plan = [(idx_ok[inverse.ravel() == g], (int(big_n), int(nu), int(nd)))
                for g, (big_n, nu, nd) in enumerate(uniq)]
    else:
        plan = [(rows, (pos_bins, ku, kd)) for rows, pos_bins, ku, kd in _matched_groups(ranks, matched, ok)]
    for rows, sizes in plan:
        key = (*sizes, has_up, has_down, rows.tobytes())
        null = ranks.null_cache.get(key)
        if null is None:  # signatures of the same sizes (level profile) share the draws and the null scores
            if matched is None:
                big_n, nu, nd = sizes
                up_m, down_m = null_draws(nu, nd, big_n, draws, seed)
            else:
                pos_bins, ku, kd = sizes
                big_n, nu, nd = pos_bins.bins.size, sum(ku), sum(kd)
                up_m, down_m = matched_null_draws(ku, kd, pos_bins, draws, seed)
            null = None
            if has_up:
                null = _normalise_part(ranks.rank_sums(rows, up_m, nu, (*sizes, "up")), nu, big_n, True)
            if has_down:
                down = _normalise_part(ranks.rank_sums(rows, down_m, nd, (*sizes, "down")), nd, big_n, False)
                null = down if null is None else np.add(null, down, out=null)
            ranks.null_cache[key] = null
        obs = observed[rows].reshape(-1, 1)
        p_high[rows] = ((null >= obs - _TIE_TOL).sum(axis=1) + 1.0) / (draws + 1.0)
        p_low[rows] = ((null <= obs + _TIE_TOL).sum(axis=1) + 1.0) / (draws + 1.0)
    return p_high, p_low


def null_band(n_up: int, n_down: int, n_pop: int, draws: int = DEFAULT_NULL_DRAWS, seed: int = DEFAULT_NULL_SEED,
              quantiles: Sequence[float] = (0.025, 0.975)) -> np.ndarray:
    """Quantiles of the random-gene-set null for a sample whose ``n_pop`` measured genes are untied.

    Without ties a sample's ranks are ``1..N`` whatever its values, so this *is* the null of every
    untied sample with these sizes (the same draws as :func:`score_matrix`); with ties (sparse
    single-cell rows) it is an approximation, used only to draw the band of the score plot.
    """
    n_up, n_down, n_pop = int(n_up), int(n_down), int(n_pop)
    if n_up + n_down < 1 or n_up + n_down > n_pop:
        return np.full(len(quantiles), np.nan)
    ranks = np.arange(1.0, n_pop + 1.0)
    up_m, down_m = null_draws(n_up, n_down, n_pop, int(draws), int(seed))
    null = np.zeros(int(draws))
    if n_up:
        null += _normalise(up_m.T @ ranks, n_up, n_pop)[0]
    if n_down:
        null += _normalise(down_m.T @ ranks, n_down, n_pop)[1]
    return np.quantile(null, list(quantiles))


def bh_distinct(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted value of each **distinct** p-value, from how often each occurs.

    ``values`` sorted ascending (no NaN), ``counts`` their multiplicities. Tied p-values share one
    adjusted value (that of the tie's last rank), so this equals BH on the expanded vector while
    holding only the distinct values: empirical p-values take at most ``null_draws + 1`` values,
    so a cohort of any size needs O(null_draws) memory (the streaming single-cell path).
    """
    values = np.asarray(values, dtype=float)
    counts = np.asarray(counts, dtype=np.int64)
    q = values * int(counts.sum()) / np.cumsum(counts)
    return np.minimum(1.0, np.minimum.accumulate(q[::-1])[::-1])


def bh_adjust(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN kept and left out of the number of tests)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        values, inverse, counts = np.unique(p[ok], return_inverse=True, return_counts=True)
        out[ok] = bh_distinct(values, counts)[inverse.ravel()]
    return out


#: Columns added by :func:`cohort_calls`.
CALL_COLUMNS = ["cohort_qvalue", "cohort_qvalue_low", "call"]


def cohort_calls(scores: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """**Cohort-level** calls from the per-sample p-values (the p-values themselves are not changed).

    For each signature, the ``pvalue`` (``pvalue_low``) of the samples in ``scores`` are BH-adjusted
    across those samples (``cohort_qvalue``, ``cohort_qvalue_low``); ``call`` is ``high`` when
    ``cohort_qvalue < alpha``, ``low`` when ``cohort_qvalue_low < alpha``, else ``ns`` (empty when
    the sample has no p-value). Unlike ``pvalue``, these depend on which samples are in the table:
    they control the expected fraction of false "high" (or "low") samples among those called in it.
    """
    if not 0 < float(alpha) < 1:
        raise RessigError(f"alpha must be between 0 and 1, got {alpha}")
    q_high = np.full(len(scores), np.nan)
    q_low = np.full(len(scores), np.nan)
    sig = scores["signature"].to_numpy()
    for name in pd.unique(sig):
        sel = sig == name
        q_high[sel] = bh_adjust(scores.loc[sel, "pvalue"].to_numpy(dtype=float))
        q_low[sel] = bh_adjust(scores.loc[sel, "pvalue_low"].to_numpy(dtype=float))
    return scores.assign(cohort_qvalue=q_high, cohort_qvalue_low=q_low, call=call_labels(q_high, q_low, alpha))


def call_labels(q_high: np.ndarray, q_low: np.ndarray, alpha: float) -> np.ndarray:
    """``high`` (``q_high < alpha``), ``low`` (``q_low < alpha``), ``ns``, or ``""`` without a q-value."""
    q_high = np.asarray(q_high, dtype=float)
    call = np.where(q_high < alpha, "high", np.where(np.asarray(q_low, dtype=float) < alpha, "low", "ns")).astype(object)
    call[np.isnan(q_high)] = ""
    return call


def _block_rows(n_rows: int, n_genes: int) -> int:
    return int(max(1, min(n_rows, BLOCK_CELLS // max(1, n_genes))))


def score_matrix(X, genes: Sequence[str], samples: Sequence[str], signatures: Sequence[GeneSignature], *,
                 min_coverage: float = 0.0, dispersion: bool = True, null_draws: int = 0,
                 seed: int = DEFAULT_NULL_SEED, gene_levels: Mapping[str, Mapping[str, float]] | None = None,
                 level_bins: int | Mapping[str, int] = DEFAULT_LEVEL_BINS) -> pd.DataFrame:
    """Score every sample against every signature (single-sample, rank-based).

    Parameters
    ----------
    X
        Samples × genes expression: a float ``numpy`` array (``NaN`` = gene not measured in that
        sample) or a ``scipy.sparse`` CSR/CSC matrix (implicit zeros are real zeros; stored NaN =
        not measured). Any monotone scale works (counts, CPM, log): only within-sample ranks matter.
    genes
        Gene ids of the columns of ``X`` (unique).
    samples
        Sample names of the rows of ``X`` (unique).
    signatures
        Signatures to score; genes absent from ``genes`` are reported as missing.
    min_coverage
        Refuse (``RessigError`` naming the signature) when a signature's genes used / total is below
        this fraction in any sample.
    dispersion
        Compute ``dispersion`` (median absolute deviation of ranks); ``False`` leaves it NaN and
        saves most of the time when many signatures are scored (wide single-cell outputs that
        do not ask for it).
    null_draws
        Random gene sets per null distribution; ``0`` (default) computes no p-values, otherwise
        the columns ``n_genes_measured``, ``pvalue`` and ``pvalue_low`` are added (see the module
        docstring).
    seed
        Seed of the random gene sets (the same seed and sizes give the same sets in any call).
    gene_levels
        Optional ``{signature name: {gene: reference level}}``: those signatures' p-values use the
        **matched** null (random sets with the signature's profile over ``level_bins`` quantile
        bins of the reference level, :class:`LevelBins`); the others the uniform null.
    level_bins
        Number of level bins of the matched null, or ``{signature name: bins}``
        (:data:`DEFAULT_LEVEL_BINS` for signatures it does not name).

    Returns
    -------
    DataFrame
        One row per (signature, sample), signatures in input order, samples in input order, with
        columns ``signature, sample, score, up_score, down_score, dispersion, n_genes_used,
        n_genes_missing`` (+ ``n_genes_measured, pvalue, pvalue_low`` with ``null_draws``).
        ``down_score`` is NaN for up-only signatures (and ``up_score`` for down-only ones); scores
        (and p-values) are NaN when a part has no measured gene in the sample.
    """
    is_sparse = sp.issparse(X)
    if is_sparse:
        X = sp.csr_matrix(X)
        if not np.issubdtype(X.dtype, np.number):
            raise RessigError("sparse expression matrix must be numeric")
    else:
        try:
            X = np.asarray(X, dtype=float)
        except (TypeError, ValueError):
            raise RessigError("expression matrix must be numeric (samples x genes)") from None
    genes, samples = _check_inputs(X, genes, samples, signatures, min_coverage)
    if int(null_draws) < 0:
        raise RessigError(f"null_draws must be >= 0, got {null_draws}")
    null_draws = int(null_draws)
    if np.isinf(X.data if is_sparse else X).any():
        raise RessigError("expression matrix contains infinite values; replace them, or set them to NaN "
                          "(= not measured)")
    parts = _build_parts(genes, signatures)
    n_sig, n_samp = len(signatures), len(samples)
    universe_cov = parts.present / parts.total
    for k, s in enumerate(signatures):
        if universe_cov[k] < min_coverage:
            raise RessigError(f"signature {s.name!r}: only {parts.present[k]} of {parts.total[k]} genes "
                              f"({100 * universe_cov[k]:.0f}%) are in the expression data, below min_coverage "
                              f"{100 * min_coverage:.0f}%; check gene ids (symbols vs Ensembl) or lower min_coverage")
        if parts.present[k] < parts.total[k]:
            logger.info("signature %s: %d of %d genes present in the expression data", s.name,
                        parts.present[k], parts.total[k])

    n_parts = len(parts.part_genes)
    up_all = np.full((n_samp, n_parts), np.nan)
    down_all = np.full((n_samp, n_parts), np.nan)
    used_all = np.zeros((n_samp, n_parts))
    mad_all = np.full((n_samp, n_parts), np.nan)
    pvals = np.full((2, n_sig, n_samp), np.nan)
    n_measured_all = np.zeros(n_samp, dtype=np.int64)
    gene_order = _GeneOrder(genes) if null_draws else None
    matched = (_matched_nulls(genes, signatures, parts, gene_levels, level_bins, gene_order) if null_draws
               else [None] * n_sig)
    step = _block_rows(n_samp, len(genes))
    if is_sparse and not dispersion and X.nnz and not np.isnan(X.data).any():
        # no dense rows x genes block is ever made: bound the ranking's padded rows x longest-row array
        # instead (far more rows per block: the per-block, per-signature work of the null is paid less often)
        step = _block_rows(n_samp, int(np.diff(X.indptr).max()))
    full_membership = None
    if is_sparse and not dispersion:  # membership over all genes of X (genes × parts)
        m = parts.membership.tocoo()
        full_membership = sp.csr_matrix((m.data, (parts.cols[m.row], m.col)), shape=(len(genes), m.shape[1]))
    n_blocks = (n_samp + step - 1) // step
    for b, lo in enumerate(range(0, n_samp, step)):
        hi = min(n_samp, lo + step)
        if is_sparse and not dispersion:  # no dense gathered ranks needed
            ranks, is_nan, zero_rank, n_measured = _rank_sparse(X[lo:hi])
            sums, used = _sparse_part_sums(ranks, is_nan, zero_rank, full_membership)
            up, down = _normalise(sums, used, n_measured.reshape(-1, 1))
            mad = np.full(up.shape, np.nan)
            block = _RankBlock(None, n_measured, gene_order, (ranks, is_nan, zero_rank))
        else:
            if is_sparse:
                ranks, is_nan, zero_rank, n_measured = _rank_sparse(X[lo:hi])
                gathered = _gather_sparse(ranks, is_nan, zero_rank, parts.cols)
                block = _RankBlock(None, n_measured, gene_order, (ranks, is_nan, zero_rank))
            else:
                ranks, n_measured = rank_dense(X[lo:hi])
                gathered = ranks[:, parts.cols]
                block = _RankBlock(ranks, n_measured, gene_order)
            up, down, used, mad = _part_scores(gathered, n_measured, parts, dispersion)
        up_all[lo:hi], down_all[lo:hi], used_all[lo:hi], mad_all[lo:hi] = up, down, used, mad
        n_measured_all[lo:hi] = n_measured
        for k in range(n_sig if null_draws else 0):
            pu, pd_ = parts.up_part[k], parts.down_part[k]
            observed = np.zeros(hi - lo)
            n_up, n_down = np.zeros(hi - lo), np.zeros(hi - lo)
            if pu is not None:
                observed, n_up = observed + up[:, pu], used[:, pu]
            if pd_ is not None:
                observed, n_down = observed + down[:, pd_], used[:, pd_]
            pvals[:, k, lo:hi] = _null_pvalues(block, observed, n_up, n_down, pu is not None, pd_ is not None,
                                               null_draws, int(seed), matched[k])
        if n_blocks > 4 and (b + 1) % max(1, n_blocks // 4) == 0:
            logger.info("scored %d/%d samples", hi, n_samp)

    score = np.full((n_sig, n_samp), np.nan)
    up_score = np.full((n_sig, n_samp), np.nan)
    down_score = np.full((n_sig, n_samp), np.nan)
    dispersion = np.zeros((n_sig, n_samp))
    n_used = np.zeros((n_sig, n_samp))
    for k in range(n_sig):  # loop over signatures (not samples): column picks only
        total = np.zeros(n_samp)
        pu, pd_ = parts.up_part[k], parts.down_part[k]
        if pu is not None:
            up_score[k] = up_all[:, pu]
            total += up_score[k]
            dispersion[k] += mad_all[:, pu]
            n_used[k] += used_all[:, pu]
        if pd_ is not None:
            down_score[k] = down_all[:, pd_]
            total += down_score[k]
            dispersion[k] += mad_all[:, pd_]
            n_used[k] += used_all[:, pd_]
        score[k] = total
        cov = n_used[k] / parts.total[k]
        if min_coverage > 0 and (cov < min_coverage).any():
            j = int(np.argmin(cov))
            raise RessigError(f"signature {signatures[k].name!r}: only {int(n_used[k, j])} of {parts.total[k]} "
                              f"genes measured in sample {samples[j]!r} ({100 * cov[j]:.0f}%), below "
                              f"min_coverage {100 * min_coverage:.0f}%; lower min_coverage or drop that sample")
    used_int = n_used.astype(np.int64)
    out = pd.DataFrame({
        "signature": np.repeat([s.name for s in signatures], n_samp),
        "sample": np.tile(np.asarray(samples, dtype=object), n_sig),
        "score": score.ravel(),
        "up_score": up_score.ravel(),
        "down_score": down_score.ravel(),
        "dispersion": dispersion.ravel(),
        "n_genes_used": used_int.ravel(),
        "n_genes_missing": (parts.total.reshape(-1, 1) - used_int).ravel(),
    }, columns=SCORE_COLUMNS)
    if null_draws:
        out["n_genes_measured"] = np.tile(n_measured_all, n_sig)
        out["pvalue"], out["pvalue_low"] = pvals[0].ravel(), pvals[1].ravel()
    return out


def reference_levels(data: pd.DataFrame, decimals: int = 4) -> dict[str, float]:
    """Reference expression level of each gene: its mean within-sample rank fraction.

    ``data`` is genes × samples (any monotone scale: counts, CPM, log, microarray). Each sample's
    genes are ranked (ties averaged, NaN left out) and divided by its number of measured genes;
    a gene's level is the mean over the samples measuring it, rounded to ``decimals`` (a compact,
    scale-free summary used only to stratify the matched null, :class:`LevelBins`).
    """
    ranks, n_measured = rank_dense(data.to_numpy(dtype=float).T)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = ranks / n_measured.reshape(-1, 1)
    counts = (~np.isnan(frac)).sum(axis=0)
    mean = np.where(counts > 0, np.nansum(frac, axis=0) / np.maximum(counts, 1), np.nan)
    return {str(g): round(float(v), decimals) for g, v in zip(data.index, mean, strict=True) if np.isfinite(v)}


def _matched_nulls(genes: list[str], signatures: Sequence[GeneSignature], parts: _Parts,
                   gene_levels: Mapping[str, Mapping[str, float]] | None, level_bins: int | Mapping[str, int],
                   gene_order: _GeneOrder) -> list[_Matched | None]:
    """Per signature, what its matched null needs (``None``: uniform null)."""
    out: list[_Matched | None] = []
    bins_of: dict[tuple[int, int], tuple[LevelBins, _PosBins]] = {}  # one binning per levels mapping and bins
    empty = np.empty(0, dtype=np.int64)
    for k, s in enumerate(signatures):
        levels = (gene_levels or {}).get(s.name)
        if not levels:
            out.append(None)
            continue
        n_bins = (int(level_bins.get(s.name, DEFAULT_LEVEL_BINS)) if isinstance(level_bins, Mapping)
                  else int(level_bins))
        if (id(levels), n_bins) not in bins_of:
            lb = LevelBins(genes, levels, n_bins)
            bins_of[id(levels), n_bins] = lb, _PosBins(lb.by_column[gene_order.order], lb.n_bins)
        lb, full = bins_of[id(levels), n_bins]
        cols = [parts.cols[parts.part_genes[p]] if p is not None else empty
                for p in (parts.up_part[k], parts.down_part[k])]
        out.append(_Matched(lb.by_column, lb.n_bins, *cols, full))
    return out


def score_frame(data: pd.DataFrame, signatures: Sequence[GeneSignature], *, min_coverage: float = 0.0,
                null_draws: int = 0, seed: int = DEFAULT_NULL_SEED,
                gene_levels: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """:func:`score_matrix` for a genes × samples DataFrame (index = gene ids, columns = samples)."""
    try:
        X = data.to_numpy(dtype=float).T
    except (TypeError, ValueError):
        bad = next((c for c in data.columns if not pd.api.types.is_numeric_dtype(data[c])), data.columns[0])
        raise RessigError(f"expression column {bad!r} is not numeric") from None
    return score_matrix(X, list(map(str, data.index)), list(map(str, data.columns)), signatures,
                        min_coverage=min_coverage, null_draws=null_draws, seed=seed, gene_levels=gene_levels)


def signatures_from_genesets(sets) -> list[GeneSignature]:
    """Up-only signatures from gene sets (``{name: GeneSet}`` or an iterable of them)."""
    values = list(sets.values()) if hasattr(sets, "values") else list(sets)
    return [GeneSignature(name=gs.name, up=tuple(gs.genes)) for gs in values]


def score_ssgsea(data: pd.DataFrame, signatures: Sequence[GeneSignature], *, min_size: int = 1,
                 seed: int = 0) -> pd.DataFrame:
    """**Cohort-dependent** alternative: gseapy ssGSEA normalised enrichment scores.

    ssGSEA's normalised score divides by the range over the samples scored together, so a
    sample's value changes with the cohort; use :func:`score_matrix` for patient scores. Only
    the up genes of each signature are used.

    Returns
    -------
    DataFrame
        Columns ``signature, sample, score, method`` (``method = "ssgsea (cohort-dependent)"``).
    """
    import gseapy

    sets = {s.name: list(s.up) for s in signatures if s.up}
    res = gseapy.ssgsea(data=data, gene_sets=sets, min_size=min_size, max_size=100000, outdir=None,
                        no_plot=True, threads=1, seed=seed, verbose=False)
    df = res.res2d.rename(columns={"Name": "sample", "Term": "signature", "NES": "score"})
    df["score"] = pd.to_numeric(df["score"])
    order = {s.name: i for i, s in enumerate(signatures)}
    sorder = {s: i for i, s in enumerate(map(str, data.columns))}
    df = df.assign(_s=df["signature"].map(order), _j=df["sample"].map(sorder)).sort_values(["_s", "_j"])
    df["method"] = "ssgsea (cohort-dependent)"
    return df[["signature", "sample", "score", "method"]].reset_index(drop=True)
