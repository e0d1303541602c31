"""The ``ressig`` command line: one subcommand per module in this package.

Each subcommand module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args)``;
modules are discovered automatically, so adding a capability never edits this file. Errors in
user input print a single ``ressig: error: ...`` line (exit 2); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from .. import __version__
from .._log import configure, logger
from ..errors import RessigError


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show ``(default: X)`` only when there is a default worth showing and the help lacks one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, argparse.SUPPRESS, [], False) or "default" in text:
            return text
        return super()._get_help_string(action)


#: import name -> pip package name, where they differ
_PIP_NAMES = {"sklearn": "scikit-learn", "yaml": "pyyaml", "skimage": "scikit-image"}


def _missing_package_message(exc: ImportError) -> str:
    """One line naming the package to install for an ImportError (pandas' parquet engines included)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    name = exc.name or ("pyarrow" if "pyarrow" in text else "")
    package = _PIP_NAMES.get(name.split(".")[0], name.split(".")[0])
    if not package:
        return f"a Python package is missing: {text}"
    return (f"this step needs the Python package {package!r}, which is not installed or cannot be imported "
            f"({text}): pip install {package} (or reinstall ressig, which declares it)")


def _write_traceback() -> str:
    """Write the current exception's traceback to a temporary file; return its path."""
    import tempfile
    import traceback

    fd, path = tempfile.mkstemp(prefix="ressig-crash-", suffix=".log")
    with open(fd, "w", encoding="utf-8") as fh:
        fh.write(f"ressig {__version__}, python {sys.version.split()[0]}, argv: {sys.argv!r}\n")
        fh.write(traceback.format_exc())
    return path


def _subcommands() -> list:
    mods = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    return mods


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (all subcommands)."""
    parser = argparse.ArgumentParser(
        prog="ressig",
        description="Resistance signatures: DE of resistant vs parental cells, mRNA/protein concordance, "
        "efflux gene sets, frozen signatures and single-sample patient scores.",
    )
    parser.add_argument("--version", action="version", version=f"ressig {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="only print warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _subcommands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.__doc__,
                           formatter_class=_HelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ressig`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    configure(logging.WARNING if args.quiet else logging.INFO)
    try:
        args._run(args)
    except RessigError as exc:
        if args.debug:
            raise
        print(f"ressig: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ressig: interrupted", file=sys.stderr)
        return 130
    except ImportError as exc:  # a missing (optional) dependency: say what to install
        if args.debug:
            raise
        print(f"ressig: error: {_missing_package_message(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug in ressig: one line + a traceback file for the report
        if args.debug:
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        crash = _write_traceback()
        logger.debug("internal error", exc_info=True)
        print(f"ressig: internal error in ressig (please report): {type(exc).__name__}: {first} "
              f"(traceback in {crash}; rerun with --debug to print it)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
