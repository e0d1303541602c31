"""The run summary (ressig.summary): collectors and verdicts on small planted tables, the
"not configured" and "missing" paths, HTML escaping and self-containment, and the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ressig.summary import write_summary
from ressig.summary.collect import (
    MISSING,
    NOT_CONFIGURED,
    OK,
    collect_all,
    collect_cohort,
    collect_concordance,
    collect_de,
    collect_efflux,
    collect_functional,
    collect_outcome,
    collect_qc,
    collect_signature,
)
from ressig.summary.html import render_page
from ressig.summary.verdicts import details, num, pval, verdict
from summary_fixtures import EVIL_GENE, EVIL_SAMPLE, full_config, png, write_results

M = "\u2212"  # the page writes negative numbers with a true minus sign


@pytest.fixture
def results(tmp_path: Path) -> Path:
    return write_results(tmp_path)


def test_number_formats():
    assert [num(x) for x in (0.05, 2.003, 43.29, -0.159, 1e-7, 1800)] == [
        "0.05", "2.00", "43.3", f"{M}0.159", f"1.00e{M}07", "1800"]
    assert [pval(p) for p in (0.0, 0.0016, 3.3e-70, float("nan"))] == [f"< 1e{M}300", "0.0016", f"3.3e{M}70", "NA"]


def test_qc_names_the_flagged_sample(results):
    f = collect_qc(results, full_config())
    assert f.status == OK and f.facts["flagged"] == [EVIL_SAMPLE]
    assert verdict(f) == (f"1 of 6 samples flagged as outliers: {EVIL_SAMPLE}; PC1 separates r and t "
                          "without overlap.")
    assert f.figures == ["qc/pca.png"]


def test_de_counts_up_and_down_at_the_configured_thresholds(results):
    f = collect_de(results, full_config(), "t_vs_r")
    assert (f.facts["up"], f.facts["down"], f.facts["up_lfc"], f.facts["down_lfc"]) == (5, 3, 2, 1)
    assert verdict(f) == (f"5 genes up and 3 down in t vs r at padj < 0.05 (2 up and 1 down with |log2FC| \u2265 1); "
                          f"ABCB1 log2FC +4.00 (padj 1.0e{M}70), IL3RA log2FC {M}0.2 (padj 0.9).")
    assert list(f.tables["top"]["gene_id"][:2]) == ["ABCB1", "G1"]  # sorted by padj
    cfg = full_config()
    cfg["de"]["alpha"] = 0.015  # a stricter threshold: G3 (0.02), G4 (0.04), D2 (0.03) drop out
    f = collect_de(results, cfg, "t_vs_r")
    assert (f.facts["up"], f.facts["down"]) == (3, 2)


def test_concordance_states_each_call_with_its_numbers(results):
    f = collect_concordance(results, full_config(), "t_vs_r")
    assert verdict(f) == "CD123/IL3RA: post-transcriptional loss; P-gp/ABCB1: concordant gain."
    assert details(f)[0] == (
        f"CD123/IL3RA: post-transcriptional loss \u2014 mRNA log2FC {M}0.16 (95% CI {M}0.48 to 0.16), protein "
        f"{M}2.02 (95% CI {M}2.17 to {M}1.86), \u0394 = protein \u2212 mRNA {M}1.86 (95% CI {M}2.18 to {M}1.53); "
        "mRNA equivalent.")


def test_efflux_nes_fdr_and_leading_edge(results):
    f = collect_efflux(results, full_config(), "t_vs_r")
    assert verdict(f) == ("Efflux gene sets are enriched among the genes up in resistant cells (FDR < 0.05): "
                          "EFFLUX_CORE NES +2.00 (FDR 0.0016, leading edge ABCB1, ABCG2).")


def test_functional_fold_resistance_reversal_and_dye(results):
    f = collect_functional(results, full_config())
    assert verdict(f) == (f"T cells are 43.3-fold (95% CI 33.4 to 56.1, p < 1e{M}300) resistant to PVEK relative "
                          "to r; zosuquidar does not shift the IC50 of r cells (0.895-fold (95% CI 0.69 to 1.16, "
                          f"p 0.4)) and lowers the IC50 of t cells 19.6-fold (95% CI 15.2 to 25.4, p 1.0e{M}40) "
                          "(reversal).")
    assert details(f) == [
        "Dye retention of t cells with / without zosuquidar: 6.19 (95% CI 5.58 to 6.85, p 0.00017).",
        "Dye retention, ratio of retention ratios (linear model) t / r with zosuquidar: 5.72 "
        f"(95% CI 5.23 to 6.24, p 6.6e{M}07)."]


def test_signature_name_genes_version_checksum(results):
    f = collect_signature(results, full_config())
    assert verdict(f) == "Signature SIG1 version 2.1.0 frozen with 2 genes up and 1 down (sha256 checksum abababababab\u2026)."
    assert f"full checksum {'ab' * 32}." in details(f)[-1]


def test_cohort_coverage_distribution_and_calls(results):
    f = collect_cohort(results, full_config(), "c1")
    assert verdict(f) == ("2 of 3 SIG1 genes measured (coverage 66.7%); 4 samples scored with SIG1, median 0.125 "
                          f"(IQR {M}0.025 to 0.263); calls: 2 high, 1 low, 1 ns.")


def test_outcome_survival_and_response(results):
    f = collect_outcome(results, full_config(), "c1")
    assert verdict(f) == (
        "SIG1 survival (n = 40, 22 events): HR per SD 1.80 (95% CI 1.20 to 2.60, Wald p 0.003, q 0.006), "
        "C = 0.66, log-rank p 0.008; SIG1 response CR = yes (n = 40, 15 positive): OR per SD 0.4 "
        "(95% CI 0.2 to 0.8, p 0.01, q 0.02), AUC 0.72 (95% CI 0.55 to 0.89).")
    assert f.figures == ["outcome/c1/km.png"]


def test_steps_off_in_the_config_say_not_configured(tmp_path):
    res = write_results(tmp_path)
    cfg = {"design": {"reference": "r", "treatment": "t"}, "signature": {"name": "SIG1"}}
    findings = {f.key: f for f in collect_all(res, cfg)}
    for key in ("concordance-t_vs_r", "functional", "cohorts", "outcome"):
        assert findings[key].status == NOT_CONFIGURED, key
        assert verdict(findings[key]) == "Not configured: this step is off in the config."
    page = render_page(list(findings.values()), res, res / "summary.html")
    assert page.count("not configured</span>") == 4


def test_configured_step_without_output_is_missing_not_an_error(tmp_path):
    res = write_results(tmp_path)
    (res / "concordance/concordance.tsv").unlink()
    (res / "qc/qc.tsv").unlink()
    findings = {f.key: f for f in collect_all(res, full_config())}
    assert findings["concordance-t_vs_r"].status == MISSING
    assert verdict(findings["concordance-t_vs_r"]) == (
        "No result: concordance/concordance.tsv was not found (the step is configured; has it run?).")
    assert findings["qc"].status == MISSING
    render_page(list(findings.values()), res, res / "summary.html")


def test_outcome_configured_without_tables_is_not_configured(tmp_path):
    res = write_results(tmp_path)
    for p in (res / "outcome/c1").iterdir():
        p.unlink()
    f = collect_outcome(res, full_config(), "c1")
    assert f.status == NOT_CONFIGURED and verdict(f) == "Not configured (no survival.tsv or response.tsv in outcome/c1)."


def test_page_escapes_data_and_is_self_contained(results):
    page = render_page(collect_all(results, full_config()), results, results / "summary.html")
    assert page.count("<script") == 1  # the page's own script; the gene named <script> is text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and EVIL_GENE not in page
    assert "S&lt;3&gt;&amp;&quot;x&quot;" in page and EVIL_SAMPLE not in page
    assert not re.search(r"(?:src|href|url)\s*[=(]\s*[\"']?(?:https?:)?//", page, re.I)
    assert not re.search(r"https?://", page)
    images = re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+"', page)
    assert len(images) == len(list(results.rglob("*.png"))) == 7  # every planted PNG, embedded
    assert 'href="de/t_vs_r.tsv"' in page  # table links relative to the page


def test_links_are_relative_to_the_page(results, tmp_path):
    out = tmp_path / "elsewhere" / "page.html"
    page = render_page(collect_all(results, full_config()), results, out)
    assert 'href="../results/de/t_vs_r.tsv"' in page


def test_same_inputs_give_identical_bytes(results, tmp_path):
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    write_summary(results, full_config(), a, subtitle="x")
    write_summary(results, full_config(), b, subtitle="x")
    assert a.read_bytes() == b.read_bytes()


def test_landing_fragment_wraps_the_page_in_an_iframe(results, tmp_path):
    out, landing = tmp_path / "s.html", tmp_path / "landing.html"
    write_summary(results, full_config(), out, landing=landing)
    frame = landing.read_text()
    assert frame.startswith('<iframe title="ressig run summary"') and "srcdoc=\"&lt;!DOCTYPE html&gt;" in frame
    assert "<script" not in frame  # the whole page is an attribute value


def test_cells_cohort_counts_cells(tmp_path):
    res = tmp_path / "results"
    d = res / "scores/sc"
    d.mkdir(parents=True)
    (d / "scores.tsv").write_text("sample\tSIG1\tSIG1_pvalue\tSIG1_pvalue_low\tSIG1_call\n"
                                  "c1\t0.3\t0.001\t1\thigh\nc2\t0.0\t0.5\t0.5\tns\nc3\t0.1\t0.2\t0.8\tns\n")
    png(d / "score_distribution.png")
    f = collect_cohort(res, {"cohorts": {"sc": {}}}, "sc")
    assert verdict(f) == "3 cells scored with SIG1, median 0.1 (IQR 0.05 to 0.2); calls: 1 high, 2 ns."


def _ressig(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ressig", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_cli_writes_the_page(results, tmp_path):
    import yaml

    (tmp_path / "config.yaml").write_text(yaml.safe_dump(full_config()))
    proc = _ressig("summary", "--results", "results", "--config", "config.yaml", "--out", "results/summary.html",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = (results / "summary.html").read_text()
    assert "CD123/IL3RA: post-transcriptional loss" in page and "config: config.yaml" in page


def test_cli_config_that_is_not_a_mapping_is_one_clear_error(results, tmp_path):
    (tmp_path / "bad.yaml").write_text("- a\n- b\n")
    proc = _ressig("summary", "--results", "results", "--config", "bad.yaml", "--out", "s.html", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("ressig: error: bad.yaml: the config is a YAML list, not a mapping of keys. "
                                   "pass the workflow's config file")
    assert not (tmp_path / "s.html").exists()


def test_cli_missing_results_directory(tmp_path):
    (tmp_path / "c.yaml").write_text("{}\n")
    proc = _ressig("summary", "--results", "nope", "--config", "c.yaml", "--out", "s.html", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("ressig: error: nope: the results directory does not exist. pass --results "
                                   "the folder the workflow wrote (results/)")


def test_several_contrasts_read_their_own_folders(tmp_path):
    """With design.contrasts each per-contrast step writes results/<step>/<contrast>/."""
    res = write_results(tmp_path)
    for step, table in (("concordance", "concordance.tsv"), ("efflux", "gsea.tsv")):
        src = res / step / table
        for contrast in ("t_vs_r", "u_vs_r"):
            (res / step / contrast).mkdir()
            (res / step / contrast / table).write_text(src.read_text().replace("concordant gain", f"gain in {contrast}"))
        src.unlink()
    (res / "de/u_vs_r.tsv").write_text((res / "de/t_vs_r.tsv").read_text())
    png(res / "de/plots/contrasts.png")
    cfg = full_config()
    cfg["design"]["contrasts"] = [{"treatment": "u", "reference": "r"}]
    findings = {f.key: f for f in collect_all(res, cfg)}
    assert [k for k in findings if k.startswith("de-")] == ["de-t_vs_r", "de-u_vs_r"]
    assert findings["de-t_vs_r"].figures[-1] == "de/plots/contrasts.png"
    for contrast in ("t_vs_r", "u_vs_r"):
        f = findings[f"concordance-{contrast}"]
        assert f.sources == [f"concordance/{contrast}/concordance.tsv"]
        assert verdict(f) == f"CD123/IL3RA: post-transcriptional loss; P-gp/ABCB1: gain in {contrast}."
        assert findings[f"efflux-{contrast}"].sources == [f"efflux/{contrast}/gsea.tsv"]
