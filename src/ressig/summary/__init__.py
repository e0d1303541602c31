"""The run summary: one self-contained HTML page stating what the run found.

:mod:`~ressig.summary.collect` reads the results directory into findings,
:mod:`~ressig.summary.verdicts` writes each finding's verdict sentence with its numbers,
:mod:`~ressig.summary.html` renders the page; :func:`write_summary` does all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .collect import Finding, collect_all
from .html import render_page

__all__ = ["Finding", "collect_all", "render_page", "write_summary"]


def write_summary(results: str | Path, config: Mapping[str, Any], out: str | Path,
                  subtitle: str = "", landing: str | Path | None = None) -> list[Path]:
    """Collect, render and write the summary page atomically; return the files written.

    ``landing`` also writes the page wrapped in an ``<iframe srcdoc>`` (the landing page of
    ``snakemake --report``, included by workflow/report/workflow.rst).
    """
    from html import escape

    from .._atomic import atomic_group, write_text

    page = render_page(collect_all(results, config), results, out, subtitle=subtitle)
    written = [Path(out)]
    with atomic_group():
        write_text(page, out)
        if landing is not None:
            frame = ('<iframe title="ressig run summary" style="width:100%;height:85vh;border:1px solid #d8dee4" '
                     f'srcdoc="{escape(page, quote=True)}"></iframe>\n')
            write_text(frame, landing)
            written.append(Path(landing))
    return written
