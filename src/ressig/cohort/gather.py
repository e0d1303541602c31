"""Gather shard score tables into the table an unsharded run writes."""

from __future__ import annotations

import io as _io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..errors import RessigError, input_error
from ..signature import load_signatures
from .writers import ScoreOutputs, _p, write_outputs


def gather_scores(shards: Sequence[str | Path], signature: str | Path, out: str | Path | None, *,
                  coverage: Sequence[str | Path] = (), coverage_out: str | Path | None = None,
                  input_path: str | Path | None = None, h5ad_out: str | Path | None = None,
                  plot_out: str | Path | None = None, pseudobulk: str | None = None,
                  cohort: str | None = None) -> list[Path]:
    """Concatenate shard score tables (in the given order) into the unsharded table's exact bytes.

    Rows are regrouped by signature (signature order of the first shard, samples in shard
    order), the same layout an unsharded run writes. Coverage tables of the shards must agree.
    """
    if not shards:
        raise RessigError("no shard tables to gather")
    header = None
    by_sig: dict[str, list[str]] = {}
    for p in shards:
        p = Path(p)
        if not p.exists():
            raise input_error(p, "shard score table not found", "Run every shard before gathering")
        lines = p.read_text(encoding="utf-8").splitlines(keepends=True)
        if not lines:
            raise input_error(p, "shard score table is empty", "Re-run that shard")
        if header is None:
            header = lines[0]
        elif lines[0] != header:
            raise input_error(p, "shard header differs from the first shard's", "Re-run all shards with one version")
        for ln in lines[1:]:
            by_sig.setdefault(ln.split("\t", 1)[0], []).append(ln)
    text = header + "".join(ln for rows in by_sig.values() for ln in rows)
    cov_df = None
    if coverage:
        texts = [Path(c).read_text(encoding="utf-8") for c in coverage]
        if any(t != texts[0] for t in texts[1:]):
            raise RessigError("shard coverage tables differ: shards were scored with different inputs or options")
        cov_df = pd.read_csv(_io.StringIO(texts[0]), sep="\t", keep_default_na=False, na_values=[""])
    sigs = load_signatures(signature)
    written = write_outputs(text, None, sigs, ScoreOutputs(_p(out), None, _p(h5ad_out), _p(plot_out)),
                            input_path, pseudobulk, cohort)
    if cov_df is not None and coverage_out is not None:
        from .._atomic import write_text

        written.append(write_text(Path(coverage[0]).read_text(encoding="utf-8"), coverage_out))
    return written
