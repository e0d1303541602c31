"""Bad-input corpus: every input the project reads, through the CLI a user runs.

Each case asserts (1) exit code 2, (2) exactly one ``ressig: error:`` line on stderr naming the
file and the specific problem, (3) no traceback, and (4) that no output file was created.
Cases are grouped by input category; ``CORPUS`` lists them all (counted in the issue notes).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ressig.cli import main

GOOD_SHEET = "sample\tcondition\tbatch\nP1\tparental\tb1\nP2\tparental\tb2\nR1\tresistant\tb1\nR2\tresistant\tb2\n"
GOOD_COUNTS = "gene\tP1\tP2\tR1\tR2\nG1\t10\t12\t30\t33\nG2\t100\t90\t95\t110\nG3\t5\t0\t7\t8\n"


@dataclass(frozen=True)
class Case:
    category: str
    name: str
    files: dict[str, str | bytes]  # file name -> content
    argv: Callable[[Path], list[str]]  # command line given the case directory
    message: str  # must appear in the error line (with {dir} replaced by the case directory)
    outputs: tuple[str, ...] = ("out",)  # paths (relative) that must not exist afterwards


def prepare(counts: str = "counts.tsv", sheet: str = "samples.tsv", *extra: str) -> Callable[[Path], list[str]]:
    return lambda d: ["prepare", "--counts", str(d / counts), "--samples", str(d / sheet), *extra,
                      "--out-counts", str(d / "out/counts.tsv"), "--out-samples", str(d / "out/samples.tsv")]


def de(*extra: str) -> Callable[[Path], list[str]]:
    return lambda d: ["de", "--counts", str(d / "counts.tsv"), "--samples", str(d / "samples.tsv"), *extra,
                      "--outdir", str(d / "out")]


def counts_case(name: str, content: str | bytes, message: str, fname: str = "counts.tsv") -> Case:
    return Case("counts", name, {fname: content, "samples.tsv": GOOD_SHEET}, prepare(fname), message)


def sheet_case(name: str, content: str, message: str) -> Case:
    return Case("sample sheet", name, {"counts.tsv": GOOD_COUNTS, "samples.tsv": content}, prepare(), message)


def design_case(name: str, sheet: str, message: str, *extra: str) -> Case:
    return Case("design", name, {"counts.tsv": GOOD_COUNTS, "samples.tsv": sheet}, de(*extra), message)


CORPUS: list[Case] = [
    counts_case("duplicate gene ids", GOOD_COUNTS + "G1\t1\t2\t3\t4\n", "1 duplicated gene id(s)"),
    counts_case("duplicate sample columns", "gene\tP1\tP1\tR1\tR2\nG1\t1\t2\t3\t4\n", "duplicated column(s): P1"),
    counts_case("missing sample column", "gene\tP1\tP2\tR1\nG1\t1\t2\t3\n", "sample(s) from {dir}/samples.tsv missing in counts: R2"),
    counts_case("negative", GOOD_COUNTS.replace("\t33", "\t-33"), "negative count -33 at gene 'G1', sample 'R2'"),
    counts_case("non-integer", GOOD_COUNTS.replace("\t33", "\t33.5"), "non-integer count 33.5 at gene 'G1', sample 'R2'"),
    counts_case("NaN", GOOD_COUNTS.replace("\t33", "\tNaN"), "missing counts value (NA/empty) at gene 'G1', column 'R2'"),
    counts_case("empty cell", GOOD_COUNTS.replace("\t33", "\t"), "missing counts value (NA/empty) at gene 'G1', column 'R2'"),
    counts_case("text cell", GOOD_COUNTS.replace("\t33", "\tlots"), "non-numeric counts value 'lots' at gene 'G1', column 'R2'"),
    counts_case("Excel #N/A cell", GOOD_COUNTS.replace("\t33", "\t#N/A"),
                "non-numeric counts value '#N/A' at gene 'G1', column 'R2' (data row 1)"),
    counts_case("Excel #VALUE! cell", GOOD_COUNTS.replace("\t95\t", "\t#VALUE!\t"),
                "non-numeric counts value '#VALUE!' at gene 'G2', column 'R1' (data row 2)"),
    counts_case("empty file", "", "counts.tsv: is empty"),
    counts_case("header only", "gene\tP1\tP2\tR1\tR2\n", "counts has a header but no data rows"),
    counts_case("wrong delimiter", GOOD_COUNTS.replace("\t", ","), "counts header looks comma-separated, expected tab-separated"),
    counts_case("BOM + wrong delimiter", "\ufeff" + GOOD_COUNTS.replace("\t", ";"), "looks semicolon-separated"),
    counts_case("gzip that is not gzip", GOOD_COUNTS, "has a .gz suffix but is not gzip-compressed", "counts.tsv.gz"),
    counts_case("corrupt gzip", gzip.compress(GOOD_COUNTS.encode())[:-12], "corrupt gzip stream", "counts.tsv.gz"),
    counts_case("ragged row", GOOD_COUNTS + "G9\t1\t2\n", "line 5 has 3 fields, the header has 5"),
    counts_case("all-zero sample", GOOD_COUNTS.replace("\t12\t", "\t0\t").replace("\t90\t", "\t0\t"),
                "sample(s) with zero total counts: P2"),
    counts_case("binary junk", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "is not UTF-8 text"),
    counts_case("empty gene id", GOOD_COUNTS + "\t1\t2\t3\t4\n", "empty gene id in data row 4"),
    counts_case("unknown extension", GOOD_COUNTS, "cannot tell the counts format from the file name 'counts.xlsx'", "counts.xlsx"),
    sheet_case("no sample column", GOOD_SHEET.replace("sample\t", "name\t"), "sample sheet has no 'sample' column"),
    sheet_case("slash in name", GOOD_SHEET.replace("R2\t", "a/b\t"), "sample name 'a/b' (row 5) is not allowed"),
    sheet_case("dot-dot name", GOOD_SHEET.replace("R2\t", "..\t"), "sample name '..' (row 5) is not allowed"),
    sheet_case("space in name", GOOD_SHEET.replace("R2\t", "R 2\t"), "sample name 'R 2' (row 5) is not allowed"),
    sheet_case("shell metacharacters", GOOD_SHEET.replace("R2\t", "R2;rm\t"), "sample name 'R2;rm' (row 5) is not allowed"),
    sheet_case("'#' in name", GOOD_SHEET.replace("R2\t", "GEN2.2#R2\t"), "sample name 'GEN2.2#R2' (row 5) is not allowed"),
    sheet_case("duplicated sample", GOOD_SHEET.replace("R2\t", "R1\t"), "duplicated sample name(s): R1"),
    sheet_case("empty sheet", "", "samples.tsv: is empty"),
    Case("design", "level with one sample",
         {"counts.tsv": "gene\tP1\tP2\tR1\tR2\tX1\nG1\t10\t12\t30\t33\t20\nG2\t100\t90\t95\t110\t99\n",
          "samples.tsv": GOOD_SHEET + "X1\trelapsed\tb1\n"}, de(),
         "level 'relapsed' of 'condition' has 1 sample(s); DE needs at least 2 replicates per condition level"),
    design_case("contrast of a level with itself", GOOD_SHEET, "contrast 'resistant:resistant' compares level "
                "'resistant' with itself", "--contrast", "resistant:resistant"),
    design_case("contrast naming an absent level", GOOD_SHEET, "contrast 'relapsed:parental' names level 'relapsed', "
                "which does not occur in column 'condition' (levels present: parental, resistant)",
                "--contrast", "relapsed:parental"),
    design_case("malformed contrast", GOOD_SHEET, "contrast 'resistant' is not TREATMENT:REFERENCE",
                "--contrast", "resistant"),
    design_case("single level", GOOD_SHEET.replace("resistant", "parental"),
                "treatment level 'resistant' does not occur in column 'condition' (levels present: parental)"),
    design_case("missing reference", GOOD_SHEET.replace("parental", "resistant"),
                "reference level 'control' does not occur in column 'condition' (levels present: resistant)",
                "--reference", "control"),
    design_case("confounded covariate", GOOD_SHEET.replace("R1\tresistant\tb1", "R1\tresistant\tb3")
                .replace("R2\tresistant\tb2", "R2\tresistant\tb3").replace("P2\tparental\tb2", "P2\tparental\tb1"),
                "covariate(s) batch confounded with 'condition'", "--covariates", "batch"),
    design_case("missing covariate column", GOOD_SHEET, "sample sheet has no column 'passage' named in the config",
                "--covariates", "passage"),
]


# --- scoring inputs: GMT / frozen artefact / cohort matrices / .h5ad, through `ressig score` ---------
GMT_OK = "EFFLUX_UP\tdemo\tABCB1\tABCG2\tABCC1\nEFFLUX_DN\tdemo\tSLC46A3\tIL3RA\n"
COHORT_OK = "gene\tpt-1\tpt.2\nABCB1\t5\t9\nABCG2\t3\t1\nABCC1\t2\t2\nSLC46A3\t8\t1\nIL3RA\t4\t4\nGAPDH\t100\t90\n"


def score(sig: str, cohort: str, *extra: str) -> Callable[[Path], list[str]]:
    return lambda d: ["score", "--signature", str(d / sig), "--input", str(d / cohort), *extra,
                      "--out", str(d / "out/scores.tsv"), "--no-progress"]


def score_case(category: str, name: str, files: dict[str, str | bytes], message: str, sig: str = "sig.gmt",
               cohort: str = "cohort.tsv", *extra: str) -> Case:
    return Case(category, name, {"sig.gmt": GMT_OK, "cohort.tsv": COHORT_OK, **files}, score(sig, cohort, *extra),
                message)


def _artefact_text() -> str:
    import pandas as pd

    from ressig.signature import DerivationRules, build_signature, signature_to_dict

    genes = ["ABCB1", "ABCG2", "ABCC1", "SLC46A3", "IL3RA", "GAPDH"]
    lfc = [3.0, 2.0, 1.5, -1.5, 0.0, 0.0]
    de = pd.DataFrame({"baseMean": 500.0, "padj": [1e-9, 1e-6, 1e-4, 1e-5, 0.9, 0.9], "log2FoldChange": lfc,
                       "log2FoldChange_shrunk": lfc, "tested": True}, index=pd.Index(genes, name="gene_id"))
    norm = pd.DataFrame({"P1": [10, 20, 30, 40, 50, 60], "R1": [90, 80, 70, 5, 50, 60]}, index=de.index, dtype=float)
    sheet = pd.DataFrame({"condition": ["parental", "resistant"]}, index=pd.Index(["P1", "R1"], name="sample"))
    sig = build_signature(de, norm, sheet, name="TOY", version="1.0.0", created="2026-01-01T00:00:00Z",
                          rules=DerivationRules(rule="filter"))  # this toy table has no lfcSE for the threshold test
    import json

    return json.dumps(signature_to_dict(sig), indent=2, sort_keys=True)


ARTEFACT = _artefact_text()

CORPUS += [
    score_case("GMT", "empty set", {"sig.gmt": "EMPTY\tdesc\n"}, "sig.gmt: line 1: gene set 'EMPTY' has no genes"),
    score_case("GMT", "duplicate set names", {"sig.gmt": "A\td\tABCB1\nA\td\tABCG2\n"},
               "sig.gmt: line 2: gene set 'A' is defined twice (first on line 1)"),
    score_case("GMT", "line without description", {"sig.gmt": "ONLYNAME\n"},
               "line 1: gene set 'ONLYNAME' has no description field and no genes"),
    score_case("signature artefact", "bad checksum", {"s.ressig.json": ARTEFACT.replace('"ABCG2"', '"ABCG3"')},
               "signature checksum mismatch: the content was modified after freezing", "s.ressig.json"),
    score_case("signature artefact", "truncated JSON", {"s.ressig.json": ARTEFACT[: len(ARTEFACT) // 2]},
               "signature artefact is not valid JSON (truncated or corrupt", "s.ressig.json"),
    score_case("signature artefact", "wrong schema version",
               {"s.ressig.json": ARTEFACT.replace('"schema_version": 2', '"schema_version": 99')},
               "signature artefact schema version 99", "s.ressig.json"),
    score_case("signature artefact", "not JSON at all", {"s.ressig.json": "hello"},
               "s.ressig.json: signature artefact is not valid JSON", "s.ressig.json"),
    score_case("cohort matrix", "no overlapping genes", {"cohort.tsv": COHORT_OK.replace("ABC", "XYZ")
               .replace("SLC46A3", "Q1").replace("IL3RA", "Q2")},
               "cohort.tsv: no overlapping genes: none of the 5 signature genes is among the 6 input gene ids"),
    score_case("cohort matrix", "duplicated sample names", {"cohort.tsv": COHORT_OK.replace("pt.2", "pt-1")},
               "cohort.tsv: duplicated sample name(s) in the header: pt-1"),
    score_case("cohort matrix", "non-numeric value", {"cohort.tsv": COHORT_OK.replace("\t9\n", "\thigh\n")},
               "non-numeric value 'high' at gene 'ABCB1', sample 'pt.2'"),
    score_case("h5ad", "truncated h5ad", {"c.h5ad": b"\x89HDF\r\n\x1a\n" + b"\x00" * 40}, "c.h5ad: corrupt or not an .h5ad (HDF5) file", "sig.gmt", "c.h5ad"),
    score_case("h5ad", "text file named .h5ad", {"c.h5ad": "gene\tA\n"},
               "c.h5ad: corrupt or not an .h5ad (HDF5) file (Unable to synchronously open file (file signature not found))",
               "sig.gmt", "c.h5ad"),
]


def _ids() -> list[str]:
    return [f"{c.category}: {c.name}" for c in CORPUS]


@pytest.mark.parametrize("case", CORPUS, ids=_ids())
def test_bad_input_gives_one_specific_line_and_no_output(case: Case, tmp_path: Path, capsys) -> None:
    for name, content in case.files.items():
        p = tmp_path / name
        p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    code = main(case.argv(tmp_path))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) >= 1 and err[-1].startswith("ressig: error: "), err
    assert "Traceback" not in "\n".join(err)
    assert case.message.format(dir=tmp_path) in err[-1], err[-1]
    for out in case.outputs:
        target = tmp_path / out
        assert not target.exists() or not any(target.iterdir()), f"{out} was created"


def test_corpus_size():
    assert len(CORPUS) >= 40
