"""Package logger. The CLI attaches a stderr handler; library users configure logging themselves."""

from __future__ import annotations

import logging

logger = logging.getLogger("ressig")


def configure(level: int = logging.INFO) -> None:
    """Send ressig log lines to stderr as ``[ressig] message`` (idempotent)."""
    if not any(getattr(h, "_ressig", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[ressig] %(message)s"))
        handler._ressig = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
