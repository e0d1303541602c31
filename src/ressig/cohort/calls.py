"""Cohort-level calls over a complete score table, in memory bounded by the number of p-values.

``cohort_qvalue``/``cohort_qvalue_low`` are the Benjamini-Hochberg adjusted ``pvalue``/``pvalue_low``
across all samples (cells) of one signature in the table, and ``call`` is ``high``/``low``/``ns``
(:func:`ressig.stats.cohort_calls`). They need every p-value of a signature, so they are filled
in a second pass over the table once it is complete (:func:`fill_calls`): the first pass counts
how often each distinct p-value occurs per signature (empirical p-values take at most
``null_draws + 1`` values, so the tally is O(signatures × null_draws) whatever the number of
cells), the second rewrites the table chunk by chunk with the q-values
(:func:`ressig.stats.bh_distinct`); a streamed TSV's writer keeps that tally while it writes, so
only the rewrite is left. A table scored in one piece in memory (bulk) gets the same values before
it is written (:func:`calls_as_written`), without the second pass. Shard tables leave these
columns empty; the gather fills them from the gathered table, so sharded and unsharded runs write
the same bytes (all count the p-values as written).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._atomic import FLOAT_FORMAT
from .._files import is_parquet
from ..errors import RessigError
from .options import CALL_COLUMNS, DEFAULT_WIDE_COLUMNS, NULL_COLUMNS

#: Lines per write of the second pass.
CHUNK_ROWS = 20_000
#: Table cells read at once (bounds the memory of both passes, whatever the table's width).
CHUNK_CELLS = 1_000_000
#: What each cohort-level column is computed from.
_NEEDS = {"cohort_qvalue": ("pvalue",), "cohort_qvalue_low": ("pvalue_low",), "call": ("pvalue", "pvalue_low")}


def _rows_per_chunk(n_columns: int) -> int:
    return max(100, CHUNK_CELLS // max(1, n_columns))


def wide_columns_for(columns: Sequence[str], null_draws: int) -> tuple[str, ...]:
    """The wide layout's extra columns: ``columns`` as asked, else :data:`DEFAULT_WIDE_COLUMNS`
    when p-values are computed; a cohort-level column brings the p-values it is computed from."""
    cols = list(columns) if columns else (list(DEFAULT_WIDE_COLUMNS) if null_draws else [])
    out: list[str] = []
    for c in cols:
        out += [n for n in _NEEDS.get(c, ()) if n not in cols and n not in out]
        out.append(c)
    return tuple(dict.fromkeys(out))


def needs_pvalues(layout: str, columns: Sequence[str]) -> bool:
    """Whether a table of this layout and (wide) columns holds p-values at all."""
    return layout == "long" or any(c in NULL_COLUMNS or c in CALL_COLUMNS for c in columns)


def with_call_placeholders(chunk: pd.DataFrame) -> pd.DataFrame:
    """A score chunk with the cohort-level columns present and empty (filled by :func:`fill_calls`),
    and the p-value columns present (empty) when no p-values were computed."""
    add = {c: np.nan for c in NULL_COLUMNS + CALL_COLUMNS[:2] if c not in chunk.columns}
    if "call" not in chunk.columns:
        add["call"] = ""
    return chunk.assign(**add) if add else chunk


def as_written(values: np.ndarray) -> np.ndarray:
    """Floats as a TSV score table holds them (:data:`~ressig._atomic.FLOAT_FORMAT` text read back; NaN stays NaN)."""
    values = np.asarray(values, dtype=float)
    ok = ~np.isnan(values)
    out = values.copy()
    if ok.any():
        distinct, inverse = np.unique(values[ok], return_inverse=True)  # empirical p-values: few distinct
        out[ok] = np.array([float(FLOAT_FORMAT % v) for v in distinct.tolist()])[inverse.ravel()]
    return out


def calls_as_written(scores: pd.DataFrame, alpha: float, text: bool) -> pd.DataFrame:
    """A complete long score table with its cohort-level columns filled in memory: the values
    :func:`fill_calls` writes into the same table once on disk (BH over the p-values as written,
    :func:`as_written`, when ``text``; over the floats for parquet), without the second pass."""
    from ..stats import cohort_calls

    scores = with_call_placeholders(scores)
    p = {c: scores[c].to_numpy(dtype=float) for c in NULL_COLUMNS[1:]}
    if all(np.isnan(v).all() for v in p.values()):  # no p-values (--null-draws 0): the columns stay empty
        return scores
    if text:
        p = {c: as_written(v) for c, v in p.items()}
    called = cohort_calls(scores[["signature"]].assign(**p), alpha)
    return scores.assign(**{c: called[c].to_numpy() for c in CALL_COLUMNS})


@dataclass
class _Target:
    """The p-value and cohort-level columns of one signature (wide) or of every signature (long)."""

    sig: str | None  # None: long table, the signature is in column ``signature``
    p: dict[str, str] = field(default_factory=dict)  # "pvalue"/"pvalue_low" -> table column
    out: dict[str, str] = field(default_factory=dict)  # cohort-level column -> table column


def _targets(columns: Sequence[str], sig_names: Sequence[str]) -> list[_Target]:
    cols = set(columns)
    if "signature" in cols:
        names = {c: c for c in NULL_COLUMNS[1:] + CALL_COLUMNS if c in cols}
        t = _Target(None, {c: c for c in NULL_COLUMNS[1:] if c in names},
                    {c: c for c in CALL_COLUMNS if c in names})
        return [t] if t.out else []
    out = []
    for s in sig_names:
        t = _Target(s, {c: f"{s}_{c}" for c in NULL_COLUMNS[1:] if f"{s}_{c}" in cols},
                    {c: f"{s}_{c}" for c in CALL_COLUMNS if f"{s}_{c}" in cols})
        missing = [n for c in t.out for n in _NEEDS[c] if n not in t.p]
        if missing:
            raise RessigError(f"score table column {s}_{next(iter(t.out))} needs {s}_{missing[0]}; "
                              "re-run with the p-value columns (--columns pvalue,pvalue_low,call)")
        if t.out:
            out.append(t)
    return out


def _floats(values: pd.Series) -> np.ndarray:
    if values.dtype == object:
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)  # "" (empty) -> NaN
    return values.to_numpy(dtype=float)


def _chunks(path: Path, n_columns: int) -> Iterator[pd.DataFrame]:
    """The table chunk by chunk: TSV as text (every cell verbatim), parquet with its types."""
    if is_parquet(path):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=_rows_per_chunk(n_columns)):
            yield batch.to_pandas()
    else:
        yield from pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=[],
                               chunksize=_rows_per_chunk(n_columns))


def _columns(path: Path) -> list[str]:
    if is_parquet(path):
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    return list(pd.read_csv(path, sep="\t", dtype=str, nrows=0).columns)


class PvalueTally:
    """Per (signature, p-value column): each distinct p-value and how often it occurs."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], dict[float, int]] = {}

    def add(self, sig: str, column: str, p: np.ndarray, written: bool = False) -> None:
        """Count the p-values ``p`` (NaN left out); ``written``: as the TSV will hold them (:func:`as_written`)."""
        p = p[~np.isnan(p)]
        if not p.size:
            return
        values, counts = np.unique(p, return_counts=True)
        if written:  # rounding the distinct values only; values that round alike add up below
            values = as_written(values)
        d = self._counts.setdefault((sig, column), {})
        for v, c in zip(values.tolist(), counts.tolist(), strict=True):
            d[v] = d.get(v, 0) + c

    def texts(self) -> dict[tuple[str, str], dict[str, int]]:
        """The counts keyed by each value's TSV text (:data:`~ressig._atomic.FLOAT_FORMAT`)."""
        return {key: {FLOAT_FORMAT % v: n for v, n in d.items()} for key, d in self._counts.items()}

    def qvalues(self, sig: str, column: str, p: np.ndarray) -> np.ndarray:
        """BH q-value of each of ``p`` (NaN stays NaN) over everything added for ``(sig, column)``."""
        from ..stats import bh_distinct

        d = self._counts.get((sig, column), {})
        out = np.full(p.shape, np.nan)
        if not d:
            return out
        values = np.array(sorted(d))
        q = bh_distinct(values, np.array([d[v] for v in values.tolist()]))
        ok = ~np.isnan(p)
        pos = np.searchsorted(values, p[ok])
        if (pos >= values.size).any() or (values[np.minimum(pos, values.size - 1)] != p[ok]).any():
            raise RessigError("internal: a p-value of the second pass was not seen by the first")
        out[ok] = q[pos]
        return out


def _by_signature(chunk: pd.DataFrame, t: _Target) -> Iterator[tuple[str, np.ndarray]]:
    if t.sig is not None:
        yield t.sig, np.ones(len(chunk), dtype=bool)
        return
    sig = chunk["signature"].to_numpy()
    for s in pd.unique(sig):
        yield s, sig == s


def _format(q: np.ndarray) -> np.ndarray:
    return np.array(["" if np.isnan(v) else FLOAT_FORMAT % v for v in q.tolist()], dtype=object)


def fill_calls(path: str | Path, alpha: float, sig_names: Sequence[str] = (),
               written: PvalueTally | None = None) -> bool:
    """Fill the cohort-level columns of the complete score table ``path`` (TSV or parquet, long or
    wide) in place, through a temporary file beside it. Returns False when it has none.

    Every other cell is written back verbatim (TSV) or with its type (parquet). ``written``: the
    tally of the p-values as the TSV holds them (:func:`as_written`), kept by the writer while it
    streamed the table (:class:`~ressig.cohort.sinks.ScoreSink`); then the counting pass over the
    file is skipped.
    """
    from ..stats import call_labels

    if not 0 < float(alpha) < 1:
        raise RessigError(f"alpha must be between 0 and 1, got {alpha}")
    path = Path(path)
    columns = _columns(path)
    targets = _targets(columns, sig_names)
    if not targets:
        return False
    if not is_parquet(path) and not _has_quotes(path):
        return _fill_text(path, columns, targets, alpha, written)
    tally = PvalueTally()
    for chunk in _chunks(path, len(columns)):
        for t in targets:
            for s, sel in _by_signature(chunk, t):
                for c, col in t.p.items():
                    tally.add(s, c, _floats(chunk.loc[sel, col]))
    tmp = path.with_name(f".{path.name}.calls")
    parquet = is_parquet(path)
    writer = None
    try:
        with open(tmp, "wb" if parquet else "w", encoding=None if parquet else "utf-8",
                  newline=None if parquet else "") as fh:
            if not parquet:
                with open(path, encoding="utf-8", newline="") as src:
                    fh.write(src.readline())  # the header, verbatim
            for chunk in _chunks(path, len(columns)):
                chunk = chunk.copy()
                for t in targets:
                    q = {c: np.full(len(chunk), np.nan) for c in ("pvalue", "pvalue_low")}
                    for s, sel in _by_signature(chunk, t):
                        for c, col in t.p.items():
                            q[c][sel] = tally.qvalues(s, c, _floats(chunk.loc[sel, col]))
                    values = {"cohort_qvalue": q["pvalue"], "cohort_qvalue_low": q["pvalue_low"],
                              "call": call_labels(q["pvalue"], q["pvalue_low"], alpha)}
                    for c, col in t.out.items():
                        v = values[c]
                        chunk[col] = v if c == "call" or parquet else _format(v)
                if parquet:
                    import pyarrow as pa
                    import pyarrow.parquet as pq

                    table = pa.Table.from_pandas(chunk, preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(fh, table.schema)
                    writer.write_table(table.cast(writer.schema))
                else:
                    chunk.to_csv(fh, sep="\t", index=False, header=False, lineterminator="\n")
            if writer is not None:
                writer.close()
        if parquet and writer is None:  # no rows: nothing to fill
            return False
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _has_quotes(path: Path) -> bool:
    """Whether a TSV holds a quoted field (a name with a tab, newline or quote): then it is read
    with the csv parser instead of split line by line."""
    with open(path, "rb") as fh:
        return any(b'"' in block for block in iter(lambda: fh.read(1 << 24), b""))


def _fill_text(path: Path, columns: list[str], targets: list[_Target], alpha: float,
               written: PvalueTally | None = None) -> bool:
    """:func:`fill_calls` for an unquoted TSV: both passes work on the p-values' text (first pass:
    counts of each distinct text per signature, with pandas, or the writer's tally ``written``;
    second pass: each line split, its cohort-level fields looked up from its p-value fields, joined).
    Nothing else is touched."""
    from ..stats import bh_distinct

    long = targets[0].sig is None
    p_cols = list(dict.fromkeys(col for t in targets for col in t.p.values()))
    counts: dict[tuple[str, str], dict[str, int]] = written.texts() if written is not None else {}
    chunks = () if written is not None else pd.read_csv(
        path, sep="\t", dtype=str, keep_default_na=False, na_values=[], usecols=(["signature"] if long else []) + p_cols,
        chunksize=_rows_per_chunk(len(p_cols) + 1))
    for chunk in chunks:
        for t in targets:
            for s, sel in _by_signature(chunk, t):
                for c, col in t.p.items():
                    d = counts.setdefault((s, c), {})
                    for text, n in chunk.loc[sel, col].value_counts(sort=False).items():
                        d[text] = d.get(text, 0) + int(n)
    maps: dict[tuple[str, str], dict[str, tuple[str, bool]]] = {}  # p text -> (q text, q < alpha)
    for key, d in counts.items():
        texts = [x for x in d if x != ""]
        m: dict[str, tuple[str, bool]] = {"": ("", False)}
        if texts:
            values, inverse = np.unique(np.array([float(x) for x in texts]), return_inverse=True)
            n = np.bincount(inverse.ravel(), weights=[d[x] for x in texts]).astype(np.int64)
            q = bh_distinct(values, n)[inverse.ravel()]
            m.update({x: (FLOAT_FORMAT % v, bool(v < alpha)) for x, v in zip(texts, q.tolist(), strict=True)})
        maps[key] = m
    pos = {c: i for i, c in enumerate(columns)}
    tables: dict[str, tuple[dict, dict, dict, dict]] = {}  # per signature: text -> text, built once

    def tables_of(sig: str) -> tuple[dict, dict, dict, dict]:
        if sig not in tables:
            hi = maps.get((sig, "pvalue"), {"": ("", False)})
            lo = maps.get((sig, "pvalue_low"), {"": ("", False)})
            tables[sig] = ({x: q for x, (q, _) in hi.items()}, {x: q for x, (q, _) in lo.items()},
                           {x: "" if not q else "high" if below else None for x, (q, below) in hi.items()},
                           {x: "low" if below else "ns" for x, (_, below) in lo.items()})
        return tables[sig]

    def at(d: dict[str, str], c: str) -> int:
        return pos[d[c]] if c in d else -1

    ops = [(t.sig is None, tables_of(t.sig) if t.sig is not None else None, at(t.p, "pvalue"), at(t.p, "pvalue_low"),
            at(t.out, "cohort_qvalue"), at(t.out, "cohort_qvalue_low"), at(t.out, "call")) for t in targets]
    tmp = path.with_name(f".{path.name}.calls")
    try:
        with open(path, encoding="utf-8", newline="") as src, open(tmp, "w", encoding="utf-8", newline="") as out:
            out.write(src.readline())
            buf = []
            for line in src:
                f = line[:-1].split("\t") if line.endswith("\n") else line.split("\t")
                for long, fixed, ip, ipl, iq, iql, ic in ops:  # per field: one dict lookup of its p-value text
                    q_hi, q_lo, call_hi, call_lo = tables_of(f[0]) if long else fixed
                    if iq >= 0:
                        f[iq] = q_hi[f[ip]]
                    if iql >= 0:
                        f[iql] = q_lo[f[ipl]]
                    if ic >= 0:
                        call = call_hi[f[ip]]  # "" (no p-value), "high", or None: decided by the low side
                        f[ic] = call if call is not None else call_lo[f[ipl]] if ipl >= 0 else "ns"
                buf.append("\t".join(f))
                if len(buf) >= CHUNK_ROWS:
                    out.write("\n".join(buf) + "\n")
                    buf = []
            if buf:
                out.write("\n".join(buf) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True
