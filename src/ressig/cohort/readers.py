"""Dense cohort readers: bulk/microarray expression matrices (TSV/CSV/parquet) and probe maps."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from .._files import delimiter_for, is_parquet, open_text
from .._log import logger
from ..errors import FILE_ERRORS, RessigError, input_error
from .options import ORIENTATIONS

# ---------------------------------------------------------------------------------------------
# reading dense matrices
# ---------------------------------------------------------------------------------------------


def _header(path: Path, sep: str) -> tuple[list[str], int]:
    """The header fields and the number of lines before it (blank lines and whole-line ``#``
    comments at the top of the file; a ``#`` anywhere else is data)."""
    try:
        with open_text(path) as fh:
            for n, line in enumerate(fh):
                if line.strip() and not line.startswith("#"):
                    return next(csv.reader([line.rstrip("\r\n")], delimiter=sep)), n
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise input_error(path, f"cannot read ({type(exc).__name__}: {exc})", "Check the file is complete text") from None
    raise input_error(path, "is empty", "Provide a matrix with a header row")


#: Cell texts read as "not measured": empty, NA-like, and spreadsheet error values (``#N/A`` ...).
MISSING_TEXTS = ("", "NA", "N/A", "NAN", "NONE", "NULL", "#N/A", "#N/A N/A", "#NA", "#VALUE!", "#DIV/0!",
                 "#REF!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!")


def _numeric(df: pd.DataFrame, path: Path, row_what: str, col_what: str) -> pd.DataFrame:
    """Cells → float; empty/NA → NaN (not measured); anything else non-numeric is an error."""
    if all(pd.api.types.is_numeric_dtype(t) for t in df.dtypes):
        return df if all(t == np.float64 for t in df.dtypes) else df.astype(float)  # no copy of float data
    out = df.apply(lambda s: pd.to_numeric(s.str.strip() if s.dtype == object else s, errors="coerce"))
    na = np.argwhere(out.isna().to_numpy())
    missing = set(MISSING_TEXTS)
    bad = [(r, c) for r, c in na if str(df.iat[r, c]).strip().upper() not in missing]
    if bad:
        r, c = bad[0]
        raise input_error(path, f"non-numeric value {df.iat[r, c]!r} at {row_what} {df.index[r]!r}, "
                          f"{col_what} {df.columns[c]!r}", "Expression values must be numbers (empty/NA/#N/A = not measured)")
    return out.astype(float)


def _log_missing(df: pd.DataFrame, path: Path, orientation: str) -> None:
    """Count the missing cells of each sample (each is left out of that sample's ranking only)."""
    per = df.isna().sum(axis=0 if orientation == "genes-x-samples" else 1)
    per = per[per > 0]
    if len(per):
        logger.warning("%s: %d cell(s) not numbers (empty, NA, #N/A ...) read as not measured, in %d sample(s): %s",
                       path, int(per.sum()), len(per), ", ".join(f"{k} {v}" for k, v in list(per.items())[:10]))


def _read_parquet_matrix(path: Path) -> pd.DataFrame | None:
    """A parquet matrix whose first column holds text ids and the others numbers, read straight
    into one float block (one copy, no per-column pandas conversion); ``None`` for any other
    layout (a stored pandas index, text values ...), read by :func:`pandas.read_parquet`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    meta = (schema.metadata or {}).get(b"pandas")
    if meta is not None:
        import json

        if any(not isinstance(c, dict) for c in json.loads(meta).get("index_columns", [])):
            return None  # an index stored as a column
    types = list(schema.types)
    if (len(types) < 2 or not (pa.types.is_string(types[0]) or pa.types.is_large_string(types[0]))
            or not all(pa.types.is_floating(t) or pa.types.is_integer(t) for t in types[1:])):
        return None
    table = pq.read_table(path)
    values = np.empty((table.num_columns - 1, table.num_rows))  # samples x genes: each column one contiguous row
    for j in range(1, table.num_columns):
        off = 0
        for chunk in table.column(j).chunks:  # chunk by chunk: zero-copy views (ChunkedArray.to_numpy is ~10x slower)
            if chunk.type != pa.float64():
                chunk = chunk.cast(pa.float64())
            values[j - 1, off:off + len(chunk)] = chunk.to_numpy(zero_copy_only=False)  # nulls -> NaN
            off += len(chunk)
    ids = pd.Index(table.column(0).to_pylist(), dtype=object)
    return pd.DataFrame(values.T, index=ids.rename(table.column_names[0]), columns=table.column_names[1:], copy=False)


def read_expression(path: str | Path, orientation: str = "genes-x-samples") -> pd.DataFrame:
    """Read a dense expression matrix as a **samples × ids** float DataFrame.

    Parameters
    ----------
    path
        TSV/CSV (optionally gzip-compressed) or parquet (``.parquet``/``.pq``).
    orientation
        ``genes-x-samples`` (first column = gene/probe id, other columns = samples) or
        ``samples-x-genes`` (first column = sample name, other columns = genes/probes).
    """
    path = Path(path)
    if not path.exists():
        raise input_error(path, "file not found", "Check the --input path")
    if orientation not in ORIENTATIONS:
        raise RessigError(f"unknown orientation {orientation!r}; use one of {', '.join(ORIENTATIONS)}")
    parquet = is_parquet(path)
    if parquet:
        try:
            df = _read_parquet_matrix(path)
            if df is None:
                df = pd.read_parquet(path)
        except FILE_ERRORS as exc:  # ArrowInvalid is a ValueError, ArrowIOError an OSError
            raise input_error(path, f"cannot read parquet ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
                              "Check the file is a complete parquet file") from None
        if isinstance(df.index, pd.RangeIndex) and df.shape[1] and not pd.api.types.is_numeric_dtype(df.iloc[:, 0]):
            df = df.set_index(df.columns[0])
        df.columns = [str(c) for c in df.columns]
        header = list(df.columns)
    else:
        sep = delimiter_for(path)
        fields, skip = _header(path, sep)
        header = [h.strip() for h in fields][1:]
        try:
            with open_text(path) as fh:
                df = pd.read_csv(fh, sep=sep, index_col=0, skiprows=skip, low_memory=False, dtype=str,
                                 keep_default_na=False, na_filter=False)
        except (pd.errors.ParserError, ValueError, OSError, EOFError) as exc:
            msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise input_error(path, f"cannot parse matrix: {msg}",
                              "Every row needs the same number of fields as the header") from None
    rows, cols = ("gene", "sample") if orientation == "genes-x-samples" else ("sample", "gene")
    dup = pd.Index(header)[pd.Index(header).duplicated()]
    if len(dup):
        raise input_error(path, f"duplicated {cols} name(s) in the header: {', '.join(map(str, dup.unique()[:5]))}",
                          f"{cols.capitalize()} names must be unique")
    if df.shape[1] == 0 or df.shape[0] == 0:
        raise input_error(path, "matrix has no data", f"Expected an id column and at least one {cols} column")
    df.index = pd.Index([str(i).strip() for i in df.index])
    if not parquet and len(header) == df.shape[1]:
        df.columns = header
    if orientation == "samples-x-genes":
        dup = df.index[df.index.duplicated()]
        if len(dup):
            raise input_error(path, f"duplicated sample name(s): {', '.join(map(str, dup.unique()[:5]))}",
                              "Sample names must be unique")
    df = _numeric(df, path, rows, cols)
    values = df.to_numpy()
    with np.errstate(all="ignore"):
        finite = np.isfinite(values.sum())  # one pass: a finite total means no NaN and no infinity
    if not finite:
        _log_missing(df, path, orientation)
        if np.isinf(values).any():
            raise input_error(path, "matrix holds infinite values", "Replace them (or leave the cell empty = not measured)")
    return df.T if orientation == "genes-x-samples" else df


def read_probe_map(path: str | Path) -> pd.Series:
    """Probe → gene map (TSV/CSV, first two columns, header row); probes with no gene dropped."""
    from ..io import read_table

    path = Path(path)
    df = read_table(path, "probe map")
    if df.shape[1] < 2:
        raise input_error(path, "probe map needs two columns: probe id, gene", "e.g. probe_id<TAB>gene")
    m = df.iloc[:, :2].apply(lambda s: s.str.strip())
    m.columns = ["probe", "gene"]
    dup = m["probe"][m["probe"].duplicated()]
    if len(dup):
        raise input_error(path, f"probe(s) listed twice: {', '.join(dup.unique()[:5])}",
                          "Give each probe one gene (drop multi-gene probes)")
    m = m[m["gene"].ne("") & ~m["gene"].str.upper().isin(["NA", "---"])]
    return pd.Series(m["gene"].to_numpy(), index=m["probe"].to_numpy(), name="gene")


# ---------------------------------------------------------------------------------------------
