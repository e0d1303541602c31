"""Atomic file writes: write to a temporary file in the target directory, then rename.

A crash or a kill at any point leaves either the previous file or none, never a partial one.
Tables are written with a fixed float format and no index surprises, so reruns are byte-identical.

Output targets (:func:`output_target`):

* a regular file (or a name that does not exist yet) is written to a temporary file beside it and
  renamed onto it;
* a symbolic link is followed: the file it points to is written atomically as above and the link
  itself stays a link;
* a named pipe (FIFO), a character device (``/dev/null``), ``-`` or ``/dev/stdout`` (standard
  output) and ``/dev/fd/N`` (an open descriptor, e.g. bash's ``>(gzip > x.gz)``) are written
  straight through, once the content is complete; nothing but a regular file is ever renamed over.

Several outputs of one step are written all-or-nothing with :func:`atomic_group`: every writer
inside the ``with`` block stages its temporary file, and the renames happen together at the end.
If any write fails, the staged files and the outputs already renamed by the group are removed.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import input_error

FLOAT_FORMAT = "%.10g"
#: Output name meaning standard output.
STDOUT = "-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FD_PATH = re.compile(r"^/dev/(?:std(in|out|err)|fd/(\d+))$|^/proc/(?:self|thread-self|(\d+))/fd/(\d+)$")
_STD_FD = {"in": 0, "out": 1, "err": 2}


def _fd_of(path: str) -> int | None:
    """The file descriptor a ``/dev/stdout``, ``/dev/fd/N`` or ``/proc/self/fd/N`` path names."""
    m = _FD_PATH.match(path)
    if m is None or (m.group(3) is not None and int(m.group(3)) != os.getpid()):
        return None
    std, dev_fd, _, proc_fd = m.groups()
    return _STD_FD[std] if std else int(dev_fd or proc_fd)


def output_target(path: str | Path) -> tuple[Path | int, bool]:
    """Where the bytes meant for ``path`` go, and whether that is a stream.

    Returns
    -------
    (pathlib.Path or int, bool)
        ``(file, False)`` for a regular file to be replaced atomically (a symbolic link resolved
        to the file it points to, even if that does not exist yet); ``(path, True)`` for a named
        pipe or character device written straight through; ``(fd, True)`` for an open file
        descriptor of this process: ``-`` and ``/dev/stdout`` (1), ``/dev/stderr`` (2),
        ``/dev/fd/N`` and ``/proc/self/fd/N`` (N, e.g. bash's ``>(gzip > x.gz)``), also through links.

    Raises
    ------
    RessigError
        When ``path`` is a directory or another kind of special file (socket, block device).
    """
    if str(path) == STDOUT:
        return 1, True
    p = Path(os.path.abspath(path))
    for _ in range(40):  # follow the link chain hop by hop: /dev/stdout -> /proc/self/fd/1 -> 'pipe:[123]'
        fd = _fd_of(str(p))
        if fd is not None:
            return fd, True
        if not p.is_symlink():
            break
        p = Path(os.path.abspath(p.parent / os.readlink(p)))
    real = Path(os.path.realpath(path))
    try:
        mode = real.stat().st_mode
    except FileNotFoundError:
        return real, False
    if stat.S_ISREG(mode):
        return real, False
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        return real, True
    kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file, named pipe or character device"
    raise input_error(path, f"output target is {kind}", "Name an output file")


@dataclass
class _Staged:
    """One output: the temporary file written by the caller and where it goes on commit."""

    tmp: Path
    target: Path | int  # a file, or a file descriptor of this process
    stream: bool
    name: str  # as the caller gave it, for messages

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


def _stage(path: str | Path, suffix: str | None) -> _Staged:
    target, stream = output_target(path)
    if suffix is None:
        suffix = "" if isinstance(target, int) else target.suffix
    if stream:
        fd, tmp = tempfile.mkstemp(prefix="ressig-out-", suffix=suffix)
    else:
        assert isinstance(target, Path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    return _Staged(Path(tmp), target, stream, str(path))


def _write_stream(s: _Staged) -> None:
    with open(s.tmp, "rb") as src:
        if isinstance(s.target, int):
            if s.target == 1:
                sys.stdout.flush()
            with os.fdopen(os.dup(s.target), "wb") as dst:  # the descriptor itself stays open
                shutil.copyfileobj(src, dst)
        else:
            with open(s.target, "wb") as dst:
                shutil.copyfileobj(src, dst)


def _commit(staged: list[_Staged]) -> None:
    """Rename the regular files, then write the streams; on failure leave none of the new outputs."""
    done: list[Path] = []
    current = None
    try:
        for s in sorted(staged, key=lambda s: s.stream):
            current = s
            if s.stream:
                _write_stream(s)
                s.discard()
            else:
                assert isinstance(s.target, Path)
                os.chmod(s.tmp, 0o666 & ~_umask())
                os.replace(s.tmp, s.target)
                done.append(s.target)
    except OSError as exc:
        for s in staged:
            s.discard()
        for p in done:
            with contextlib.suppress(OSError):
                p.unlink()
        assert current is not None
        undone = f"; removed the {len(done)} other output(s) of this step" if done else ""
        raise input_error(current.name, f"cannot write output ({exc.strerror or exc}){undone}",
                          "Check the disk space, permissions and the output path") from None
    finally:
        for s in staged:
            s.discard()


@dataclass
class AtomicGroup:
    """Outputs staged by an :func:`atomic_group` block, committed together."""

    staged: list[_Staged] = field(default_factory=list)

    def path(self, path: str | Path, suffix: str | None = None) -> Path:
        """A temporary path to write ``path``'s content to; it is put in place when the group ends."""
        s = _stage(path, suffix)
        self.staged.append(s)
        return s.tmp


_GROUP: contextvars.ContextVar[AtomicGroup | None] = contextvars.ContextVar("ressig_atomic_group", default=None)


@contextlib.contextmanager
def atomic_group() -> Iterator[AtomicGroup]:
    """Write several outputs all-or-nothing.

    Every :func:`atomic_path`-based writer (``write_table``, ``write_text``, ``write_json``,
    ``save_figure``) called inside the block stages its file; :meth:`AtomicGroup.path` stages a
    file for other writers. When the block ends normally all staged files are renamed onto their
    targets (streams are written last); if the block raises, or a rename or stream write fails,
    no new output of the group is left behind. Groups nest: an inner group joins the outer one.
    """
    outer = _GROUP.get()
    if outer is not None:
        yield outer
        return
    group = AtomicGroup()
    token = _GROUP.set(group)
    try:
        yield group
    except BaseException:
        for s in group.staged:
            s.discard()
        raise
    finally:
        _GROUP.reset(token)
    _commit(group.staged)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path for ``path``'s content; put it in place on success.

    Parameters
    ----------
    path
        Final destination (see :func:`output_target`). Parent directories are created.
    suffix
        Suffix of the temporary file (defaults to the destination's, so writers that infer the
        format from the extension keep working).

    Inside :func:`atomic_group` the file is only staged; the group puts it in place.
    """
    group = _GROUP.get()
    s = _stage(path, suffix)
    try:
        yield s.tmp
    except BaseException:
        s.discard()
        raise
    if group is not None:
        group.staged.append(s)
    else:
        _commit([s])


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
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    metadata: dict[str, Any] = {"Software": None}
    if fmt == "pdf":
        metadata = {"Creator": None, "Producer": None, "CreationDate": None}
    elif fmt == "svg":
        metadata = {"Date": None, "Creator": None}
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=120, bbox_inches="tight", metadata=metadata)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # a figure made through pyplot (e.g. by scanpy) is released; others need nothing
        pyplot.close(fig)
    return path
