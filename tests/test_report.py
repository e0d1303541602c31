"""`snakemake --report results/report.html` on a finished demo run.

The expectation is built independently of the report: every ``report(...)`` declaration in
workflow/rules/*.smk (parsed with :mod:`ast`), expanded against the files the run produced, plus
every figure under results/. The report's embedded data (the ``results`` and ``categories``
scripts of the self-contained HTML) must hold each of them, byte-identical to the file on disk,
with its caption, under the step category its rule declares.
"""

from __future__ import annotations

import ast
import base64
import fnmatch
import html
import json
import re
import shutil
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import REPO, run_snakemake

pytestmark = pytest.mark.workflow

FIGURE_SUFFIXES = {".png", ".svg", ".pdf"}
#: Report outputs of rules the (two-level) demo does not define: checked on the sanctuary run
#: (tests/test_workflow.py::test_sanctuary_report_has_the_contrasts_figure).
ONLY_WITH_SEVERAL_CONTRASTS = {"results/de/plots/contrasts.png"}


@dataclass(frozen=True)
class Declared:
    """One ``report(...)`` output declaration of a rule file."""

    rule_file: str
    glob: str  # results path with wildcards and f-string fields as '*'
    caption: str
    category: str
    subcategory: str | None


def _balanced(text: str, start: int) -> str:
    """The text from ``start`` (an opening parenthesis) to its matching closing one."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start : i + 1]
    raise ValueError(f"unbalanced parentheses after offset {start}")


def _as_glob(node: ast.expr) -> str:
    if isinstance(node, ast.Call):  # directory("...")
        return _as_glob(node.args[0])
    if isinstance(node, ast.Constant):
        return re.sub(r"\{[^}]*\}", "*", node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(re.sub(r"\{[^}]*\}", "*", v.value) if isinstance(v, ast.Constant) else "*"
                       for v in node.values)
    raise AssertionError(f"report() path is not a literal: {ast.unparse(node)}")


def declared_report_outputs() -> list[Declared]:
    out = []
    for smk in sorted((REPO / "workflow/rules").glob("*.smk")):
        text = smk.read_text()
        for m in re.finditer(r"\breport\(", text):
            call = ast.parse("report" + _balanced(text, m.end() - 1), mode="eval").body
            # a function (e.g. subcategory=contrast_label, labels=report_labels(...)) is resolved
            # per job: None here
            kw = {k.arg: None if isinstance(k.value, (ast.Name, ast.Call)) else ast.literal_eval(k.value)
                  for k in call.keywords}
            glob = _as_glob(call.args[0])
            if isinstance(call.args[0], ast.Call):  # directory output: files matching patterns
                glob = "/".join([glob, *[re.sub(r"\{[^}]*\}", "*", p) for p in kw["patterns"]]])
            out.append(Declared(smk.name, glob, kw["caption"], kw["category"], kw.get("subcategory")))
    return out


class _Scripts(HTMLParser):
    """Text of every ``<script id=...>`` element."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: dict[str, str] = {}
        self._id: str | None = None
        self._buf: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._id, self._buf = dict(attrs).get("id"), []

    def handle_data(self, data):
        if self._id:
            self._buf.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._id:
            self.scripts[self._id] = "".join(self._buf)
            self._id = None


def _js_var(script: str) -> object:
    m = re.fullmatch(r"\s*var \w+ = (.*);\s*", script, re.DOTALL)
    assert m, script[:200]
    return json.loads(m.group(1))


def _caption_lead(rst: Path) -> str:
    """The first few literal words of a caption file (before any template or markup)."""
    first = rst.read_text().strip().split("{{", 1)[0]
    words = re.sub(r"``|\*\*?|`", "", first).split()[:3]
    assert words, f"{rst} starts with a template field; nothing literal to look for"
    return " ".join(words)


def read_report(path: Path) -> tuple[str, dict, dict]:
    """(raw html, results dict, categories dict) of a self-contained snakemake report."""
    raw = path.read_text()
    parser = _Scripts()
    parser.feed(raw)
    return raw, _js_var(parser.scripts["results"]), _js_var(parser.scripts["categories"])


@pytest.fixture(scope="module")
def report(demo_run: Path, tmp_path_factory: pytest.TempPathFactory):
    """(run dir, raw html, results dict, categories dict) of the report of a copy of demo_run."""
    workdir = tmp_path_factory.mktemp("report") / "run"
    shutil.copytree(demo_run, workdir, symlinks=True)  # leave the shared run untouched
    run_snakemake(workdir, "--report", "results/report.html", timeout=600)
    return workdir, *read_report(workdir / "results/report.html")


def test_declarations_are_found():
    decl = declared_report_outputs()
    files = {d.rule_file for d in decl}
    assert {"qc.smk", "de.smk"} <= files
    for d in decl:
        assert (REPO / "workflow/rules" / d.caption).resolve().is_file(), d


def test_report_is_self_contained(report):
    _, raw, results, _ = report
    assert not re.search(r"<(?:script|img|link)[^>]+(?:src|href)=\"(?:https?:)?//", raw)
    for path, item in results.items():
        assert item["data_uri"].startswith(f"data:{item['mime_type']};"), path


def test_every_declared_output_and_figure_is_embedded(report):
    workdir, _, results, categories = report
    produced = sorted(str(p.relative_to(workdir)) for p in (workdir / "results").rglob("*")
                      if p.is_file() and p.name != "report.html")
    expected: dict[str, Declared] = {}
    for d in declared_report_outputs():
        matches = fnmatch.filter(produced, d.glob)
        if d.glob in ONLY_WITH_SEVERAL_CONTRASTS:
            continue
        assert matches, f"{d.rule_file}: report output {d.glob} was not produced by the demo run"
        expected.update(dict.fromkeys(matches, d))
    figures = [p for p in produced if Path(p).suffix in FIGURE_SUFFIXES]
    unreported = sorted(set(figures) - set(expected))
    assert not unreported, f"figures not registered with report(): {unreported}"

    assert sorted(results) == sorted(expected)
    filed = {path: (cat, sub) for cat, subs in categories.items()
             for sub, paths in subs.items() for path in paths}
    for path, d in expected.items():
        item = results[path]
        data = base64.b64decode(item["data_uri"].split("base64,", 1)[1])
        assert data == (workdir / path).read_bytes(), f"{path}: embedded bytes differ from the file"
        if Path(path).suffix == ".png":
            assert item["mime_type"] == "image/png" and data[:8] == b"\x89PNG\r\n\x1a\n"
        caption = html.unescape(re.sub(r"<[^>]+>", "", item["caption"] or ""))
        lead = _caption_lead((REPO / "workflow/rules" / d.caption).resolve())
        assert lead in " ".join(caption.split()), f"{path}: caption {caption[:80]!r} lacks {lead!r}"
        assert filed[path][0] == d.category, f"{path} filed under {filed[path]}, declared {d}"
        if d.subcategory and "{" not in d.subcategory:
            assert filed[path][1] == d.subcategory


def test_every_output_has_labels_and_the_summary_opens_the_report(report):
    """Labels name each output and, where it has one, its contrast, cohort and signature; the
    landing page (workflow/report/workflow.rst) shows results/summary.html."""
    workdir, raw, results, _ = report
    for path, item in results.items():
        labels = item.get("labels") or {}
        assert labels.get("output"), f"{path} has no labels: {labels}"
        if path.startswith(("results/concordance/", "results/efflux/", "results/de/plots/")):
            assert labels.get("contrast") == "resistant vs parental", (path, labels)
        if path.startswith("results/scores/"):
            assert labels.get("cohort") == path.split("/")[2], (path, labels)
            assert labels.get("signature") == "GEN22_RESISTANCE", (path, labels)
    assert results["results/signature/GEN22_RESISTANCE_genes.tsv"]["labels"]["signature"] == "GEN22_RESISTANCE"
    assert "results/summary.html" in results
    # the landing page: the summary page itself, in an iframe (escaped into the report's JSON)
    desc = json.loads(re.search(r"var workflow_desc = (.*?);\n", raw).group(1))
    frame = re.search(r'<iframe title="ressig run summary"[^>]*srcdoc="([^"]*)"', desc)
    assert frame, desc[:500]
    assert html.unescape(frame.group(1)) == (workdir / "results/summary.html").read_text()


def test_captions_grouped_by_step(report):
    """One report category per workflow step (rule file), none shared between steps."""
    _, _, _, categories = report
    by_file: dict[str, set[str]] = {}
    for d in declared_report_outputs():
        by_file.setdefault(d.rule_file, set()).add(d.category)
    for rule_file, cats in by_file.items():
        assert len(cats) == 1, f"{rule_file} spreads its outputs over categories {cats}"
    step_category = {f: c.pop() for f, c in by_file.items()}
    assert len(set(step_category.values())) == len(step_category), step_category
    assert set(categories) == set(step_category.values())
    assert {"QC", "Differential expression"} <= set(categories)
