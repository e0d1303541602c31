"""Package logger. The CLI attaches a stderr handler; library users configure logging themselves."""

from __future__ import annotations

import logging
import sys

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
