"""File sniffing shared by every reader: text (gzip, UTF-8 BOM), delimiter by name, parquet by suffix.

One place decides how a path is opened, so a ``.gz`` file, a BOM or a ``.PQ`` suffix is handled the
same way by counts, sample sheets, gene tables, GMT files, cohort matrices and score tables.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from .errors import input_error

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_SUFFIXES = (".parquet", ".pq")


def read_text(path: Path) -> str:
    """Read a (possibly gzip-compressed) text file, dropping a UTF-8 BOM.

    Parameters
    ----------
    path
        The file. Compressed when its name ends in ``.gz`` or its first bytes are the gzip magic.

    Returns
    -------
    str
        The decoded text.

    Raises
    ------
    ressig.errors.InputError
        Missing file, directory, a ``.gz`` name without gzip content, a corrupt gzip stream,
        non-UTF-8 bytes, or an empty file.
    """
    if not path.exists():
        raise input_error(path, "file not found", "Check the path in your config or command line")
    if path.is_dir():
        raise input_error(path, "is a directory, expected a file")
    raw = path.read_bytes()
    if path.suffix == ".gz" or raw[:2] == GZIP_MAGIC:
        if raw[:2] != GZIP_MAGIC:
            raise input_error(path, "has a .gz suffix but is not gzip-compressed",
                              "Rename it without .gz or compress it with gzip")
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise input_error(path, f"corrupt gzip stream ({exc})", "Re-create the file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise input_error(path, f"is not UTF-8 text (byte {exc.start})",
                          "Save it as UTF-8 (or plain ASCII) text") from None
    if not text.strip():
        raise input_error(path, "is empty", "Provide a table with a header row and data rows")
    return text


def open_text(path: Path):
    """Open a text file for streaming (gzip by magic bytes, UTF-8 with an optional BOM, no newline translation)."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == GZIP_MAGIC:
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def delimiter_for(path: Path) -> str:
    """Field separator by file name: ``,`` for ``.csv`` (optionally ``.gz``), otherwise tab."""
    return "," if path.name.removesuffix(".gz").endswith(".csv") else "\t"


def is_parquet(path: str | Path) -> bool:
    """True when ``path`` names a parquet file (by its suffix, case-insensitive)."""
    return Path(path).suffix.lower() in PARQUET_SUFFIXES
