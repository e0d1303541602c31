"""Gather shard score tables into the table an unsharded run writes, after checking that every
shard is there exactly once and that the gathered samples are the input's."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .._files import is_parquet
from ..errors import RessigError, input_error
from ..signature.artefact import load_signatures
from .engine import open_cells, shard_bounds
from .options import CohortOptions
from .plan import resolve_kind
from .readers import read_expression
from .sinks import ScoreSink
from .writers import ScoreOutputs, optional_path, write_outputs


def _shard_lines(p: Path) -> list[str]:
    if not p.exists():
        raise input_error(p, "shard score table not found", "Run every shard before gathering")
    if is_parquet(p):
        raise input_error(p, "shard tables are gathered as TSV", "Write shard tables as .tsv")
    lines = p.read_text(encoding="utf-8").splitlines(keepends=True)
    if not lines:
        raise input_error(p, "shard score table is empty", "Re-run that shard")
    return lines


def _samples(lines: list[str], long: bool) -> list[str]:
    col = 1 if long else 0
    return list(dict.fromkeys(ln.rstrip("\n").split("\t")[col] for ln in lines[1:]))


def expected_samples(input_path: str | Path, opts: CohortOptions) -> list[str]:
    """The samples an unsharded run scores: the cells (obs names), the pseudobulk groups (labels
    present, sorted) or the samples of a bulk/microarray matrix."""
    kind = resolve_kind(input_path, opts)
    if kind in ("h5ad", "10x"):
        with open_cells(input_path, opts) as cells:
            if opts.pseudobulk is None:
                return list(cells.names)
            if opts.pseudobulk not in cells.obs.columns:
                raise input_error(input_path, f"obs has no column {opts.pseudobulk!r}", "Check --pseudobulk")
            lab = cells.obs[opts.pseudobulk]
            lab = lab[lab.notna()].astype(str)
            return sorted(set(lab[~lab.str.strip().isin(["", "nan", "NaN", "None"])]))
    return list(read_expression(input_path, opts.orientation).index.astype(str))


def check_shards(shards: Sequence[Path], samples: list[list[str]], expected: list[str] | None) -> None:
    """Refuse a shard given twice, a missing shard, or gathered samples that differ from the input's."""
    n = len(shards)
    seen: dict[str, int] = {}
    for i, names in enumerate(samples):
        for s in names:
            j = seen.setdefault(s, i)
            if j != i:
                raise input_error(shards[i], f"shard {i + 1}/{n} holds sample {s!r} that shard {j + 1}/{n} "
                                  f"({shards[j]}) also holds: a shard is given twice",
                                  "Give each shard table exactly once, in shard order")
    if expected is None:
        return
    pos = {s: k for k, s in enumerate(expected)}
    for i, names in enumerate(samples):
        lo, hi = shard_bounds(len(expected), (i, n))
        if names == expected[lo:hi]:
            continue
        stray = [s for s in names if s not in pos]
        if stray:
            raise input_error(shards[i], f"shard {i + 1}/{n} holds sample {stray[0]!r} that is not in the input",
                              "Gather the shards of this input only")
        if names:
            k = next(k for k in range(n) if shard_bounds(len(expected), (k, n))[0] <= pos[names[0]]
                     < shard_bounds(len(expected), (k, n))[1])
            if k != i:
                lo_k, hi_k = shard_bounds(len(expected), (k, n))
                dup = " (given twice)" if any(samples[m] == expected[lo_k:hi_k] for m in range(n) if m != i) else ""
                raise input_error(shards[i], f"is shard {k + 1}/{n}{dup}, given in place of shard {i + 1}/{n}; "
                                  f"shard {i + 1}/{n} (samples {expected[lo]!r}..{expected[hi - 1]!r}) is missing",
                                  "Give every shard table exactly once, in shard order")
        missing = [s for s in expected[lo:hi] if s not in set(names)]
        raise input_error(shards[i], f"shard {i + 1}/{n} lacks {len(missing)} of its {hi - lo} samples "
                          f"(e.g. {missing[0]!r})" if missing else
                          f"shard {i + 1}/{n} holds its samples in another order than the input",
                          "Re-run that shard")


def gather_scores(shards: Sequence[str | Path], signature: str | Path, out: str | Path | None, *,
                  coverage: Sequence[str | Path] = (), coverage_out: str | Path | None = None,
                  input_path: str | Path | None = None, h5ad_out: str | Path | None = None,
                  plot_out: str | Path | None = None, pseudobulk: str | None = None,
                  cohort: str | None = None, opts: CohortOptions | None = None,
                  mapping: str | Path | None = None, mapping_out: str | Path | None = None,
                  embedding_out: str | Path | None = None, groups_out: str | Path | None = None,
                  group_by: str | None = None, alpha: float | None = None) -> list[Path]:
    """Concatenate shard score tables (in shard order) into the unsharded table's exact bytes.

    Long tables are regrouped by signature (signature order of the first shard, samples in shard
    order); wide tables are concatenated. Refuses (naming the shard) a shard given twice, and,
    with ``input_path``, a missing or misplaced shard and any sample difference with the input.
    Coverage tables of the shards must agree. The cohort-level columns (empty in shard tables) are
    computed over the gathered table (:mod:`.calls`) at ``alpha`` (default ``opts.alpha``, as for
    the unsharded run); a single table gathered without ``out`` is only read.
    """
    if not shards:
        raise RessigError("no shard tables to gather")
    opts = opts or CohortOptions(pseudobulk=pseudobulk, progress=False)
    alpha = opts.alpha if alpha is None else alpha
    paths = [Path(p) for p in shards]
    tables = [_shard_lines(p) for p in paths]
    header = tables[0][0]
    for p, lines in zip(paths[1:], tables[1:], strict=True):
        if lines[0] != header:
            raise input_error(p, "shard header differs from the first shard's", "Re-run all shards with one version")
    long = header.startswith("signature\tsample\t")
    samples = [_samples(lines, long) for lines in tables]
    check_shards(paths, samples, expected_samples(input_path, opts) if input_path is not None else None)
    cov_text = None
    if coverage:
        texts = [Path(c).read_text(encoding="utf-8") for c in coverage]
        if any(t != texts[0] for t in texts[1:]):
            raise RessigError("shard coverage tables differ: shards were scored with different inputs or options")
        cov_text = texts[0]
    sigs = load_signatures(signature)
    if len(paths) == 1 and out is None:
        scores: ScoreSink | Path = paths[0]
    else:
        if out is None:
            raise RessigError("gathering several shards needs --out")
        sink = ScoreSink(out, "long" if long else "wide", [s.name for s in sigs], raw=True)
        sink.write_raw(header)
        if long:
            by_sig: dict[str, list[str]] = {}
            for lines in tables:
                for ln in lines[1:]:
                    by_sig.setdefault(ln.split("\t", 1)[0], []).append(ln)
            sink.write_raw("".join(ln for rows in by_sig.values() for ln in rows))
        else:
            for lines in tables:
                sink.write_raw("".join(lines[1:]))
        scores = sink
    del tables
    map_df = None
    if mapping is not None:
        map_df = pd.read_csv(mapping, sep="\t", dtype=str, keep_default_na=False)
    outputs = ScoreOutputs(optional_path(out), optional_path(coverage_out), optional_path(h5ad_out), optional_path(plot_out), optional_path(mapping_out), optional_path(embedding_out),
                           optional_path(groups_out), group_by)
    written = write_outputs(scores, cov_text, sigs, outputs, input_path, pseudobulk, cohort, map_df,
                            alpha if isinstance(scores, ScoreSink) else None)
    return written
