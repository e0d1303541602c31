"""The one exception type users see from ressig.

Every problem with user input is raised as :class:`RessigError` with a single-line message
that names the file, the row/column and what to do. The CLI prints that line (no traceback
unless ``--debug``); the Python API lets it propagate.
"""

from __future__ import annotations

from pathlib import Path


class RessigError(ValueError):
    """A user-facing error: one line naming the file, the problem and the fix."""


def input_error(path: str | Path | None, problem: str, fix: str | None = None) -> RessigError:
    """Build a :class:`RessigError` of the form ``<file>: <problem>. <fix>``.

    Parameters
    ----------
    path
        The offending file (or ``None`` for in-memory input).
    problem
        What is wrong, naming the row/column when known.
    fix
        What the user should do about it.
    """
    where = f"{path}: " if path is not None else ""
    msg = f"{where}{problem}"
    if fix:
        msg = f"{msg.rstrip('.')}. {fix}"
    return RessigError(" ".join(msg.split()))


#: Exceptions that third-party readers (pandas, h5py/anndata, pytximport, flowio) raise for a file
#: that is malformed, truncated or not what it claims to be. Only these become "cannot read <file>"
#: errors; anything else (TypeError, AttributeError, ImportError, ...) is a bug or a missing
#: dependency and surfaces as such (see ``ressig.cli.main``).
FILE_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, KeyError, IndexError, EOFError)
