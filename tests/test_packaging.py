"""Packaging invariants: environment.yml and pyproject.toml list the same runtime dependencies."""

from __future__ import annotations

import re
import tomllib

import yaml

from conftest import REPO


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _norm(spec: str) -> tuple[str, str]:
    name = _name(spec)
    return name, spec.strip()[len(name):].replace(" ", "")


def test_environment_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    conda_specs = dict(_norm(d) for d in conda if _name(d) not in ("python", "pip"))
    py_specs = dict(_norm(d) for d in project["dependencies"])
    assert conda_specs == py_specs
    python = next(d for d in conda if _name(d) == "python")
    assert python.replace(" ", "") == "python" + project["requires-python"]


def test_required_layout():
    for part in ["workflow", "src", "config", "resources", "tests", "Snakefile", "environment.yml",
                 "config/README.md", "workflow/schemas/config.schema.yaml", "workflow/schemas/samples.schema.yaml"]:
        assert (REPO / part).exists(), part
