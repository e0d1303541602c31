"""The scoring plan of one cohort run, decided once: what the input is (``kind``), whether cells are
scored, the table ``layout``, the random gene sets per sample (``null_draws``) and the wide layout's
extra ``columns``. :func:`plan_scoring` makes it from the input path and the options; the reading,
scoring and writing stages then take the plan (or its resolved options) instead of working these
out again."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from .._log import logger
from ..errors import RessigError
from .calls import needs_pvalues, wide_columns_for
from .options import CohortOptions, null_draws_for


@dataclass(frozen=True)
class ScoringPlan:
    """What one cohort scoring run does (see the module docstring).

    Attributes
    ----------
    kind
        ``bulk``, ``microarray``, ``h5ad`` or ``10x`` (``auto`` resolved by :func:`resolve_kind`).
    cells
        Cells are scored one by one (``h5ad``/``10x`` without ``pseudobulk``).
    layout
        ``long`` or ``wide`` (``auto`` resolved: ``wide`` for cells, else ``long``).
    columns
        The wide layout's extra columns (``()`` for the long layout, which has every column).
    null_draws
        Random gene sets per sample or cell (0: no p-values).
    opts
        The options with ``columns`` and ``null_draws`` fixed to the plan's: what the engine's
        functions receive.
    """

    kind: str
    cells: bool
    layout: str
    columns: tuple[str, ...]
    null_draws: int
    opts: CohortOptions


def is_tenx_path(path: Path) -> bool:
    """A Cell Ranger output: a directory with ``matrix.mtx[.gz]`` or an ``.h5`` file (not ``.h5ad``)."""
    if path.is_dir():
        return any((path / f).exists() for f in ("matrix.mtx", "matrix.mtx.gz"))
    return path.suffix == ".h5" and not path.name.endswith(".h5ad")


def resolve_kind(input_path: str | Path, opts: CohortOptions) -> str:
    """``auto`` → ``h5ad`` (``.h5ad``), ``10x`` (``.h5`` or a ``matrix.mtx`` directory),
    ``microarray`` (a probe map given) or ``bulk``."""
    if opts.kind != "auto":
        return opts.kind
    p = Path(input_path)
    if p.name.endswith(".h5ad"):
        return "h5ad"
    if is_tenx_path(p):
        return "10x"
    return "microarray" if opts.probe_map else "bulk"


def decide_plan(kind: str, opts: CohortOptions) -> ScoringPlan:
    """The plan for an input of ``kind``: layout, null draws and wide columns from ``opts``.

    Null draws: ``opts.null_draws`` if given, else the default for samples, or for cells (none unless
    a p-value or call column is asked for); none at all when the table has no p-value column.
    """
    cells = kind in ("h5ad", "10x") and opts.pseudobulk is None
    layout = opts.layout if opts.layout != "auto" else ("wide" if cells else "long")
    if opts.columns and layout == "long":
        raise RessigError("--columns applies to the wide layout (the long layout has every column)")
    draws = null_draws_for(opts, cells)
    columns = wide_columns_for(opts.columns, draws) if layout == "wide" else ()
    if not draws and opts.null_draws is None and opts.columns and needs_pvalues(layout, columns):
        draws = null_draws_for(opts, cells, wants_pvalues=True)  # cells: a p-value/call column asked for
    if draws and not needs_pvalues(layout, columns):
        logger.info("no p-value column asked for (--columns): random gene sets not drawn")
        draws = 0
    return ScoringPlan(kind, cells, layout, columns, draws, replace(opts, columns=columns, null_draws=draws))


def plan_scoring(input_path: str | Path, opts: CohortOptions) -> ScoringPlan:
    """:func:`decide_plan` for the kind of ``input_path`` (:func:`resolve_kind`)."""
    return decide_plan(resolve_kind(input_path, opts), opts)
