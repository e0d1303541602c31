"""Data files shipped inside the package (gene table, curated gene sets), located with importlib.resources.

The repository's ``resources/genes`` and ``resources/genesets`` are links to these folders, so the
workflow and an installed wheel read the same single copy of each file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_path(*parts: str) -> Path:
    """Filesystem path of a packaged data file, e.g. ``data_path("genes", "hs_genes.tsv.gz")``."""
    return Path(str(resources.files("ressig").joinpath("data", *parts)))
