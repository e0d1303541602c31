"""Run summary: one self-contained HTML page stating what the run found, section by section.

Reads the results directory of a workflow run and the run's config (to tell a step that is off,
"not configured", from one whose output is missing) and writes ``summary.html``: a verdict
sentence with its numbers per finding, the figures embedded, links to the tables.
"""

from __future__ import annotations

import argparse

NAME = "summary"
HELP = "write the run summary page (self-contained HTML) from a results directory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default="results", help="results directory of the workflow run")
    p.add_argument("--config", nargs="+", required=True, metavar="FILE",
                   help="the run's config file(s) (YAML; several are merged in order, as snakemake does)")
    p.add_argument("--out", required=True, help="output page (HTML)")
    p.add_argument("--landing", default=None, metavar="FILE",
                   help="also write the page wrapped in an iframe for the snakemake report's landing page")


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_configs(paths: list[str]) -> dict:
    """The merged config of YAML files; a file that is not a YAML mapping is a RessigError."""
    from pathlib import Path

    import yaml

    from ..errors import input_error

    config: dict = {}
    for path in paths:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as e:
            raise input_error(path, f"cannot read the config file ({e.strerror})",
                              "pass the config file the workflow ran with") from None
        except yaml.YAMLError as e:
            raise input_error(path, f"not valid YAML ({str(e).splitlines()[0]})") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise input_error(path, f"the config is a YAML {type(data).__name__}, not a mapping of keys",
                              "pass the workflow's config file")
        config = _merge(config, data)
    return config


def run(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .. import __version__
    from ..errors import input_error
    from ..summary import write_summary

    if not Path(args.results).is_dir():
        raise input_error(args.results, "the results directory does not exist",
                          "pass --results the folder the workflow wrote (results/)")
    config = read_configs(args.config)
    subtitle = (f"results: {args.results} \u00b7 config: {', '.join(args.config)} \u00b7 ressig {__version__}")
    for path in write_summary(args.results, config, args.out, subtitle=subtitle, landing=args.landing):
        print(path)
