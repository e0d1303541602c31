"""Package logger. The CLI attaches a stderr handler; library users configure logging themselves.

Under the CLI (:func:`configure`) ressig's records go to its own handler only (``propagate`` off),
so a dependency that gives the root logger a handler (``logging.warning(...)`` at module level
runs ``logging.basicConfig``) cannot print them a second time. :func:`capture_root_records`
keeps such root records out of the terminal while a dependency runs, so that the caller can
report what matters in ressig's own words (:func:`relay_records` for the rest).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

logger = logging.getLogger("ressig")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (it may be replaced, e.g. by pytest)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; ignore
        pass


def configure(level: int = logging.INFO) -> None:
    """Send ressig log lines to stderr as ``[ressig] message`` (idempotent)."""
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("[ressig] %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False  # printed once, whatever handlers a dependency gives the root logger


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def capture_root_records(level: int = logging.WARNING) -> Iterator[list[logging.LogRecord]]:
    """Collect the root logger's records of ``level`` and above while a dependency runs.

    A handler on the root logger for the duration keeps ``logging.basicConfig`` (run by
    ``logging.warning(...)`` at module level when the root logger has no handler) from installing
    a stderr handler; records of other named loggers still propagate as usual. The caller reports
    the records (:func:`relay_records`); nothing is printed in between.
    """
    root = logging.getLogger()
    collect = _Collect()
    collect.setLevel(level)
    root.addHandler(collect)
    try:
        yield collect.records
    finally:
        root.removeHandler(collect)


def relay_records(records: Sequence[logging.LogRecord], source: str) -> None:
    """Log a dependency's captured records once each as ressig warnings, naming ``source``."""
    for msg in dict.fromkeys(r.getMessage().strip() for r in records):
        if msg:
            logger.warning("%s said: %s", source, msg)


def log_warnings(caught, source: str, limit: int = 10) -> int:
    """Summarise warnings recorded with ``warnings.catch_warnings(record=True)`` in the log.

    Identical messages are counted once (``N x``), so a library that warns per gene gives one
    line; nothing is dropped silently. Returns the number of warnings seen.
    """
    from collections import Counter

    counts = Counter(f"{w.category.__name__}: {str(w.message).strip().splitlines()[0] if str(w.message).strip() else ''}"
                     for w in caught)
    for i, (msg, n) in enumerate(counts.most_common()):
        if i == limit:
            logger.warning("%s: %d further kind(s) of warning not shown", source, len(counts) - limit)
            break
        logger.warning("%s warned%s: %s", source, f" {n} x" if n > 1 else "", msg)
    return sum(counts.values())
