"""ressig: drug-resistance signatures from parental vs resistant RNA-seq, scored in patient cohorts."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ressig")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

from .errors import RessigError  # noqa: E402

__all__ = ["RessigError", "__version__"]
