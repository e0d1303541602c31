"""Streaming score writers: each chunk of scores goes straight to disk.

A sink writes into a temporary file beside its destination (:func:`ressig._atomic.atomic_path`)
and renames it onto the destination only in :meth:`ScoreSink.commit`; :meth:`ScoreSink.abort`
(or a killed process) leaves no partial output. Memory is bounded by one chunk.

Layouts (documented in ``docs/cohort_scores.md``)
    ``long``  one row per signature × sample, columns :data:`~ressig.cohort.options.SCORE_COLUMNS`
              (the bulk contract). Rows are grouped by signature; while streaming, each
              signature's rows are appended to their own spill file and the spill files are
              concatenated at commit, so the bytes equal a one-shot write.
    ``wide``  one row per sample/cell: ``sample``, then one column per signature (its
              ``score``), then ``<signature>_<column>`` for each extra column asked for.

Formats: TSV (fixed float format, ``\\n`` line ends) or parquet (``.parquet``/``.pq``, pyarrow).
"""

from __future__ import annotations

import collections
import contextlib
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._atomic import FLOAT_FORMAT, atomic_path
from .._files import is_parquet
from ..errors import RessigError
from .calls import PvalueTally, fill_calls, with_call_placeholders
from .options import NULL_COLUMNS, SCORE_COLUMNS, TEXT_COLUMNS


def wide_columns(sig_names: Sequence[str], extra: Sequence[str]) -> list[str]:
    """Column names of a wide table (``sample``, signatures, then ``<signature>_<column>``)."""
    cols = ["sample", *sig_names, *(f"{s}_{c}" for s in sig_names for c in extra)]
    dup = pd.Index(cols)[pd.Index(cols).duplicated()]
    if len(dup):
        raise RessigError(f"wide score table would have the column {dup[0]!r} twice (a signature name clashes "
                          "with '<signature>_<column>'); rename the signature or use --layout long")
    return cols


def to_wide(chunk: pd.DataFrame, sig_names: Sequence[str], extra: Sequence[str]) -> pd.DataFrame:
    """Long chunk (signature-major, the same samples for each signature) → wide frame."""
    n_sig = len(sig_names)
    m = len(chunk) // n_sig if n_sig else 0
    if m * n_sig != len(chunk):
        raise RessigError("internal: a score chunk does not hold every signature for every sample")
    cols: dict[str, np.ndarray] = {"sample": chunk["sample"].to_numpy()[:m]}
    for k, s in enumerate(sig_names):
        cols[s] = chunk["score"].to_numpy()[k * m:(k + 1) * m]
    for k, s in enumerate(sig_names):
        for c in extra:
            cols[f"{s}_{c}"] = chunk[c].to_numpy()[k * m:(k + 1) * m]
    return pd.DataFrame(cols, columns=wide_columns(sig_names, extra))


def extra_columns(requested: Sequence[str], available: Sequence[str]) -> list[str]:
    """Validate ``--columns`` against the engine's columns (whatever it returns besides
    ``signature``, ``sample`` and ``score``)."""
    avail = [c for c in available if c not in ("signature", "sample", "score")]
    bad = [c for c in requested if c not in avail]
    if bad:
        raise RessigError(f"unknown score column(s) {', '.join(bad)}; choose from {', '.join(avail)}")
    return list(dict.fromkeys(requested))


_SPECIAL = re.compile(r'[\t\n\r"]')


def _needs_pandas(df: pd.DataFrame, kinds: list[str], header: bool) -> bool:
    """Whether ``df`` needs pandas' own writer (:func:`_tsv`): a header, no rows, boolean columns, or a
    text cell the row formatter cannot write verbatim (not a string, a character pandas quotes, or
    the literal text ``nan``, which the formatter's NaN blanking would empty)."""
    if header or not len(df) or "b" in kinds:
        return True
    for c, k in zip(df.columns, kinds, strict=True):
        if k in "fiu":
            continue
        values = pd.unique(df[c].to_numpy())  # distinct values: a long table repeats its names
        if not all(isinstance(v, str) for v in values) or "nan" in values or \
                _SPECIAL.search("\x00".join(values)):
            return True
    return False


def _tsv(df: pd.DataFrame, header: bool) -> str:
    """TSV text of ``df``: the bytes of ``df.to_csv(sep="\\t", float_format=FLOAT_FORMAT)``
    (NaN empty, integers as integers), formatted row by row with one ``%`` operation per row
    (pandas formats each value separately, which dominates the run time of wide tables)."""
    kinds = [df[c].dtype.kind for c in df.columns]
    if _needs_pandas(df, kinds, header):
        return df.to_csv(sep="\t", index=False, header=header, float_format=FLOAT_FORMAT, lineterminator="\n")
    fmt = "\t".join(FLOAT_FORMAT if k == "f" else "%d" if k in "iu" else "%s" for k in kinds) + "\n"
    rows = zip(*(df[c].tolist() for c in df.columns), strict=True)
    text = "".join(fmt % r for r in rows)
    if any(k == "f" and np.isnan(df[c].to_numpy()).any() for c, k in zip(df.columns, kinds, strict=True)):
        # NaN floats are written "nan": empty them (no text cell is "nan", see _needs_pandas); twice, as
        # one pass leaves the second of two neighbouring "\tnan\tnan\t" (they share a tab)
        text = text.replace("\tnan\t", "\t\t").replace("\tnan\t", "\t\t").replace("\tnan\n", "\t\n")
        if kinds[0] == "f":
            text = re.sub(r"(?m)^nan(?=[\t\n])", "", text)
    return text


class ScoreSink:
    """Write score chunks to ``path`` (see the module docstring).

    Parameters
    ----------
    path
        Destination (``.parquet``/``.pq`` → parquet, anything else → TSV).
    layout
        ``long`` or ``wide``.
    sig_names
        Signatures, in output order.
    extra
        Wide layout: extra per-signature columns (e.g. ``up_score``, ``dispersion``).
    raw
        Only ready-made TSV text is appended (:meth:`write_raw`: gathering shard tables).
    background
        Wide TSV: format each chunk in a helper process while the next one is scored.
    count_pvalues
        TSV: tally the p-values as written while streaming, so :meth:`fill_calls` needs no counting
        pass over the file (off when the table's calls are filled elsewhere or not at all).
    """

    def __init__(self, path: str | Path, layout: str, sig_names: Sequence[str], extra: Sequence[str] = (),
                 raw: bool = False, background: bool = False, count_pvalues: bool = True):
        if layout not in ("long", "wide"):
            raise RessigError(f"unknown layout {layout!r}; use long or wide")
        self.path = Path(path)
        self.layout = layout
        self.sig_names = list(sig_names)
        self.extra = list(extra)
        self.parquet = is_parquet(self.path)
        self.columns = SCORE_COLUMNS if layout == "long" else wide_columns(self.sig_names, self.extra)
        self._stack = contextlib.ExitStack()
        self.tmp: Path = self._stack.enter_context(atomic_path(self.path))
        self._writer = None  # pyarrow ParquetWriter
        self._fh = None
        self._spill_dir: Path | None = None
        self._spills: dict[str, object] = {}
        self.n_rows = 0
        self._finished = False
        self._done = False
        self._header_written = raw
        # p-values as written, per signature: the cohort-level columns are then filled without a
        # counting pass over the finished TSV (:func:`.calls.fill_calls`)
        self._tally = PvalueTally() if count_pvalues and not (raw or self.parquet) else None
        if raw or (not self.parquet and layout == "wide"):
            self._fh = open(self.tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in commit/abort
        elif not self.parquet:
            self._spill_dir = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        # wide TSV: format chunk k in a helper process while chunk k+1 is scored (formatting
        # 10-digit floats in Python costs about as much as scoring them with many signatures)
        self._pool = None
        self._pending: collections.deque = collections.deque()
        if background and self._fh is not None and not raw:
            import concurrent.futures
            import multiprocessing

            self._pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))

    def write_raw(self, text: str) -> None:
        """Append ready-made TSV text (``raw`` sinks: gathering shard tables)."""
        self._fh.write(text)

    def _write_header(self) -> None:
        if not self._header_written and self._fh is not None:
            self._fh.write(_tsv(pd.DataFrame(columns=self.columns), header=True))
        self._header_written = True

    def write(self, chunk: pd.DataFrame) -> None:
        """Append one chunk (long layout, signature-major, as the engine returns it; the
        cohort-level columns are written empty, see :mod:`.calls`)."""
        chunk = with_call_placeholders(chunk)
        if self._tally is not None:
            self._count_pvalues(chunk)
        if not self._header_written:
            self.extra = extra_columns(self.extra, list(chunk.columns))
            self._write_header()
        if self.layout == "wide":
            frame = to_wide(chunk, self.sig_names, self.extra)
        else:
            frame = chunk[SCORE_COLUMNS]
        self.n_rows += len(frame)
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._writer is None:
                self._schema = table.schema
                self._writer = pq.ParquetWriter(self.tmp, self._schema)
            self._writer.write_table(table.cast(self._schema))
        elif self._fh is not None:
            if self._pool is not None:
                self._pending.append(self._pool.submit(_tsv, frame, False))
                while len(self._pending) > 1:
                    self._fh.write(self._pending.popleft().result())
            else:
                self._fh.write(_tsv(frame, header=False))
        else:
            for sig, sub in frame.groupby("signature", sort=False):
                fh = self._spills.get(sig)
                if fh is None:
                    fh = self._spills[sig] = open(self._spill_dir / f"{len(self._spills)}.tsv", "w",  # noqa: SIM115
                                                  encoding="utf-8", newline="")
                fh.write(_tsv(sub, header=False))

    def _count_pvalues(self, chunk: pd.DataFrame) -> None:
        rows = chunk.groupby("signature", sort=False).indices
        for c in NULL_COLUMNS[1:]:
            p = chunk[c].to_numpy(dtype=float)
            for s, at in rows.items():
                self._tally.add(str(s), c, p[at], written=True)

    def _drain(self) -> None:
        while self._pending:
            self._fh.write(self._pending.popleft().result())

    def _stop_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending.clear()

    def _close_files(self) -> None:
        if self._fh is not None:
            self._fh.close()
        for fh in self._spills.values():
            fh.close()
        if self._writer is not None:
            self._writer.close()

    def finish(self) -> Path:
        """Close the temporary file (complete, not yet renamed); returns its path for reading back."""
        if self._finished:
            return self.tmp
        self._finished = True
        self._write_header()
        try:
            self._drain()
        finally:
            self._stop_pool()
        if self.parquet and self._writer is None:  # no chunk at all: an empty table with the columns
            frame = pd.DataFrame({c: pd.Series(dtype=object if c in ("signature", "sample") else float)
                                  for c in self.columns})
            frame.to_parquet(self.tmp, index=False)
        self._close_files()
        self._writer = None
        self._fh = None
        if self._spill_dir is not None:
            with open(self.tmp, "w", encoding="utf-8", newline="") as out:
                out.write(_tsv(pd.DataFrame(columns=SCORE_COLUMNS), header=True))
                for sig in self.sig_names:
                    fh = self._spills.get(sig)
                    if fh is not None:
                        with open(fh.name, encoding="utf-8", newline="") as src:
                            shutil.copyfileobj(src, out)
            shutil.rmtree(self._spill_dir, ignore_errors=True)
            self._spill_dir = None
            self._spills = {}
        return self.tmp

    def fill_calls(self, alpha: float) -> bool:
        """Fill the cohort-level columns of the finished table (a second pass over the file)."""
        return fill_calls(self.finish(), alpha, self.sig_names, self._tally)

    def read_back(self) -> pd.DataFrame:
        """The finished table (for the ``.h5ad`` copy and the plot), before it is renamed."""
        return read_scores(self.tmp)

    def commit(self) -> Path:
        """Finish and atomically rename onto the destination."""
        if self._done:
            return self.path
        self.finish()
        self._stack.close()
        self._done = True
        return self.path

    def abort(self) -> None:
        """Remove everything written (no partial output)."""
        if self._done:
            return
        self._stop_pool()
        self._close_files()
        if self._spill_dir is not None:
            shutil.rmtree(self._spill_dir, ignore_errors=True)
        self._stack.__exit__(RessigError, RessigError("aborted"), None)
        self._done = True


def read_scores(path: str | Path) -> pd.DataFrame:
    """Read a score table (TSV or parquet, long or wide) with sample names as strings."""
    path = Path(path)
    if is_parquet(path):
        return pd.read_parquet(path)
    header = pd.read_csv(path, sep="\t", nrows=0).columns
    text = {c: str for c in header if c in TEXT_COLUMNS or c.endswith(("_call", "_reference", "_null_method"))}
    table = pd.read_csv(path, sep="\t", dtype=text, keep_default_na=False, na_values=[""])
    for c in text:  # empty text cells are "" (not NaN)
        table[c] = table[c].fillna("")
    return table


def score_vectors(scores: pd.DataFrame, sig_names: Sequence[str]) -> dict[str, np.ndarray]:
    """Per signature, its score values, from a long or a wide table."""
    if "signature" in scores.columns:
        return {s: scores.loc[scores["signature"] == s, "score"].to_numpy(dtype=float) for s in sig_names
                if (scores["signature"] == s).any()}
    return {s: scores[s].to_numpy(dtype=float) for s in sig_names if s in scores.columns}
