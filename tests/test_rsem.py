"""RSEM input (``counts.format: rsem``), lengths beside the counts, and a log printed once.

R references: ``tests/fixtures/tximport_rsem`` (R tximport 1.26 + DESeq2 1.38 on six GEUVADIS RSEM
``genes.results``/``isoforms.results`` of tximportData; ``make_fixture.R`` there). The commands run
as a user runs them: ``sys.executable -m ressig``.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
RSEM = FIXTURES / "tximport_rsem"
SALMON = FIXTURES / "tximport_salmon"
_VERSION = r"\.\d+(_PAR_Y)?$"


def _ressig(*args: str, cwd: Path | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "ressig", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def _log_lines(stderr: str) -> list[str]:
    """ressig's log lines (pytximport's tqdm progress bars are not log lines)."""
    return [ln for ln in stderr.splitlines() if ln.startswith("[ressig]")]


def _r(name: str) -> pd.DataFrame:
    """An R output of the RSEM fixture, gene ids without their Ensembl version (as prepare writes them)."""
    df = pd.read_csv(RSEM / name, sep="\t", index_col=0)
    return df.set_axis(df.index.str.replace(_VERSION, r"\1", regex=True), axis=0)


def _sheet(src: Path, dest: Path) -> Path:
    sheet = pd.read_csv(src, sep="\t")
    sheet["counts"] = [str(src.parent / c) for c in sheet["counts"]]
    sheet.to_csv(dest, sep="\t", index=False)
    return dest


@pytest.fixture(scope="module")
def rsem_run(tmp_path_factory):
    """``ressig prepare --format rsem`` (no --out-lengths) then ``ressig de --lengths <what prepare wrote>``."""
    out = tmp_path_factory.mktemp("rsem")
    sheet = _sheet(RSEM / "samples.tsv", out / "sheet.tsv")
    prep = _ressig("prepare", "--format", "rsem", "--samples", sheet, "--out-counts", out / "counts.tsv",
                   "--out-samples", out / "samples.tsv", "--out-mapping", out / "mapping.tsv")
    de = _ressig("de", "--counts", out / "counts.tsv", "--samples", out / "samples.tsv", "--reference", "A",
                 "--treatment", "B", "--lengths", out / "counts.lengths.tsv", "--outdir", out / "de")
    return out, prep, de


def test_rsem_de_matches_r_deseqdataset_from_tximport(rsem_run):
    """The bar: r(log2FC) >= 0.9999 against R, fewer than 0.1% of genes differ by > 0.1 log2."""
    out, _, de = rsem_run
    r = _r("deseq2_results.tsv.gz")
    py = pd.read_csv(out / "de" / "B_vs_A.tsv", sep="\t", index_col=0)
    assert "per-gene, per-sample normalisation factors" in de.stderr
    assert set(py.index[py["tested"]]) == set(r.index)                    # the same genes pass the filter
    both = r[["log2FoldChange"]].join(py[["log2FoldChange"]], rsuffix="_py").dropna()
    assert len(both) == len(r) == 3749
    diff = (both["log2FoldChange"] - both["log2FoldChange_py"]).abs()
    assert np.corrcoef(both["log2FoldChange"], both["log2FoldChange_py"])[0, 1] >= 0.9999
    assert (diff > 0.1).mean() < 0.001
    assert diff.max() < 0.01                                               # measured: 0.0014


def test_rsem_counts_and_lengths_are_r_tximport(rsem_run):
    """counts = round(txi$counts) (expected_count), lengths = txi$length with zeros set to 1."""
    out, prep, _ = rsem_run
    counts = pd.read_csv(out / "counts.tsv", sep="\t", index_col=0)
    lengths = pd.read_csv(out / "counts.lengths.tsv", sep="\t", index_col=0)
    r_counts, r_len = _r("tximport_counts.tsv.gz"), _r("tximport_length.tsv.gz")
    assert list(counts.index) == list(r_counts.index) == list(lengths.index)
    assert (counts.to_numpy() == r_counts.round().to_numpy()).all()
    assert np.max(np.abs(lengths.to_numpy() / r_len.to_numpy() - 1)) < 1e-9
    params = pd.read_csv(RSEM / "deseq2_params.tsv", sep="\t", index_col=0)["value"]
    n_zero = int(params["n_zero_lengths"])
    assert n_zero == 9101 and (lengths.to_numpy() == 1).sum() >= n_zero
    assert (f"{n_zero} zero effective length(s) in 1573 gene(s) set to 1 as tximport advises") in prep.stderr
    assert f"transcript lengths written beside the counts to {out / 'counts.lengths.tsv'}" in prep.stderr


def test_rsem_without_lengths_is_far_from_r(rsem_run, tmp_path):
    """``--no-lengths`` (size factors) on the same counts: the lengths are what makes the bar."""
    out, _, _ = rsem_run
    de = _ressig("de", "--counts", out / "counts.tsv", "--samples", out / "samples.tsv", "--reference", "A",
                 "--treatment", "B", "--no-lengths", "--outdir", tmp_path / "de")
    assert f"not using the transcript lengths beside the counts ({out / 'counts.lengths.tsv'})" in de.stderr
    r = _r("deseq2_results.tsv.gz")
    py = pd.read_csv(tmp_path / "de" / "B_vs_A.tsv", sep="\t", index_col=0)
    both = r[["log2FoldChange"]].join(py[["log2FoldChange"]], rsuffix="_py").dropna()
    assert np.corrcoef(both["log2FoldChange"], both["log2FoldChange_py"])[0, 1] < 0.99   # measured: 0.953


def test_de_uses_the_lengths_beside_the_counts_and_says_so(rsem_run, tmp_path):
    out, _, _ = rsem_run
    de = _ressig("de", "--counts", out / "counts.tsv", "--samples", out / "samples.tsv", "--reference", "A",
                 "--treatment", "B", "--outdir", tmp_path / "de")
    assert (f"[ressig] using the transcript lengths beside the counts ({out / 'counts.lengths.tsv'}, written by "
            "'ressig prepare') for DESeq2 normalisation factors; --no-lengths to use size factors") in de.stderr
    a = pd.read_csv(tmp_path / "de" / "B_vs_A.tsv", sep="\t", index_col=0)
    b = pd.read_csv(out / "de" / "B_vs_A.tsv", sep="\t", index_col=0)
    pd.testing.assert_frame_equal(a, b)                                    # the same as --lengths given


def test_rsem_isoforms_with_tx2gene_match_r(tmp_path):
    """``isoforms.results`` + tx2gene = R ``tximport(type = "rsem", txIn = TRUE, tx2gene)``."""
    sheet = _sheet(RSEM / "samples_isoforms.tsv", tmp_path / "sheet.tsv")
    _ressig("prepare", "--format", "rsem", "--samples", sheet, "--tx2gene", RSEM / "tx2gene.tsv.gz",
            "--out-counts", tmp_path / "c.tsv", "--out-samples", tmp_path / "s.tsv", "--out-lengths",
            tmp_path / "l.tsv")
    counts = pd.read_csv(tmp_path / "c.tsv", sep="\t", index_col=0)
    lengths = pd.read_csv(tmp_path / "l.tsv", sep="\t", index_col=0)
    r_counts, r_len = _r("tximport_isoforms_counts.tsv.gz"), _r("tximport_isoforms_length.tsv.gz")
    assert len(r_counts) == 1500 and sorted(counts.index) == sorted(r_counts.index)
    assert (counts.loc[r_counts.index].to_numpy() == r_counts.round().to_numpy()).all()
    assert np.max(np.abs(lengths.loc[r_len.index].to_numpy() / r_len.to_numpy() - 1)) < 1e-8
    assert not (tmp_path / "c.lengths.tsv").exists()                       # --out-lengths given: not beside


def test_rsem_errors(tmp_path):
    from ressig.errors import RessigError
    from ressig.io import read_counts_input

    files = {r: RSEM / "rsem" / f"{r}.genes.results.gz" for r in ("ERR188297", "ERR188088")}
    iso = {"ERR188297": RSEM / "rsem" / "ERR188297.isoforms.results.gz"}
    with pytest.raises(RessigError) as exc:
        read_counts_input(None, "rsem", files=iso)
    assert str(exc.value) == (f"{iso['ERR188297']}: is an RSEM isoforms.results file (column transcript_id), not "
                              "genes.results. Give --tx2gene (counts.tx2gene) to summarise transcripts to genes, "
                              "or the *.genes.results files")
    bad = tmp_path / "bad.genes.results"
    bad.write_text("gene_id\tlength\texpected_count\nG1\t10\t3\n")
    with pytest.raises(RessigError) as exc:
        read_counts_input(None, "rsem", files={"a": bad})
    assert str(exc.value) == (f"{bad}: not an RSEM genes.results file: missing column(s) effective_length. "
                              "Give RSEM's *.genes.results files (rsem-calculate-expression output)")
    # a file quantified against another annotation: its gene ids differ from the first file's
    text = gzip.decompress(files["ERR188088"].read_bytes()).decode().splitlines()
    text[1], text[2] = text[2], text[1]
    other = tmp_path / "other.genes.results"
    other.write_text("\n".join(text) + "\n")
    first = text[2].split("\t")[0]
    with pytest.raises(RessigError) as exc:
        read_counts_input(None, "rsem", files={"a": files["ERR188297"], "b": other})
    assert str(exc.value) == (f"{other}: gene ids differ from {files['ERR188297']} (data row 1: "
                              f"{text[1].split(chr(9))[0]!r} vs {first!r}). Quantify every sample against the "
                              "same annotation")
    with pytest.raises(RessigError) as exc:
        read_counts_input(None, "rsem", files=files, counts_from_abundance="length_scaled_tpm")
    assert "length_scaled_tpm needs transcript-level data" in str(exc.value)


def test_salmon_log_printed_once_and_missing_transcripts_reported(tmp_path):
    """pytximport warns on the root logger; ressig's lines still print once, and the transcripts the
    tx2gene table lacks are said in ressig's words, with their number, and listed in the mapping report."""
    t2g = pd.read_csv(SALMON / "tx2gene.csv.gz")
    dropped = list(t2g["TXNAME"][:10])
    t2g.iloc[10:].to_csv(tmp_path / "t2g.csv", index=False)
    sheet = _sheet(SALMON / "samples.tsv", tmp_path / "sheet.tsv")
    prep = _ressig("prepare", "--format", "salmon", "--samples", sheet, "--tx2gene", tmp_path / "t2g.csv",
                   "--out-counts", tmp_path / "c.tsv", "--out-samples", tmp_path / "s.tsv",
                   "--out-mapping", tmp_path / "m.tsv")
    lines = _log_lines(prep.stderr)
    assert len(lines) == len(set(lines)) >= 5
    assert "INFO:ressig" not in prep.stderr and "WARNING:root" not in prep.stderr
    assert all(ln.startswith(("[ressig]", "Reading quantification files"))   # pytximport's tqdm bar
               for ln in prep.stderr.splitlines() if ln)
    missing = [ln for ln in lines if "not in the tx2gene table" in ln]
    n_tx = sum(len(pd.read_csv(SALMON / c, sep="\t")) for c in ["salmon/ERR188297/quant.sf.gz"])
    assert missing == [f"[ressig] salmon quantifications: 10 of {n_tx} quantified transcripts are not in the "
                       f"tx2gene table (e.g. {', '.join(sorted(dropped)[:3])}); their reads are in no gene count "
                       "(listed in the gene mapping report as not_in_tx2gene)"]
    report = pd.read_csv(tmp_path / "m.tsv", sep="\t", keep_default_na=False)
    rows = report[report["how"] == "not_in_tx2gene"]
    assert sorted(rows["input_id"]) == sorted(dropped) and (rows["mapped_id"] == "").all()
    # the default lengths went beside the counts
    assert (tmp_path / "c.lengths.tsv").exists()


def test_salmon_log_once_with_full_tx2gene_and_lengths_kept_by_default(tmp_path):
    """The real salmon fixture: every log line once; no --out-lengths -> lengths beside the counts."""
    sheet = _sheet(SALMON / "samples.tsv", tmp_path / "sheet.tsv")
    prep = _ressig("prepare", "--format", "salmon", "--samples", sheet, "--tx2gene", SALMON / "tx2gene.csv.gz",
                   "--out-counts", tmp_path / "c.tsv", "--out-samples", tmp_path / "s.tsv")
    lines = _log_lines(prep.stderr)
    assert len(lines) == len(set(lines)) >= 5 and prep.stderr.count("[ressig]") == len(lines)
    assert not any(ln.startswith(("INFO:", "WARNING:", "DEBUG:")) for ln in prep.stderr.splitlines())
    assert "transcript lengths written beside the counts" in prep.stderr
    r_len = pd.read_csv(SALMON / "tximport_length.tsv.gz", sep="\t", index_col=0)
    lengths = pd.read_csv(tmp_path / "c.lengths.tsv", sep="\t", index_col=0)
    assert lengths.shape == r_len.shape


def test_root_handler_does_not_print_ressig_lines_twice(capfd):
    """A dependency that gives the root logger a handler (logging.warning at module level) does not
    make the CLI print its lines twice."""
    import logging

    from ressig._log import configure, logger

    root = logging.getLogger()
    before = list(root.handlers)
    try:
        configure()
        logging.basicConfig()          # what pytximport's logging.warning(...) does on first use
        for h in root.handlers:
            if h not in before:
                h.stream = sys.stderr
        logger.info("a line")
        err = capfd.readouterr().err
        assert err.count("a line") == 1 and err.strip() == "[ressig] a line"
    finally:
        for h in list(root.handlers):
            if h not in before:
                root.removeHandler(h)


def test_prepare_removes_stale_lengths_beside_the_counts(tmp_path):
    """A lengths table of an earlier salmon run beside counts.tsv is removed when matrix counts replace them."""
    demo = Path(__file__).parents[1] / "resources" / "demo" / "counts.tsv"
    sheet = Path(__file__).parents[1] / "config" / "samples.tsv"
    stale = tmp_path / "counts.lengths.tsv"
    stale.write_text("gene_id\tx\nA\t1\n")
    prep = _ressig("prepare", "--counts", demo, "--samples", sheet, "--out-counts", tmp_path / "counts.tsv",
                   "--out-samples", tmp_path / "s.tsv")
    assert not stale.exists()
    assert (f"[ressig] removed {stale} (transcript lengths of an earlier run): these counts have no transcript "
            "lengths") in prep.stderr


def test_de_lengths_beside_the_counts_with_pydeseq2_engine_is_one_clear_error(rsem_run, tmp_path):
    out, _, _ = rsem_run
    args = ["de", "--counts", out / "counts.tsv", "--samples", out / "samples.tsv", "--reference", "A",
            "--treatment", "B", "--outdir", tmp_path / "de"]
    bad = _ressig(*args, "--engine", "pydeseq2", ok=False)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1] == (
        f"ressig: error: {out / 'counts.lengths.tsv'}: 'ressig prepare' wrote transcript lengths beside the counts, "
        "which engine pydeseq2 cannot use (no normalisation factors); use --engine ressig, or --no-lengths for "
        "size factors")
    bad = _ressig(*args, "--lengths", out / "counts.lengths.tsv", "--no-lengths", ok=False)
    assert bad.stderr.strip().splitlines()[-1] == (
        "ressig: error: --lengths and --no-lengths contradict each other; give one")
    assert not (tmp_path / "de").exists()


@pytest.mark.workflow
def test_workflow_rsem_uses_effective_lengths(tmp_path):
    """``counts.format: rsem`` in the workflow: prepare writes lengths.tsv, de uses them, and the result is
    the CLI's (and so R's) within the bar."""
    import shutil

    from conftest import copy_workflow, run_snakemake

    wd = copy_workflow(tmp_path / "wd")
    shutil.copytree(RSEM / "rsem", wd / "rsem")
    shutil.copy2(RSEM / "samples.tsv", wd / "samples.tsv")
    (wd / "rsem.yaml").write_text("samples: samples.tsv\ncounts: {path: null, format: rsem}\n"
                                  "design: {reference: A, treatment: B}\n")
    run_snakemake(wd, "results/de/B_vs_A.tsv", "--configfile", "rsem.yaml")
    assert (wd / "results/counts/lengths.tsv").exists()
    sf = pd.read_csv(wd / "results/de/size_factors.tsv", sep="\t", index_col=0)
    assert set(sf["normalization"]) == {"avgTxLength"}
    r = _r("deseq2_results.tsv.gz")
    py = pd.read_csv(wd / "results/de/B_vs_A.tsv", sep="\t", index_col=0)
    both = r[["log2FoldChange"]].join(py[["log2FoldChange"]], rsuffix="_py").dropna()
    assert len(both) == 3749
    assert np.corrcoef(both["log2FoldChange"], both["log2FoldChange_py"])[0, 1] >= 0.9999
    assert ((both["log2FoldChange"] - both["log2FoldChange_py"]).abs() > 0.1).mean() < 0.001
