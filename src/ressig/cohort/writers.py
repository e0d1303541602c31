"""Score table text and the all-or-nothing writing of a score step's outputs."""

from __future__ import annotations

import io as _io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .._atomic import FLOAT_FORMAT, save_figure, write_table
from ..errors import RessigError
from ..signature import FrozenSignature, load_signatures
from .annotate import annotate_h5ad
from .engine import read_and_score
from .options import SCORE_COLUMNS, CohortOptions
from .plots import plot_score_distribution

# ---------------------------------------------------------------------------------------------


def format_scores(scores: pd.DataFrame) -> str:
    """The exact TSV text of a score table (fixed float format, ``\\n`` line ends)."""
    buf = _io.StringIO()
    scores[SCORE_COLUMNS].to_csv(buf, sep="\t", index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    return buf.getvalue()


def parse_scores(text: str) -> pd.DataFrame:
    """Read score-table text back (sample names as strings)."""
    return pd.read_csv(_io.StringIO(text), sep="\t", dtype={"signature": str, "sample": str}, keep_default_na=False,
                       na_values=[""])
@dataclass
class ScoreOutputs:
    """Where :func:`write_outputs` puts things (``None`` = not written)."""

    scores: Path | None
    coverage: Path | None = None
    h5ad: Path | None = None
    plot: Path | None = None


def write_outputs(text: str, coverage: pd.DataFrame | None, sigs: Sequence[FrozenSignature], outputs: ScoreOutputs,
                  input_path: str | Path | None = None, pseudobulk: str | None = None,
                  cohort: str | None = None) -> list[Path]:
    """Write the score TSV (last) and the optional coverage table, ``.h5ad`` and plot.

    Everything is derived from ``text`` (the exact TSV), so sharded and unsharded runs give the
    same files. On any failure the files written so far are removed.
    """
    written: list[Path] = []
    try:
        scores = parse_scores(text)
        if outputs.h5ad is not None:
            if input_path is None or not str(input_path).endswith(".h5ad"):
                raise RessigError("--out-h5ad needs an .h5ad input")
            written.append(annotate_h5ad(input_path, scores, outputs.h5ad, pseudobulk))
        if outputs.plot is not None:
            fig = plot_score_distribution(scores, sigs, cohort or (Path(input_path).name if input_path else "cohort"))
            written.append(save_figure(fig, outputs.plot))
        if outputs.coverage is not None and coverage is not None:
            written.append(write_table(coverage, outputs.coverage, index=False))
        from .._atomic import write_text

        if outputs.scores is not None:
            written.append(write_text(text, outputs.scores))
    except BaseException:
        for p in written:
            Path(p).unlink(missing_ok=True)
        raise
    return written


def score_cohort(signature: str | Path, input_path: str | Path, out: str | Path, *,
                 opts: CohortOptions | None = None, coverage_out: str | Path | None = None,
                 h5ad_out: str | Path | None = None, plot_out: str | Path | None = None,
                 cohort: str | None = None) -> list[Path]:
    """Load the signature(s), score the cohort and write all outputs (the ``ressig score`` API).

    Parameters
    ----------
    signature
        Frozen ``*.ressig.json`` artefact or plain ``.gmt`` file.
    input_path
        Cohort file (see module docstring).
    out
        Score TSV. With ``opts.shard = (i, n)``, ``n > 1``, only shard ``i``'s rows are written
        (gather them with :func:`gather_scores`); the ``.h5ad`` and plot are then left to the gather.
    coverage_out, h5ad_out, plot_out
        Optional coverage table, annotated ``.h5ad`` copy and distribution plot.
    cohort
        Cohort name for the plot (default: input file name).
    """
    opts = opts or CohortOptions()
    sigs = load_signatures(signature)
    res = read_and_score(input_path, sigs, opts)
    text = format_scores(res.scores)
    sharded = opts.shard[1] > 1
    if sharded and (h5ad_out or plot_out):
        raise RessigError("with --shard, write the .h5ad and the plot when gathering (ressig score-gather)")
    return write_outputs(text, res.coverage, sigs, ScoreOutputs(Path(out), _p(coverage_out), _p(h5ad_out), _p(plot_out)),
                         input_path, opts.pseudobulk, cohort)


def _p(x: str | Path | None) -> Path | None:
    return Path(x) if x is not None else None
