"""The ``ressig`` console script: help texts, one-line errors, --debug tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import decoy_path
from ressig.cli import main


def ressig(*args: str) -> subprocess.CompletedProcess:
    """The CLI of the interpreter under test, with decoy ``ressig``/``snakemake`` first on PATH."""
    return subprocess.run([sys.executable, "-m", "ressig", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PATH": decoy_path()})


def test_decoys_on_path_fail_loudly():
    """The decoys are real commands that fail: a test passing under them did not run them."""
    proc = subprocess.run(["ressig", "--version"], capture_output=True, text=True,
                          env={**os.environ, "PATH": decoy_path()})
    assert proc.returncode == 1 and "decoy ressig on PATH was run" in proc.stderr


def test_help_lists_subcommands():
    out = ressig("--help").stdout
    for cmd in ["simulate", "prepare", "de", "qc", "plot-de"]:
        assert cmd in out


def test_de_help_documents_options():
    out = ressig("de", "--help").stdout
    for opt in ["--counts", "--samples", "--condition", "--reference", "--treatment", "--covariates",
                "--min-count", "--alpha", "--no-shrink", "--threads", "--outdir"]:
        assert opt in out


def test_bad_input_prints_one_line_no_traceback(tmp_path):
    bad = tmp_path / "counts.tsv"
    bad.write_text("gene\tA\tB\nG1\t1\t-3\n")
    sheet = tmp_path / "s.tsv"
    sheet.write_text("sample\tcondition\nA\tparental\nB\tresistant\n")
    proc = ressig("prepare", "--counts", str(bad), "--samples", str(sheet), "--out-counts", str(tmp_path / "o.tsv"),
                  "--out-samples", str(tmp_path / "os.tsv"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == (f"ressig: error: {bad}: negative count -3 at gene 'G1', sample 'B'. "
                         "Counts must be >= 0 (raw read counts, not log values)")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o.tsv").exists() and not (tmp_path / "os.tsv").exists()
    debug = ressig("--debug", "prepare", "--counts", str(bad), "--samples", str(sheet), "--out-counts",
                   str(tmp_path / "o.tsv"), "--out-samples", str(tmp_path / "os.tsv"))
    assert "Traceback" in debug.stderr and "RessigError" in debug.stderr


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: ressig" in capsys.readouterr().out


def test_version():
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
