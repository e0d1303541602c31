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
