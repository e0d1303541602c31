"""Scanpy-style tools: score an :class:`~anndata.AnnData` in a notebook (``import ressig.tl``).

The same engine and the same code path as ``ressig score`` on an ``.h5ad`` (ids mapped, duplicates
collapsed, cells scored chunk by chunk), so the values equal the CLI's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .cohort.calls import with_call_placeholders
from .cohort.engine import cells_from_adata, iter_cell_scores, plan_genes
from .cohort.options import CALL_COLUMNS, CohortOptions
from .cohort.plan import decide_plan
from .cohort.sinks import extra_columns, to_wide
from .errors import RessigError
from .signature import FrozenSignature, load_signatures
from .stats import bh_adjust, call_labels

__all__ = ["score"]


def _signatures(signature) -> list[FrozenSignature]:
    if isinstance(signature, str | Path):
        return load_signatures(signature)
    if isinstance(signature, FrozenSignature):
        return [signature]
    sigs = list(signature)
    if not sigs or not all(isinstance(s, FrozenSignature) for s in sigs):
        raise RessigError("signature must be a *.ressig.json or .gmt path, a FrozenSignature or a list of them "
                          "(ressig.signature.load_signatures)")
    return sigs


def score(adata, signature, *, layer: str | None = None, key_added: str | None = None, copy: bool = False,
          chunk_size: int = 10_000, columns: Sequence[str] = (), min_coverage: float | None = None,
          gene_table: str | Path | None = None, progress: bool = False, null_draws: int | None = None,
          null_seed: int = 20261130, alpha: float = 0.05, null: str = "matched",
          null_reference: str | Path | None = None):
    """Score each cell with frozen signatures (single-sample, rank-based).

    A cell's score depends on that cell alone (within-cell ranks, singscore-style; see
    :mod:`ressig.scoring`), so any monotone per-cell scale gives the same score: raw counts,
    normalised counts or ``log1p`` of them.

    Parameters
    ----------
    adata
        The annotated data matrix of shape ``n_obs`` × ``n_vars`` (cells × genes): dense,
        CSR/CSC, or opened with ``backed="r"`` (read chunk by chunk, never loaded whole).
        Gene ids in ``var_names``: symbols, aliases or Ensembl ids.
    signature
        A frozen ``*.ressig.json`` artefact, a GMT file (one signature per set; ``NAME_UP`` /
        ``NAME_DN`` pairs are combined), or signatures already loaded with
        :func:`ressig.signature.load_signatures`.
    layer
        Score ``adata.layers[layer]`` instead of ``adata.X``.
    key_added
        Name of the ``.obs`` column. Default: the signature's name. With several signatures,
        the columns are ``{key_added}_{signature}``.
    copy
        Return a scored copy instead of writing into ``adata``.
    chunk_size
        Cells scored at once (bounds memory).
    columns
        Extra per-signature columns, ``{key}_{column}``: any column of a score table besides
        ``score`` (``up_score``, ``down_score``, ``dispersion``, ``n_genes_used``,
        ``n_genes_missing``, ``n_genes_measured``, ``pvalue``, ``pvalue_low``, ``cohort_qvalue``,
        ``cohort_qvalue_low``, ``call``, ``percentile``, ``zscore``, ``reference``). Default:
        ``pvalue, pvalue_low, call`` (none with ``null_draws=0``); a cohort-level column brings
        the p-values it is computed from. P-values are only computed when a column needs them.
    null_draws, null_seed
        Random same-size gene sets per cell for ``pvalue``/``pvalue_low`` (see
        :mod:`ressig.scoring`; a cell's p-value depends on that cell alone). Default: none
        (:data:`~ressig.cohort.options.CELL_NULL_DRAWS`, scores only) unless ``columns`` asks for a
        p-value or call column (then :data:`~ressig.cohort.options.CELL_PVALUE_DRAWS`, 200: p-values
        down to 1/201, about 3x the CPU), as ``ressig score`` on cells.
    null, null_reference
        ``"matched"`` (default): random sets matched to the signature genes' reference expression
        levels (frozen in the artefact, or those of the ``null_reference`` expression matrix, else
        each gene's mean expression over the cells of ``adata``: :mod:`ressig.scoring.nullbins`);
        ``"uniform"``: singscore's random genes of any level (anti-conservative in sparse cells).
        As ``ressig score --null``. The null used is ``adata.uns["ressig"][name]["null_method"]``.
    alpha
        ``call`` is ``high``/``low`` when the Benjamini-Hochberg adjusted p-value across **the cells
        of** ``adata`` (``cohort_qvalue``/``cohort_qvalue_low``) is below ``alpha``, else ``ns``.
    min_coverage
        Refuse signatures with a smaller fraction of genes found (default: the artefact's,
        0.5 for GMT signatures).
    gene_table
        Gene-id table (default: the shipped one).
    progress
        Show a progress bar.

    Returns
    -------
    Returns ``None`` if ``copy=False``, else the scored copy. Sets the following fields:

    ``adata.obs[key]`` : :class:`pandas.Series` (dtype ``float``)
        The score of each cell (−1 … 1 with up and down genes, −0.5 … 0.5 with one part).
    ``adata.obs[f"{key}_{column}"]``
        The extra ``columns``.
    ``adata.uns["ressig"]``
        Per scored signature: its ``obs`` key, version and coverage.

    Examples
    --------
    >>> import scanpy as sc
    >>> import ressig.tl
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> ressig.tl.score(adata.raw.to_adata(), "b_cells.gmt")  # doctest: +SKIP
    """
    sigs = _signatures(signature)
    if copy:
        if getattr(adata, "isbacked", False):
            raise RessigError("copy=True needs an in-memory AnnData; use adata.to_memory() or copy=False")
        adata = adata.copy()
    opts = decide_plan("h5ad", CohortOptions(
        kind="h5ad", layer=layer, chunk_size=chunk_size, min_coverage=min_coverage, gene_table=gene_table,
        progress=progress, layout="wide", columns=tuple(columns or ()),
        null_draws=None if null_draws is None else int(null_draws), null_seed=null_seed, alpha=alpha, null=null,
        null_reference=null_reference)).opts  # the cells of adata, wide: the plan of `ressig score`
    cells = cells_from_adata(adata, layer)
    plan = plan_genes(cells.var_names, sigs, opts, "AnnData", cells)
    names = [s.name for s in sigs]
    extra: list[str] | None = None
    parts = []
    for chunk in iter_cell_scores(cells, plan, sigs, opts, dispersion="dispersion" in opts.columns):
        chunk = with_call_placeholders(chunk)
        if extra is None:
            extra = extra_columns(opts.columns, list(chunk.columns))
        parts.append(to_wide(chunk, names, extra))
    wide = pd.concat(parts, ignore_index=True) if parts else None
    if wide is not None and any(c in CALL_COLUMNS for c in extra):  # cohort = the cells of adata
        for s in names:
            q_high, q_low = (bh_adjust(wide[f"{s}_{c}"].to_numpy(dtype=float)) for c in ("pvalue", "pvalue_low"))
            for c, v in zip(CALL_COLUMNS, (q_high, q_low, call_labels(q_high, q_low, alpha)), strict=True):
                if c in extra:
                    wide[f"{s}_{c}"] = v
    keys = {s: (key_added if len(names) == 1 else f"{key_added}_{s}") if key_added else s for s in names}
    info = {}
    for s in names:
        values = wide[s].to_numpy(dtype=float) if wide is not None else []
        adata.obs[keys[s]] = values
        for c in extra or []:
            adata.obs[f"{keys[s]}_{c}"] = wide[f"{s}_{c}"].to_numpy()
        cov = plan.coverage.set_index("signature").loc[s]
        info[s] = {"key": keys[s], "version": next(x.version for x in sigs if x.name == s),
                   "n_genes": int(cov["n_genes"]), "n_found": int(cov["n_found"]),
                   "null_method": plan.null.method.get(s, "")}
    adata.uns["ressig"] = {**dict(adata.uns.get("ressig", {})), **info}
    return adata if copy else None
