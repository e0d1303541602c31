"""Score table text and the all-or-nothing writing of a score step's outputs."""

from __future__ import annotations

import io as _io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .._atomic import FLOAT_FORMAT, save_figure, write_table, write_text
from .._files import is_parquet
from .._log import logger
from ..errors import RessigError
from ..signature.artefact import FrozenSignature, load_signatures
from .annotate import annotate_h5ad
from .calls import calls_as_written
from .engine import iter_cell_scores, open_cells, plan_genes, read_and_score
from .options import SCORE_COLUMNS, CohortOptions
from .plan import plan_scoring
from .sinks import ScoreSink, read_scores


def format_scores(scores: pd.DataFrame) -> str:
    """The exact TSV text of a long score table (fixed float format, ``\\n`` line ends)."""
    buf = _io.StringIO()
    scores.reindex(columns=SCORE_COLUMNS).to_csv(buf, sep="\t", index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    return buf.getvalue()


def parse_scores(text: str) -> pd.DataFrame:
    """Read score-table text back (sample names as strings)."""
    return pd.read_csv(_io.StringIO(text), sep="\t", dtype={"signature": str, "sample": str, "call": str,
                                                            "reference": str, "null_method": str},
                       keep_default_na=False, na_values=[""])


def add_calls_text(text: str, alpha: float = 0.05) -> str:
    """Long score-table text with the cohort-level columns (re)computed over all its rows, from the
    p-values as written (what :func:`ressig.cohort.calls.fill_calls` does to a file)."""
    from ..stats import cohort_calls

    return format_scores(cohort_calls(parse_scores(text), alpha))


@dataclass
class ScoreOutputs:
    """Where :func:`write_outputs` puts things (``None`` = not written)."""

    scores: Path | None
    coverage: Path | None = None
    h5ad: Path | None = None
    plot: Path | None = None
    mapping: Path | None = None
    embedding: Path | None = None
    groups: Path | None = None
    group_by: str | None = None


def write_outputs(scores: ScoreSink | Path, coverage: pd.DataFrame | str | None, sigs: Sequence[FrozenSignature],
                  outputs: ScoreOutputs, input_path: str | Path | None = None, pseudobulk: str | None = None,
                  cohort: str | None = None, mapping: pd.DataFrame | None = None,
                  alpha: float | None = None) -> list[Path]:
    """Finish the score table (renamed last) and write the optional ``.h5ad`` copy, plot, coverage
    and mapping report. With ``alpha``, the table's cohort-level columns are filled first
    (:func:`ressig.cohort.calls.fill_calls`: BH across all its rows; not for shard tables).

    ``scores`` is a :class:`~ressig.cohort.sinks.ScoreSink` holding the streamed table (committed
    here) or the path of an existing table (only read). Everything is derived from that table,
    so sharded and unsharded runs give the same files. On any failure the files written so far
    are removed and the sink is aborted: a failed step leaves no output behind.
    """
    written: list[Path] = []
    if any(x is not None for x in (outputs.plot, outputs.embedding, outputs.groups)):  # matplotlib only if drawn
        from ..pl.cohort import plot_embedding, plot_group_scores, plot_score_distribution
    sink = scores if isinstance(scores, ScoreSink) else None
    try:
        table = None
        if sink is not None:
            sink.finish()
            if alpha is not None:
                sink.fill_calls(alpha)
        if any(x is not None for x in (outputs.h5ad, outputs.plot, outputs.embedding, outputs.groups)):
            table = sink.read_back() if sink is not None else read_scores(scores)
        if outputs.h5ad is not None:
            if input_path is None or not str(input_path).endswith(".h5ad"):
                raise RessigError("--out-h5ad needs an .h5ad input")
            written.append(annotate_h5ad(input_path, table, outputs.h5ad, pseudobulk))
        if outputs.plot is not None:
            fig = plot_score_distribution(table, sigs, cohort or (Path(input_path).name if input_path else "cohort"))
            written.append(save_figure(fig, outputs.plot))
        if outputs.embedding is not None or outputs.groups is not None:
            if input_path is None or not str(input_path).endswith(".h5ad"):
                raise RessigError("embedding and per-group plots need an .h5ad input")
            names = [s.name for s in sigs]
            if outputs.embedding is not None:
                written.append(save_figure(plot_embedding(input_path, table, names, pseudobulk), outputs.embedding))
            if outputs.groups is not None:
                if not outputs.group_by:
                    raise RessigError("a per-group plot needs the obs key to group by (--group-by)")
                fig = plot_group_scores(input_path, table, names, outputs.group_by, pseudobulk)
                written.append(save_figure(fig, outputs.groups))
        if outputs.coverage is not None and isinstance(coverage, str):  # a shard's table, verbatim
            written.append(write_text(coverage, outputs.coverage))
        elif outputs.coverage is not None and coverage is not None:
            written.append(write_table(coverage, outputs.coverage, index=False))
        if outputs.mapping is not None and mapping is not None:
            written.append(write_table(mapping, outputs.mapping, index=False))
        if sink is not None:
            written.append(sink.commit())
    except BaseException:
        if sink is not None:
            sink.abort()
        for p in written:
            Path(p).unlink(missing_ok=True)
        raise
    return written


def score_cohort(signature: str | Path, input_path: str | Path, out: str | Path, *,
                 opts: CohortOptions | None = None, coverage_out: str | Path | None = None,
                 h5ad_out: str | Path | None = None, plot_out: str | Path | None = None,
                 cohort: str | None = None, mapping_out: str | Path | None = None) -> list[Path]:
    """Load the signature(s), score the cohort and write all outputs (the ``ressig score`` API).

    Cells of an ``.h5ad``/10x input are scored chunk by chunk and each chunk's scores go straight
    to disk (memory bounded by ``opts.chunk_size``, whatever the number of cells and signatures).

    Parameters
    ----------
    signature
        Frozen ``*.ressig.json`` artefact or plain ``.gmt`` file.
    input_path
        Cohort file (see :mod:`ressig.cohort`).
    out
        Score table: TSV, or parquet (``.parquet``/``.pq``). Layout ``opts.layout``: ``wide`` (one
        row per cell, one column per signature, plus ``opts.columns``) is the default for cells,
        ``long`` for bulk and pseudobulk. With ``opts.shard = (i, n)``, ``n > 1``, only shard
        ``i``'s rows are written (gather them with :func:`ressig.cohort.gather_scores`); the
        ``.h5ad`` and plot are then left to the gather.
    coverage_out, h5ad_out, plot_out, mapping_out
        Optional coverage table, annotated ``.h5ad`` copy, distribution plot and gene-id mapping
        report (``input_id, gene, how``).
    cohort
        Cohort name for the plot (default: input file name).
    """
    opts = opts or CohortOptions()
    sigs = load_signatures(signature)
    sharded = opts.shard[1] > 1
    if opts.shard[1] > 1 and (h5ad_out or plot_out):
        raise RessigError("with --shard, write the .h5ad and the plot when gathering (ressig score-gather)")
    plan = plan_scoring(input_path, opts)  # kind, layout, null draws and columns: decided here, once
    opts, layout = plan.opts, plan.layout
    alpha = None if sharded else opts.alpha  # shard tables: cohort-level columns filled by the gather
    names = [s.name for s in sigs]
    outputs = ScoreOutputs(Path(out), optional_path(coverage_out), optional_path(h5ad_out), optional_path(plot_out), optional_path(mapping_out))
    if plan.cells:
        with open_cells(input_path, opts) as data:
            genes = plan_genes(data.var_names, sigs, opts, input_path, data)
            sink = ScoreSink(out, layout, names, opts.columns, background=data.n_cells > 4 * opts.chunk_size,
                             count_pvalues=alpha is not None)  # shard tables leave the calls to the gather
            try:
                dispersion = layout == "long" or "dispersion" in opts.columns
                for chunk in iter_cell_scores(data, genes, sigs, opts, dispersion=dispersion):
                    sink.write(chunk)
            except BaseException:
                sink.abort()
                raise
        logger.info("%s: %d rows of scores written (%s layout)", out, sink.n_rows, layout)
        return write_outputs(sink, genes.coverage, sigs, outputs, input_path, opts.pseudobulk, cohort, genes.report,
                             alpha)
    res = read_and_score(input_path, sigs, opts, kind=plan.kind)
    scores = res.scores
    if alpha is not None:  # the whole table is in memory: its cohort-level columns without a pass over the file
        scores = calls_as_written(scores, alpha, text=not is_parquet(out))
    sink = ScoreSink(out, layout, names, opts.columns, count_pvalues=False)  # calls computed above
    try:
        sink.write(scores)
    except BaseException:
        sink.abort()
        raise
    return write_outputs(sink, res.coverage, sigs, outputs, input_path, opts.pseudobulk, cohort, res.mapping_report)


def optional_path(x: str | Path | None) -> Path | None:
    """``Path(x)``, or ``None`` for an output that was not asked for."""
    return Path(x) if x is not None else None
