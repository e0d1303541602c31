"""Workflow configuration: one-line schema errors, input-path checks and the minimal user config.

The workflow (``workflow/rules/common.smk``) validates the config against
``workflow/schemas/config.schema.yaml``. A user config is complete on its own: keys it leaves out
take the schema defaults (filled by ``snakemake.utils.validate(..., set_default=True)``), never the
values of the bundled demo (``config/demo.yaml``, used only when no ``--configfile`` is given).

Schema values with ``format: path`` are input files; :func:`check_paths` refuses a configured
path that neither exists nor is made by the workflow, naming the config key.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import RessigError

#: Where every key is documented (named in error messages).
CONFIG_DOCS = "config/README.md"


def prefer_own_scripts(environ: dict | None = None) -> str:
    """Put the running interpreter's scripts folder first on ``PATH``; return the new ``PATH``.

    The workflow calls this once: its rules' ``ressig`` commands are then the ones installed with the
    Python that runs snakemake (in every job too: a job re-reads the workflow under that interpreter),
    never another installation's ``ressig`` that happens to come first on ``PATH``.

    Parameters
    ----------
    environ
        The environment to change (default: ``os.environ``).
    """
    env = os.environ if environ is None else environ
    scripts = os.path.dirname(sys.executable)
    rest = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != scripts]
    env["PATH"] = os.pathsep.join([scripts, *rest])
    return env["PATH"]


def load_schema(path: str | Path) -> dict:
    """Read a JSON schema written as YAML."""
    return yaml.safe_load(Path(path).read_text())


def _key(path: Sequence[Any]) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def describe_error(error: jsonschema.ValidationError) -> str:
    """One line naming the config key and what is wrong with it."""
    where = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list((error.schema.get("properties") or {}).keys())
        unknown = [k for k in error.instance if k not in known]
        keys = ", ".join(_key([*where, k]) for k in unknown)
        allowed = f"; known keys here: {', '.join(known)}" if known else ""
        return (f"unknown config key {keys}{allowed}. Fix the spelling or remove it "
                f"(every key is documented in {CONFIG_DOCS})")
    if error.validator == "required":
        missing = re.search(r"'([^']+)' is a required property", error.message)
        name = _key([*where, missing.group(1)]) if missing else _key(where)
        return f"config key {name} is required but missing (see {CONFIG_DOCS})"
    if error.validator == "propertyNames":
        return f"config key {_key(where)}: name {error.instance!r} is not allowed ({error.message})"
    return f"config key {_key(where)}: {error.message} (see {CONFIG_DOCS})"


def check_config(config: Mapping, schema: Mapping, source: str | None = None) -> None:
    """Validate ``config`` against ``schema``; raise a one-line :class:`RessigError` on the first problem.

    Parameters
    ----------
    config
        The merged workflow config.
    schema
        The JSON schema (see :func:`load_schema`).
    source
        The config file(s) the config came from, named at the start of the message.
    """
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(config))
    # a misspelt key is the likeliest cause of the other errors (e.g. a required key "missing")
    unknown = [e for e in errors if e.validator == "additionalProperties"]
    error = min(unknown, key=lambda e: list(map(str, e.absolute_path))) if unknown else \
        jsonschema.exceptions.best_match(errors)
    if error is not None:
        where = f"{source}: " if source else ""
        raise RessigError(" ".join(f"{where}{describe_error(error)}".split()))


def config_paths(config: Any, schema: Mapping, key: tuple = ()) -> Iterator[tuple[str, str]]:
    """Yield ``(config key, path)`` for every configured value whose schema says ``format: path``.

    Follows ``properties``, ``additionalProperties`` (maps such as ``cohorts``) and ``items``
    (lists such as ``genesets.files``); ``None`` values are skipped.
    """
    if config is None:
        return
    if schema.get("format") == "path" and isinstance(config, str):
        yield _key(key), config
    if isinstance(config, Mapping):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for name, value in config.items():
            sub = props.get(name, extra if isinstance(extra, Mapping) else None)
            if sub is not None:
                yield from config_paths(value, sub, (*key, name))
    elif isinstance(config, list) and isinstance(schema.get("items"), Mapping):
        for i, value in enumerate(config):
            yield from config_paths(value, schema["items"], (*key, i))


def check_paths(config: Mapping, schema: Mapping, source: str | None = None,
                produced: Callable[[str], bool] = lambda path: False) -> None:
    """Refuse configured input paths that do not exist and that no workflow rule makes.

    Raises
    ------
    RessigError
        One line naming the config key(s) and path(s).
    """
    missing = [(k, p) for k, p in config_paths(config, schema) if not Path(p).exists() and not produced(p)]
    if missing:
        where = f"{source}: " if source else ""
        listed = "; ".join(f"{k} = {p}" for k, p in missing)
        raise RessigError(f"{where}file not found: {listed}. Fix the path (relative paths are relative to the "
                          "directory snakemake runs in)")


# ----------------------------------------------------------------------------------------------
# the minimal user config (`ressig init`)

_TEMPLATE = """\
# ressig workflow config, written by `ressig init`. Run: snakemake --cores N --configfile {out}
# Complete on its own: every key not set here takes the default listed in config/README.md
# (the bundled demo, config/demo.yaml, is used only when no --configfile is given).
samples: {samples}
counts:
  path: {counts}
design:
  condition: {condition}
  reference: {reference}    # denominator of every fold change
  treatment: {treatment}    # numerator
  covariates: {covariates}    # sample-sheet columns entering ~ covariates + condition
signature:
  name: {name}    # results/signature/<name>.ressig.json
# Optional steps, off unless configured (config/README.md says what each needs):
#   concordance: {{protein: protein.tsv}}           mRNA vs surface protein (MFI table or FCS files)
#   cohorts: {{mine: {{path: cohort.tsv}}}}           score patient cohorts with the frozen signature
#   genesets: {{files: [resources/genesets/ressig_curated.gmt, my.gmt]}}   gene sets for efflux/GSEA
"""


def signature_name(treatment: str, reference: str) -> str:
    """A signature name from the contrast: ``<TREATMENT>_VS_<REFERENCE>`` in letters, digits, ``._-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{treatment}_VS_{reference}".upper()).strip("_")


def _flow(value: Any) -> str:
    """One-line YAML for a value (quoted only when YAML needs it)."""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).removesuffix("\n...\n").strip()


def minimal_config(samples: str, counts: str, *, condition: str, reference: str, treatment: str,
                   covariates: Sequence[str] = (), out: str = "config.yaml") -> str:
    """Text of a minimal, commented user config (samples, counts, design, signature name)."""
    return _TEMPLATE.format(samples=_flow(str(samples)), counts=_flow(str(counts)), condition=_flow(condition),
                            reference=_flow(reference), treatment=_flow(treatment),
                            covariates=_flow(list(covariates)), name=signature_name(treatment, reference),
                            out=out)


def init_config(counts: str | Path, samples: str | Path, *, condition: str = "condition",
                reference: str | None = None, treatment: str | None = None,
                covariates: Sequence[str] = (), out: str | Path = "config.yaml",
                force: bool = False) -> Path:
    """Check the counts and sample sheet, then write the minimal config for them to ``out``.

    The inputs are read exactly as the workflow reads them (counts format detected, gene ids
    harmonised, every sheet sample in the counts, design checked: levels, replicates, full rank).
    With neither level given, ``parental``/``resistant`` are used when both occur; with one given,
    the other is the remaining level.

    Raises
    ------
    RessigError
        One line naming the file and the problem (or ``out`` exists and ``force`` is false).
    """
    from ._atomic import write_text
    from ._log import logger
    from .de import build_metadata
    from .errors import input_error
    from .io import align_counts, read_counts, read_sample_sheet

    out = Path(out)
    if out.exists() and not force:
        raise input_error(out, "already exists", "Choose another --out or pass --force to overwrite it")
    sheet = read_sample_sheet(samples)
    if condition not in sheet.columns:
        raise input_error(samples, f"sample sheet has no column {condition!r} (columns: {', '.join(sheet.columns)})",
                          "Add it, or name the condition column with --condition")
    levels = list(dict.fromkeys(sheet[condition]))
    if reference is None and treatment is None and {"parental", "resistant"} <= set(levels):
        reference, treatment = "parental", "resistant"
    elif (reference is None) != (treatment is None) and len(levels) == 2:
        given = reference if reference is not None else treatment
        other = [lv for lv in levels if lv != given]
        if given in levels:
            reference, treatment = (given, other[0]) if reference is not None else (other[0], given)
    for level, flag in ((reference, "--reference"), (treatment, "--treatment")):
        if level is not None and level not in levels:
            raise input_error(samples, f"{flag} {level!r} is not a level of column {condition!r} "
                              f"(levels: {', '.join(levels)})", f"Use one of {', '.join(levels)}")
    if reference is None or treatment is None:
        raise input_error(samples, f"column {condition!r} has levels {', '.join(levels)}",
                          "Name the reference (denominator) and treatment (numerator) levels with "
                          "--reference and --treatment")
    build_metadata(sheet, condition, reference, treatment, covariates, source=str(samples))
    table = align_counts(read_counts(counts), sheet, counts_source=counts, sheet_source=samples)
    text = minimal_config(str(samples), str(counts), condition=condition, reference=reference,
                          treatment=treatment, covariates=covariates, out=str(out))
    write_text(text, out)
    n = sheet[condition].value_counts()
    logger.info("%s: %d genes x %d samples; %s vs %s (%d vs %d samples)", counts, table.shape[0],
                table.shape[1], treatment, reference, n[treatment], n[reference])
    return out
