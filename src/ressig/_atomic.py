"""Atomic file writes: write to a temporary file in the target directory, then rename.

A crash or a kill at any point leaves either the previous file or none, never a partial one.
Tables are written with a fixed float format and no index surprises, so reruns are byte-identical.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

FLOAT_FORMAT = "%.10g"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Parameters
    ----------
    path
        Final destination. Parent directories are created.
    suffix
        Suffix of the temporary file (defaults to the destination's, so writers that infer the
        format from the extension keep working).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix, dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_table(df: pd.DataFrame, path: str | Path, index: bool = True) -> Path:
    """Write ``df`` as a TSV atomically, with a fixed float format (deterministic bytes)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=index, float_format=FLOAT_FORMAT, lineterminator="\n")
    return Path(path)


def write_text(text: str, path: str | Path) -> Path:
    """Write ``text`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` as indented, key-sorted JSON atomically."""
    return write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", path)


def save_figure(fig: Any, path: str | Path) -> Path:
    """Save a matplotlib figure atomically with metadata stripped (reproducible bytes)."""
    import matplotlib.pyplot as plt

    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    metadata: dict[str, Any] = {"Software": None}
    if fmt == "pdf":
        metadata = {"Creator": None, "Producer": None, "CreationDate": None}
    elif fmt == "svg":
        metadata = {"Date": None, "Creator": None}
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=120, bbox_inches="tight", metadata=metadata)
    plt.close(fig)
    return path
