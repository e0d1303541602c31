"""Packaging invariants: environment.yml and pyproject.toml list the same runtime dependencies."""

from __future__ import annotations

import os
import re
import subprocess
import sys
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


def _third_party_imports(root) -> dict[str, set[str]]:
    """Top-level module names imported anywhere under ``root`` (outside the stdlib and ressig)."""
    import ast
    import sys

    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                local = (path.parent / f"{top}.py").exists()  # a sibling module (e.g. one test file importing another)
                # pydeseq2's verbatim suite imports its own test package as ``tests`` (its conftest maps it)
                local = local or (top == "tests" and (path.parent / "__init__.py").exists())
                if not local and top not in sys.stdlib_module_names and top not in ("ressig", "conftest", "__future__"):
                    found.setdefault(top, set()).add(path.name)
    return found


def _distributions(module: str) -> set[str]:
    from importlib.metadata import packages_distributions

    return {d.lower().replace("_", "-") for d in packages_distributions().get(module, [module])}


def _declared(*extras: str) -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in extras:
        specs += project["optional-dependencies"][extra]
    return {_name(s) for s in specs}


def test_every_runtime_import_is_a_declared_dependency():
    """A module that src/ imports but pyproject does not declare fails on a fresh install."""
    declared = _declared()
    imports = _third_party_imports(REPO / "src" / "ressig")
    assert imports, "no third-party imports found: the scanner is broken"
    missing = {m: sorted(f) for m, f in imports.items() if not _distributions(m) & declared}
    assert not missing, f"imported by src/ but not in [project.dependencies]: {missing}"
    # pandas reads/writes parquet through pyarrow, which no `import` names
    source = "\n".join(p.read_text() for p in (REPO / "src" / "ressig").rglob("*.py"))
    if "parquet" in source:
        assert "pyarrow" in declared


def test_every_test_import_is_declared():
    declared = _declared("test")
    imports = _third_party_imports(REPO / "tests")
    missing = {m: sorted(f) for m, f in imports.items() if not _distributions(m) & declared}
    assert not missing, f"imported by tests/ but in neither dependencies nor the test extra: {missing}"


def test_lock_pins_every_declared_dependency_within_its_bounds():
    """requirements/lock.txt (the reproducible install) satisfies pyproject's specifiers."""
    from packaging.requirements import Requirement

    pins = {}
    for line in (REPO / "requirements" / "lock.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
        if line and "==" in line:
            name, version = line.split("==", 1)
            pins[_name(name)] = version.split(";")[0].strip()
    assert "ressig" not in pins, "the lock pins ressig's dependencies, not ressig itself"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for spec in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        req = Requirement(spec)
        name = _name(req.name)
        assert name in pins, f"{name} is not pinned in requirements/lock.txt"
        assert req.specifier.contains(pins[name], prereleases=True), f"lock pins {name}=={pins[name]}, outside {spec}"


def test_plots_leave_the_callers_matplotlib_alone(tmp_path):
    """Library figures are pyplot-free Figures: importing ressig and drawing never switches the
    caller's backend nor adds figures to pyplot's state (issue 21)."""
    code = f"""
import sys, matplotlib
matplotlib.use("svg")
import pandas as pd
from ressig import pl
from ressig._atomic import save_figure
qc = pd.DataFrame({{"library_size": [1e6, 2e6], "condition": ["parental", "resistant"]}}, index=["a", "b"])
save_figure(pl.library_sizes(qc), {str(tmp_path / "lib.png")!r})
scores = pd.DataFrame({{"signature": ["S", "S"], "sample": ["a", "b"], "score": [0.1, 0.2],
                        "condition": ["parental", "resistant"]}})
fig = pl.plot_scores(scores, ["S"], "condition", ["parental", "resistant"])
assert type(fig).__name__ == "Figure", type(fig)
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert "matplotlib.pyplot" not in sys.modules
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]
    assert (tmp_path / "lib.png").read_bytes()[:4] == b"\x89PNG"


def test_readme_lowest_versions_are_the_declared_lower_bounds():
    """The versions the README says CI stage 4 tests are pyproject.toml's lower bounds (uv lowest-direct)."""
    from packaging.requirements import Requirement

    bounds = {}
    for spec in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]:
        req = Requirement(spec)
        bounds.update({_name(req.name): s.version for s in req.specifier if s.operator == ">="})
    text = re.search(r"stage 4: ([^)]*)\)", (REPO / "README.md").read_text()).group(1)
    stated = dict(re.findall(r"([a-z0-9-]+) ([0-9][0-9.]*)", text))
    assert set(stated) == {"pydeseq2", "anndata", "scanpy", "snakemake", "gseapy", "pytximport"}
    for name, version in stated.items():
        assert bounds[name] == version, (name, bounds[name], version)
