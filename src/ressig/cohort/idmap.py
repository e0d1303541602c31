"""Gene ids: map inputs and signatures to official symbols, collapse duplicates, coverage."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._log import logger
from ..errors import input_error
from ..genes import GeneTable, load_gene_table
from ..signature.artefact import FrozenSignature
from .options import CohortOptions

# gene ids
# ---------------------------------------------------------------------------------------------


def gene_table_for(opts: CohortOptions) -> GeneTable:
    """The offline gene table a cohort scoring run maps ids with (``opts.gene_table``, else the packaged one)."""
    return load_gene_table(opts.gene_table)


def map_signatures(sigs: Sequence[FrozenSignature], table: GeneTable):
    """Scoring signatures with genes mapped to official symbols (duplicates dropped)."""
    from ..scoring import GeneSignature

    out = []
    for s in sigs:
        up = list(dict.fromkeys(table.lookup(g)[0] for g in s.up))
        down = [g for g in dict.fromkeys(table.lookup(g)[0] for g in s.down) if g not in up]
        out.append(GeneSignature(name=s.name, up=tuple(up), down=tuple(down)))
    return out


def null_levels(sigs: Sequence[FrozenSignature], table, opts: CohortOptions,
                draws: int) -> dict[str, dict[str, float]]:
    """Reference gene levels of the matched null per signature name, ids mapped like the data's.

    ``opts.null == "uniform"`` or no random sets drawn (``draws`` 0, no p-values): none, and no
    reference file is read. Else the levels of
    ``opts.null_reference`` (an expression matrix, for every signature) or those frozen in each
    artefact (``reference.gene_levels``); signatures without levels (plain GMT sets) keep the
    uniform null.
    """
    if opts.null == "uniform" or not draws:
        return {}
    if opts.null_reference is not None:
        shared = reference_file_levels(opts.null_reference, table, opts)
        return {s.name: shared for s in sigs}
    out: dict[str, dict[str, float]] = {}
    mapped: dict[int, dict[str, float]] = {}
    for s in sigs:
        block = s.gene_levels or {}
        levels = block.get("levels")
        if not levels:
            continue
        if id(levels) not in mapped:
            ids, _ = table.map_ids(pd.Index(list(levels)))
            mapped[id(levels)] = (pd.Series(list(levels.values()), index=ids, dtype=float)
                                  .groupby(level=0, sort=False).mean().to_dict())
        out[s.name] = mapped[id(levels)]
    return out


def reference_file_levels(path: str | Path, table, opts: CohortOptions) -> dict[str, float]:
    """:func:`matrix_levels` of a dense expression file (``--null-reference``)."""
    from .readers import read_expression

    if not Path(path).exists():
        raise input_error(path, "null reference file not found",
                          "Check the --null-reference path (workflow: the cohort's null_reference)")
    if str(path).endswith((".h5ad", ".h5")) or Path(path).is_dir():
        raise input_error(path, "a null reference is a dense expression matrix (TSV/CSV/parquet, genes x samples)",
                          "Give a bulk matrix, or sum the cells of each sample first (scanpy.get.aggregate)")
    return matrix_levels(read_expression(path, opts.orientation), table, opts, path)


def matrix_levels(data: pd.DataFrame, table, opts: CohortOptions, source: str | Path) -> dict[str, float]:
    """:func:`ressig.scoring.reference_levels` of a samples × ids matrix, ids mapped and duplicates collapsed
    (``opts.collapse``, ``mean`` for ``error``) as the cohort's own are."""
    from ..scoring import reference_levels

    ids, _ = table.map_ids(pd.Index(map(str, data.columns)))
    data = collapse_dense(data, ids, "mean" if opts.collapse == "error" else opts.collapse, source)
    levels = reference_levels(data.T)
    logger.info("%s: reference levels of %d genes over %d samples for the matched null", source, len(levels),
                data.shape[0])
    return levels


def collapse_plan(ids: pd.Index) -> tuple[pd.Index, list[np.ndarray]]:
    """Unique ids (first-occurrence order) and, for each, the input column positions."""
    codes, uniques = pd.factorize(ids, sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    groups = [order[bounds[k]:bounds[k + 1]] for k in range(len(uniques))]
    return pd.Index(uniques), groups


def collapse_dense(df: pd.DataFrame, ids: pd.Index, rule: str, source: str | Path | None = None) -> pd.DataFrame:
    """Collapse columns of a samples × ids frame that share a mapped gene id (see module doc)."""
    uniq, groups = collapse_plan(ids)
    if len(uniq) == len(ids):
        out = df.copy(deep=False)  # relabel without copying the values (set_axis copies them)
        out.columns = uniq
        return out
    dups = [str(uniq[k]) for k, g in enumerate(groups) if len(g) > 1]
    if rule == "error":
        raise input_error(source, f"{len(dups)} gene(s) occur more than once after id mapping (e.g. "
                          f"{', '.join(dups[:5])})", "Set --collapse mean|sum|max|first to combine them")
    X = df.to_numpy(dtype=float)
    out = np.empty((X.shape[0], len(uniq)))
    means = np.nanmean(X, axis=0) if rule == "maxmean" else None
    for k, g in enumerate(groups):
        if len(g) == 1:
            out[:, k] = X[:, g[0]]
            continue
        block = X[:, g]
        with np.errstate(all="ignore"), _quiet_nan():
            if rule == "mean":
                out[:, k] = np.nanmean(block, axis=1)
            elif rule == "sum":
                out[:, k] = np.where(np.isnan(block).all(axis=1), np.nan, np.nansum(block, axis=1))
            elif rule == "max":
                out[:, k] = np.nanmax(block, axis=1)
            elif rule == "first":
                out[:, k] = block[:, 0]
            else:  # maxmean: the probe with the highest cohort mean (cohort-dependent)
                m = np.where(np.isnan(means[g]), -np.inf, means[g])
                out[:, k] = block[:, int(np.argmax(m))]
    logger.info("%s: collapsed %d duplicated gene id(s) by %s (e.g. %s)%s", source, len(dups), rule,
                ", ".join(dups[:3]), " [cohort-dependent rule]" if rule == "maxmean" else "")
    return pd.DataFrame(out, index=df.index, columns=uniq)


class _quiet_nan:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


def aggregation_matrix(n_in: int, groups: list[np.ndarray], rule: str) -> sp.csr_matrix:
    """Input columns × collapsed genes matrix: sums (``sum``), averages (``mean``) or keeps the first (``first``) of each group."""
    rows = np.concatenate(groups)
    cols = np.concatenate([np.full(len(g), k) for k, g in enumerate(groups)])
    if rule == "first":
        keep = np.concatenate([g[:1] for g in groups])
        return sp.csr_matrix((np.ones(len(groups)), (keep, np.arange(len(groups)))), shape=(n_in, len(groups)))
    w = np.concatenate([np.full(len(g), 1.0 / len(g) if rule == "mean" else 1.0) for g in groups])
    return sp.csr_matrix((w, (rows, cols)), shape=(n_in, len(groups)))


def coverage_report(sigs, genes: Sequence[str], min_coverage: float) -> pd.DataFrame:
    """Per signature: genes, found, coverage, min_coverage and the missing genes."""
    present = set(map(str, genes))
    rows = []
    for s in sigs:
        all_genes = [*s.up, *s.down]
        missing = [g for g in all_genes if g not in present]
        n = len(all_genes)
        rows.append({"signature": s.name, "n_genes": n, "n_found": n - len(missing),
                     "coverage": (n - len(missing)) / n if n else np.nan, "min_coverage": min_coverage,
                     "n_up_found": sum(g in present for g in s.up), "n_down_found": sum(g in present for g in s.down),
                     "missing_genes": ",".join(missing)})
    return pd.DataFrame(rows)


def check_coverage(cov: pd.DataFrame, ids: Sequence[str], source: str | Path | None) -> None:
    """Refuse no overlap at all, and any signature below its minimum coverage (one-line errors)."""
    if cov["n_found"].sum() == 0:
        example = ", ".join(map(str, list(ids)[:3]))
        raise input_error(source, f"no overlapping genes: none of the {int(cov['n_genes'].sum())} signature genes is "
                          f"among the {len(ids)} input gene ids (e.g. {example})",
                          "Check the gene-id column, --orientation, or the probe map")
    for r in cov.itertuples(index=False):
        logger.info("signature %s: %d/%d genes found (%.1f%%)", r.signature, r.n_found, r.n_genes, 100 * r.coverage)
        if r.coverage < r.min_coverage:
            raise input_error(source, f"signature {r.signature}: only {r.n_found} of {r.n_genes} genes "
                              f"({100 * r.coverage:.1f}%) found, below the minimum coverage "
                              f"{100 * r.min_coverage:.0f}%", "Check gene ids or lower --min-coverage")


# ---------------------------------------------------------------------------------------------


def mapping_report(ids: Sequence[str], mapped: Sequence[str], how: Sequence[str],
                   source: str | Path | None = None) -> pd.DataFrame:
    """One row per input gene id: ``input_id``, the ``gene`` it was scored as, and ``how`` it was
    mapped (``symbol``, ``curated_alias``, ``ensembl``, ``alias``, ``ambiguous``/``ambiguous_alias``
    or ``unknown``: the two last keep the input id), in input order; ``note``: ids that look like
    spreadsheet dates (:func:`ressig.mangled.note_mangled`, logged naming ``source``), else empty."""
    from ..mangled import note_mangled

    report = pd.DataFrame({"input_id": [str(i) for i in ids], "gene": [str(g) for g in mapped],
                           "how": [str(h) for h in how], "note": ""})
    return note_mangled(report, source)
