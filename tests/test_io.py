"""Counts and sample-sheet readers: every supported format, and one-line errors for malformed files."""

from __future__ import annotations

import gzip
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from ressig.errors import RessigError
from ressig.io import align_counts, prepare_inputs, read_counts, read_sample_sheet

COUNTS = pd.DataFrame({"S-1": [10, 0, 5], "2.b": [3, 7, 0]}, index=pd.Index(["IL3RA", "ABCB1", "TCF4"], name="gene_id"))


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_matrix_tsv_roundtrip(tmp_path):
    p = tmp_path / "counts.tsv"
    COUNTS.to_csv(p, sep="\t")
    got = read_counts(p)
    pd.testing.assert_frame_equal(got, COUNTS.astype("int64"))
    assert list(got.columns) == ["S-1", "2.b"]  # legal-but-unusual names survive


def test_matrix_csv_gzip_and_bom(tmp_path):
    p = tmp_path / "counts.csv.gz"
    p.write_bytes(gzip.compress(("\ufeff" + COUNTS.to_csv()).encode("utf-8")))
    pd.testing.assert_frame_equal(read_counts(p), COUNTS.astype("int64"))


def test_featurecounts(tmp_path):
    p = write(tmp_path / "fc.txt",
              '# Program:featureCounts v2.0.6; Command:"featureCounts" -a genes.gtf\n'
              "Geneid\tChr\tStart\tEnd\tStrand\tLength\t/data/bam/S-1.bam\t/data/bam/2.b.sorted.bam\n"
              "IL3RA\tchrX\t1\t100\t+\t100\t10\t3\n"
              "ABCB1\tchr7\t1\t100\t-\t100\t0\t7\n"
              "TCF4\tchr18\t1\t100\t-\t100\t5\t0\n")
    pd.testing.assert_frame_equal(read_counts(p), COUNTS.astype("int64"))


def test_h5ad_samples_in_obs(tmp_path):
    a = ad.AnnData(X=sp.csr_matrix(COUNTS.T.to_numpy().astype(np.float32)),
                   obs=pd.DataFrame(index=COUNTS.columns), var=pd.DataFrame(index=COUNTS.index))
    a.layers["counts"] = a.X.copy()
    a.X = a.X * 0.5
    p = tmp_path / "bulk.h5ad"
    a.write_h5ad(p)
    pd.testing.assert_frame_equal(read_counts(p, layer="counts"), COUNTS.astype("int64"))
    with pytest.raises(RessigError, match=r"bulk.h5ad: layer 'raw' not found \(layers: counts\)"):
        read_counts(p, layer="raw")


def _quant_files(tmp_path: Path, kind: str) -> tuple[dict[str, Path], Path]:
    tx = pd.DataFrame({"tx": ["T1.1", "T2.3", "T3.1", "T4.2"], "gene": ["G1", "G1", "G2", "G3"]})
    t2g = tmp_path / "tx2gene.tsv"
    tx.to_csv(t2g, sep="\t", index=False)
    est = {"A": [10.0, 5.0, 20.0, 1.0], "B-2": [0.0, 8.0, 4.0, 30.0]}
    files = {}
    for s, reads in est.items():
        d = tmp_path / s
        d.mkdir()
        length = [1000, 1500, 2000, 500]
        tpm = np.array(reads) / np.array(length)
        tpm = tpm / tpm.sum() * 1e6
        if kind == "salmon":
            df = pd.DataFrame({"Name": tx["tx"], "Length": length, "EffectiveLength": length, "TPM": tpm,
                               "NumReads": reads})
            f = d / "quant.sf"
        else:
            df = pd.DataFrame({"target_id": tx["tx"], "length": length, "eff_length": length,
                               "est_counts": reads, "tpm": tpm})
            f = d / "abundance.tsv"
        df.to_csv(f, sep="\t", index=False)
        files[s] = f
    return files, t2g


@pytest.mark.parametrize("kind", ["salmon", "kallisto"])
def test_salmon_kallisto_via_pytximport(tmp_path, kind):
    files, t2g = _quant_files(tmp_path, kind)
    got = read_counts(fmt=kind, files=files, tx2gene=t2g)
    assert list(got.columns) == ["A", "B-2"]
    assert got.loc["G1", "A"] == 15 and got.loc["G2", "A"] == 20 and got.loc["G3", "B-2"] == 30
    assert got.dtypes.unique().tolist() == [np.dtype("int64")]


def test_prepare_inputs_salmon_sheet_counts_column(tmp_path):
    files, t2g = _quant_files(tmp_path, "salmon")
    sheet = tmp_path / "samples.tsv"
    pd.DataFrame({"sample": list(files), "condition": ["parental", "resistant"],
                  "counts": [str(f) for f in files.values()]}).to_csv(sheet, sep="\t", index=False)
    counts, _ = prepare_inputs(None, sheet, tmp_path / "out/c.tsv", tmp_path / "out/s.tsv", fmt="salmon", tx2gene=t2g)
    assert (tmp_path / "out/c.tsv").exists() and counts.shape == (3, 2)


def test_ensembl_versions_stripped_and_logged(tmp_path, caplog):
    p = tmp_path / "c.tsv"
    write(p, "gene\tA\tB\nENSG00000185499.17\t1\t2\nENSG00000085563.15\t3\t4\n")
    with caplog.at_level("INFO", logger="ressig"):
        got = read_counts(p)
    assert list(got.index) == ["ENSG00000185499", "ENSG00000085563"]
    assert "stripped Ensembl version suffix from 2 gene ids" in caplog.text


def test_aliases_mapped_and_duplicates(tmp_path, caplog):
    p = write(tmp_path / "c.tsv", "gene\tA\tB\nCD123\t1\t2\nMDR1\t3\t4\nABCB1\t5\t6\n")
    with pytest.raises(RessigError) as exc:
        read_counts(p)
    assert str(exc.value) == (f"{p}: 1 duplicated gene id(s) after version stripping/alias mapping (e.g. ABCB1 from MDR1, ABCB1). "
                              "Make gene ids unique, or set counts.duplicates: sum to add their counts")
    with caplog.at_level("INFO", logger="ressig"):
        got = read_counts(p, duplicates="sum")
    assert got.loc["ABCB1"].tolist() == [8, 10] and got.loc["IL3RA"].tolist() == [1, 2]
    assert "summed 1 duplicated gene ids" in caplog.text


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.tsv", "", "is empty. Provide a table with a header row and data rows"),
    ("header.tsv", "gene\tA\tB\n", "counts has a header but no data rows"),
    ("neg.tsv", "gene\tA\tB\nG1\t1\t-2\n", "negative count -2 at gene 'G1', sample 'B'"),
    ("frac.tsv", "gene\tA\tB\nG1\t1\t2.5\n", "non-integer count 2.5 at gene 'G1', sample 'B'"),
    ("na.tsv", "gene\tA\tB\nG1\t1\tNA\n", "missing counts value (NA/empty) at gene 'G1', column 'B' (data row 1)"),
    ("text.tsv", "gene\tA\tB\nG1\t1\t2\nG2\tx\t3\n", "non-numeric counts value 'x' at gene 'G2', column 'A' (data row 2)"),
    ("comma.tsv", "gene,A,B\nG1,1,2\n", "counts header looks comma-separated, expected tab-separated"),
    ("dupcol.tsv", "gene\tA\tA\nG1\t1\t2\n", "counts has duplicated column(s): A"),
    ("zero.tsv", "gene\tA\tB\nG1\t0\t2\nG2\t0\t3\n", "sample(s) with zero total counts: A"),
    ("nosamples.tsv", "gene\nG1\n", "counts table has a gene id column but no sample columns"),
    ("ragged.tsv", "gene\tA\tB\nG1\t1\t2\t3\t4\n", "cannot parse counts"),
])
def test_malformed_counts_one_line_error(tmp_path, name, content, message):
    p = write(tmp_path / name, content)
    with pytest.raises(RessigError) as exc:
        read_counts(p)
    text = str(exc.value)
    assert "\n" not in text
    assert text.startswith(f"{p}: ")
    assert message in text


def test_fake_gzip(tmp_path):
    p = write(tmp_path / "counts.tsv.gz", "gene\tA\nG1\t1\n")
    with pytest.raises(RessigError, match="has a .gz suffix but is not gzip-compressed"):
        read_counts(p)


def test_missing_file(tmp_path):
    with pytest.raises(RessigError, match=r"nope.tsv: file not found"):
        read_counts(tmp_path / "nope.tsv")


def test_sample_sheet_rules(tmp_path):
    good = write(tmp_path / "s.tsv", "sample\tcondition\n1st-rep.A\tparental\nS_2\tresistant\n")
    assert list(read_sample_sheet(good).index) == ["1st-rep.A", "S_2"]
    for bad, msg in [("a/b", "'a/b' (row 2) is not allowed"), ("..", "'..' (row 2) is not allowed"),
                     ("x y", "'x y' (row 2) is not allowed"), ("$(rm)", "'$(rm)' (row 2) is not allowed")]:
        p = write(tmp_path / "bad.tsv", f"sample\tcondition\n{bad}\tparental\n")
        with pytest.raises(RessigError, match=msg.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$")):
            read_sample_sheet(p)
    p = write(tmp_path / "dup.tsv", "sample\tcondition\nA\tparental\nA\tresistant\n")
    with pytest.raises(RessigError, match="duplicated sample name"):
        read_sample_sheet(p)
    p = write(tmp_path / "nosample.tsv", "name\tcondition\nA\tparental\n")
    with pytest.raises(RessigError, match="has no 'sample' column"):
        read_sample_sheet(p)


def test_align_counts(tmp_path, caplog):
    sheet = pd.DataFrame({"condition": ["resistant", "parental"]}, index=pd.Index(["2.b", "S-1"], name="sample"))
    with caplog.at_level("INFO", logger="ressig"):
        got = align_counts(COUNTS.assign(extra=1), sheet, "c.tsv", "s.tsv")
    assert list(got.columns) == ["2.b", "S-1"]
    assert "ignoring 1 count column(s) not in the sample sheet: extra" in caplog.text
    with pytest.raises(RessigError, match=r"sample\(s\) from s.tsv missing in counts: Z"):
        align_counts(COUNTS, pd.DataFrame(index=pd.Index(["Z"], name="sample")), "c.tsv", "s.tsv")


# --------------------------------------------------------------------------- '#' is data except in comment lines


def test_hash_inside_a_line_is_data(tmp_path):
    sheet = write(tmp_path / "s.tsv", "# sheet for run 7\nsample\tcondition\tnote\n"
                  "S-1\tparental\tflask #2\n2.b\tresistant\t#1 of 3 # see ELN\n")
    got = read_sample_sheet(sheet)
    assert got["note"].tolist() == ["flask #2", "#1 of 3 # see ELN"]
    assert got["condition"].tolist() == ["parental", "resistant"]
    counts = write(tmp_path / "c.tsv", "# exported from Excel\ngene\tS-1\tS#2\tS3\nIL3RA\t10\t3\t4\n"
                   "ABCB1\t1\t7\t2\n")
    got = read_counts(counts)
    assert list(got.columns) == ["S-1", "S#2", "S3"] and got.loc["ABCB1"].tolist() == [1, 7, 2]


def test_hash_in_sample_sheet_name_is_refused_by_name(tmp_path):
    sheet = write(tmp_path / "s.tsv", "sample\tcondition\nGEN2.2-P1\tparental\nGEN2.2#P1\tresistant\n")
    with pytest.raises(RessigError) as exc:
        read_sample_sheet(sheet)
    assert str(exc.value) == (f"{sheet}: sample name 'GEN2.2#P1' (row 3) is not allowed. Use only letters, digits, "
                              "'.', '_' and '-' (it becomes a file name)")


def test_excel_error_cells_in_counts_are_refused_naming_gene_column_text(tmp_path):
    p = write(tmp_path / "c.csv", "gene,P1,P2,R1\nIL3RA,10,12,#N/A\nABCB1,1,#DIV/0!,3\n")
    with pytest.raises(RessigError) as exc:
        read_counts(p)
    assert str(exc.value) == (f"{p}: non-numeric counts value '#N/A' at gene 'IL3RA', column 'R1' (data row 1). "
                              "Counts must be numbers")


def test_prepare_writes_mapping_and_is_all_or_nothing(tmp_path):
    counts = write(tmp_path / "c.tsv", "gene\tS-1\t2.b\nCD123\t10\t3\nENSG00000085563.15\t1\t7\nTCF4\t5\t2\n")
    sheet = write(tmp_path / "s.tsv", "sample\tcondition\nS-1\tparental\n2.b\tresistant\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "mapping.tsv").symlink_to("/dev/full")
    with pytest.raises(RessigError, match=r"mapping.tsv: cannot write output"):
        prepare_inputs(counts, sheet, out / "c.tsv", out / "s.tsv", out_mapping=out / "mapping.tsv")
    assert sorted(p.name for p in out.iterdir()) == ["mapping.tsv"]
    (out / "mapping.tsv").unlink()
    prepare_inputs(counts, sheet, out / "c.tsv", out / "s.tsv", out_mapping=out / "mapping.tsv")
    assert (out / "mapping.tsv").read_text() == (
        "input_id\tmapped_id\thow\tnote\nCD123\tIL3RA\tcurated_alias\t\n"
        "ENSG00000085563.15\tENSG00000085563\tensembl\t\nTCF4\tTCF4\tsymbol\t\n")
