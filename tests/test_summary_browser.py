"""The summary page opened as a person would: Debian's headless Chromium, driven by its command
line. Rendered text states the calls, the page makes no network request and logs nothing to the
console, the tables sort and filter, the screenshot is not blank. Screenshots go to
$RESSIG_SCREENSHOTS (CI keeps that folder) or the test's temporary folder.

The first tests use a small planted results folder; the ``workflow`` ones read the page of the
session's one demo run (conftest.demo_run)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from browser import needs_chromium, open_page, probe_table, screenshot_dir, visible_text
from ressig.summary import write_summary
from summary_fixtures import EVIL_GENE, full_config, write_results

pytestmark = needs_chromium


def assert_real_screenshot(path: Path, min_bytes: int) -> None:
    from matplotlib.image import imread

    assert path.stat().st_size > min_bytes, path.stat().st_size
    pixels = np.round(imread(path)[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    colours = len(np.unique(pixels, axis=0))
    not_white = float((pixels.min(axis=1) < 235).mean())
    assert colours > 200 and not_white > 0.05, (colours, not_white)


@pytest.fixture(scope="module")
def planted_page(tmp_path_factory) -> Path:
    res = write_results(tmp_path_factory.mktemp("planted"))
    write_summary(res, full_config(), res / "summary.html", subtitle="planted")
    return res / "summary.html"


def test_the_checks_can_fail(tmp_path):
    """A page with a remote image, a fetch and a console error: all three are seen."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><p>x</p><img src="http://example.invalid/x.png">'
                   '<script>console.error("boom"); fetch("https://example.invalid/y").catch(function () {});'
                   "</script></body></html>")
    run = open_page(bad)
    assert "http://example.invalid/x.png" in run.requests and "https://example.invalid/y" in run.requests
    assert any("boom" in line for line in run.console), run.console


def test_planted_page_states_the_calls(planted_page, tmp_path):
    shot = screenshot_dir(tmp_path) / "summary_planted.png"
    run = open_page(planted_page, screenshot=shot)
    assert run.requests == [] and run.console == []
    text = visible_text(run.dom)
    for phrase in ("CD123/IL3RA: post-transcriptional loss", "P-gp/ABCB1: concordant gain",
                   "EFFLUX_CORE NES +2.00", "43.3-fold", "19.6-fold", "Signature SIG1 version 2.1.0",
                   "HR per SD 1.80", "AUC 0.72", EVIL_GENE):  # the gene named <script> shows as text
        assert phrase in text, phrase
    assert len(re.findall(r'<img src="data:image/png;base64,', run.dom)) == 7
    assert_real_screenshot(shot, 20_000)


def test_planted_tables_sort_and_filter(planted_page, tmp_path):
    de = pd.read_csv(planted_page.parent / "de/t_vs_r.tsv", sep="\t")
    # DE top table of the contrast: column 2 = log2FoldChange (numeric), 0 = gene_id (text)
    out = probe_table(planted_page, tmp_path / "probe.html", "s-de-t_vs_r-top", 2, 0, "abcb1")
    asc = [float(v) for v in out["2"]["asc"]]
    assert asc == sorted(de["log2FoldChange"]) and out["2"]["desc"] == out["2"]["asc"][::-1]
    assert out["2"]["aria"] == "descending"
    genes = out["0"]["asc"]
    assert genes.index("ABCB1") < genes.index("D1") < genes.index("G1") < genes.index("N3")
    assert out["0"]["desc"] == genes[::-1]
    assert out["visible"] == ["ABCB1"] and out["count"] == f"1 of {len(de)} rows"


@pytest.mark.workflow
def test_demo_summary_meets_the_bar(demo_run, tmp_path):
    page = demo_run / "results/summary.html"
    raw = page.read_text()
    assert not re.search(r"https?://", raw), re.search(r".{40}https?://.{40}", raw)
    shot = screenshot_dir(tmp_path) / "summary_demo.png"
    run = open_page(page, screenshot=shot, height=1600)
    assert run.requests == [] and run.console == []
    text = visible_text(run.dom)
    for phrase in ("CD123/IL3RA: post-transcriptional loss", "P-gp/ABCB1: concordant gain", "ABCB1 log2FC +4.07",
                   "MULTIDRUG_EFFLUX_CORE NES +2.00", "Resistant cells are 43.3-fold (95% CI 33.4 to 56.1",
                   "19.6-fold (95% CI 15.2 to 25.4", "Signature GEN22_RESISTANCE version 1.0.0",
                   "Cohort demo_bulk", "Outcome association"):
        assert phrase in text, phrase
    assert len(re.findall(r'<img src="data:image/png;base64,', run.dom)) >= 3
    assert_real_screenshot(shot, 100_000)


@pytest.mark.workflow
def test_demo_summary_tables_sort(demo_run, tmp_path):
    page = demo_run / "results/summary.html"
    scores = pd.read_csv(demo_run / "results/scores/demo_bulk/scores.tsv", sep="\t")
    # cohort scores table: column 2 = score, 1 = sample
    out = probe_table(page, tmp_path / "probe.html", "s-cohort-demo_bulk-scores", 2, 1, "PT003")
    assert [float(v) for v in out["2"]["asc"]] == sorted(scores["score"])
    assert out["1"]["asc"] == sorted(scores["sample"]) and out["1"]["desc"] == sorted(scores["sample"])[::-1]
    assert out["visible"] == ["GEN22_RESISTANCE"] and out["count"] == f"1 of {len(scores)} rows"
