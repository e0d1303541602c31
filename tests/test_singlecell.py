"""Single-cell cohorts: streamed wide/long/parquet outputs, ressig.tl.score (scanpy's bundled
pbmc68k_reduced), 10x readers, pseudobulk on raw counts, shard checks, '#'/#N/A cells and the
gene-id mapping report."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

import ressig.tl
from ressig._log import logger
from ressig.cli import main as ressig_main
from ressig.cohort import (
    CohortOptions,
    add_calls_text,
    format_scores,
    gather_scores,
    score_cohort,
    score_dense,
    score_h5ad,
)
from ressig.errors import RessigError
from ressig.signature import load_signatures
from test_cohort import GENES, cohort_frame, make_sig, sc_matrix, write_h5ad

B_MARKERS = ("MS4A1", "CD79A", "CD79B", "BANK1", "BLK", "FCRLA")


@pytest.fixture
def sig_path(tmp_path: Path) -> Path:
    return make_sig(tmp_path)


# ----------------------------------------------------------------------------- ressig.tl.score


def test_tl_score_pbmc68k_b_cells_and_equals_cli(tmp_path):
    """scanpy's bundled pbmc68k_reduced: its .raw holds log1p of size-normalised counts (765 genes;
    no raw counts ship). Within-cell ranks of log1p(counts / size factor) are the ranks of the
    counts themselves, so the scores are those of the raw counts of these genes."""
    import scanpy as sc
    from sklearn.metrics import roc_auc_score

    adata = sc.datasets.pbmc68k_reduced()
    raw = adata.raw.to_adata()
    gmt = tmp_path / "b.gmt"
    gmt.write_text("B_CELL\tB-cell markers\t" + "\t".join(B_MARKERS) + "\n")
    scored = ressig.tl.score(raw, gmt, copy=True, chunk_size=128, columns=("n_genes_used",))
    assert "B_CELL" not in raw.obs  # copy=True leaves the input alone
    is_b = (scored.obs["bulk_labels"] == "CD19+ B").to_numpy()
    auc = roc_auc_score(is_b, scored.obs["B_CELL"])
    assert auc >= 0.95
    assert (scored.obs["B_CELL_n_genes_used"] == len(B_MARKERS)).all()
    assert scored.uns["ressig"]["B_CELL"]["n_found"] == len(B_MARKERS)

    path = raw.write_h5ad(tmp_path / "pbmc.h5ad") or tmp_path / "pbmc.h5ad"
    for out in ("cli.parquet", "cli.tsv"):
        assert ressig_main(["-q", "score", "--signature", str(gmt), "--input", str(path), "--out",
                            str(tmp_path / out), "--no-progress", "--chunk-size", "100"]) == 0
    pq = pd.read_parquet(tmp_path / "cli.parquet")
    tsv = pd.read_csv(tmp_path / "cli.tsv", sep="\t", dtype={"sample": str})
    assert list(pq["sample"]) == list(raw.obs_names)
    np.testing.assert_array_equal(pq["B_CELL"].to_numpy(), scored.obs["B_CELL"].to_numpy())
    np.testing.assert_allclose(tsv["B_CELL"], scored.obs["B_CELL"], rtol=0, atol=1e-9)

    # dense, CSR and backed inputs give the same values; key_added names the column
    dense = raw.copy()
    dense.X = raw.X.toarray()
    ressig.tl.score(dense, gmt, key_added="b")
    backed = ad.read_h5ad(path, backed="r")
    ressig.tl.score(backed, gmt, chunk_size=97)
    np.testing.assert_array_equal(dense.obs["b"].to_numpy(), scored.obs["B_CELL"].to_numpy())
    np.testing.assert_array_equal(backed.obs["B_CELL"].to_numpy(), scored.obs["B_CELL"].to_numpy())


def test_tl_score_several_signatures_and_bad_layer(sig_path):
    X = sc_matrix(40)
    a = ad.AnnData(X=sp.csr_matrix(X), var=pd.DataFrame(index=list(GENES)))
    a.obs_names = [f"c{i}" for i in range(40)]
    sigs = load_signatures(sig_path) * 1
    ressig.tl.score(a, sigs, key_added="ressig")
    assert "ressig" in a.obs  # one signature: key_added is the column
    with pytest.raises(RessigError, match="layer 'counts' not found"):
        ressig.tl.score(a, sig_path, layer="counts")


# ----------------------------------------------------------------------------- streamed outputs


def test_layouts_and_formats_agree(sig_path, tmp_path):
    X = sc_matrix(90)
    path = write_h5ad(tmp_path / "in.h5ad", sp.csr_matrix(X))
    sigs = load_signatures(sig_path)
    expected = score_h5ad(path, sigs, CohortOptions(progress=False)).scores
    long_out = tmp_path / "long.tsv"
    score_cohort(sig_path, path, long_out, opts=CohortOptions(layout="long", chunk_size=11, progress=False))
    # spill files concatenated and the cohort-level columns filled in a second pass over the file
    # = one-shot bytes with the calls computed in memory from the same (written) p-values
    assert long_out.read_text() == add_calls_text(format_scores(expected))
    score_cohort(sig_path, path, tmp_path / "w.parquet",
                 opts=CohortOptions(chunk_size=11, progress=False, columns=("up_score", "down_score")))
    w = pd.read_parquet(tmp_path / "w.parquet")
    assert list(w.columns) == ["sample", "RES", "RES_up_score", "RES_down_score"]
    np.testing.assert_array_equal(w["RES"].to_numpy(), expected["score"].to_numpy())
    np.testing.assert_array_equal(w["RES_down_score"].to_numpy(), expected["down_score"].to_numpy())
    with pytest.raises(RessigError, match="unknown score column"):
        score_cohort(sig_path, path, tmp_path / "x.tsv", opts=CohortOptions(columns=("pval",), progress=False))
    assert not (tmp_path / "x.tsv").exists()


def test_failed_run_leaves_no_partial_output(sig_path, tmp_path):
    """A chunk failing after others were written: the old output stays, no temp file is left."""
    X = sc_matrix(60).astype(float)
    X[55, 3] = np.inf  # refused when the last chunk is scored
    path = write_h5ad(tmp_path / "in.h5ad", X)
    out = tmp_path / "out" / "scores.tsv"
    out.parent.mkdir()
    out.write_text("previous\n")
    for name in ("scores.tsv", "scores.parquet"):
        with pytest.raises(RessigError, match="infinite"):
            score_cohort(sig_path, path, out.parent / name, opts=CohortOptions(chunk_size=10, progress=False),
                         coverage_out=out.parent / "cov.tsv", mapping_out=out.parent / "map.tsv")
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["scores.tsv"]


def test_mapping_report_written_beside_scores(tmp_path, sig_path):
    data, _ = cohort_frame(6)
    data = data.rename(index={"ABCB1": "MDR1", "SIM00001": "ENSG00000085563"})
    inp = tmp_path / "c.tsv"
    data.to_csv(inp, sep="\t")
    assert ressig_main(["-q", "score", "--signature", str(sig_path), "--input", str(inp), "--out",
                        str(tmp_path / "s.tsv"), "--mapping-out", str(tmp_path / "map.tsv")]) == 0
    m = pd.read_csv(tmp_path / "map.tsv", sep="\t", keep_default_na=False).set_index("input_id")
    assert list(m.index) == list(data.index)
    assert m.loc["ABCG2", "how"] == "symbol" and m.loc["ABCG2", "gene"] == "ABCG2"
    assert m.loc["MDR1", "gene"] == "ABCB1" and m.loc["MDR1", "how"] in ("curated_alias", "alias")
    assert m.loc["SIM00002", "how"] == "unknown"


# ----------------------------------------------------------------------------- shard checks


def test_gather_refuses_doubled_missing_and_foreign_shards(sig_path, tmp_path):
    data, _ = cohort_frame(12)
    inp = tmp_path / "c.tsv"
    data.to_csv(inp, sep="\t")
    shards = []
    for i in range(3):
        shards.append(tmp_path / f"{i + 1}-of-3.tsv")
        score_cohort(sig_path, inp, shards[-1], opts=CohortOptions(shard=(i, 3), progress=False))
    score_cohort(sig_path, inp, tmp_path / "all.tsv")
    gather_scores(shards, sig_path, tmp_path / "g.tsv", input_path=inp)
    assert (tmp_path / "g.tsv").read_bytes() == (tmp_path / "all.tsv").read_bytes()
    (tmp_path / "empty.tsv").write_text(shards[0].read_text().splitlines(keepends=True)[0])
    with pytest.raises(RessigError, match=r"1-of-3.tsv: shard 3/3 holds sample 'S00' that shard 1/3 .* given twice"):
        gather_scores([shards[0], shards[1], shards[0]], sig_path, tmp_path / "x.tsv", input_path=inp)
    with pytest.raises(RessigError, match=r"3-of-3.tsv: is shard 3/3, given in place of shard 2/3; shard 2/3 "
                                          r"\(samples 'S04'..'S07'\) is missing"):
        gather_scores([shards[0], shards[2], tmp_path / "empty.tsv"], sig_path, tmp_path / "x.tsv", input_path=inp)
    with pytest.raises(RessigError, match=r"1-of-3.tsv: shard 1/2 lacks 2 of its 6 samples \(e.g. 'S04'\)"):
        gather_scores([shards[0], shards[2]], sig_path, tmp_path / "x.tsv", input_path=inp)
    assert not (tmp_path / "x.tsv").exists()


def test_gather_wide_cell_shards_byte_identical(sig_path, tmp_path):
    path = write_h5ad(tmp_path / "in.h5ad", sp.csr_matrix(sc_matrix(50)))
    shards = []
    for i in range(4):
        shards.append(tmp_path / f"s{i}.tsv")
        score_cohort(sig_path, path, shards[-1], opts=CohortOptions(shard=(i, 4), chunk_size=6, progress=False))
    score_cohort(sig_path, path, tmp_path / "all.tsv", opts=CohortOptions(chunk_size=9, progress=False))
    gather_scores(shards, sig_path, tmp_path / "g.tsv", input_path=path)
    assert (tmp_path / "g.tsv").read_bytes() == (tmp_path / "all.tsv").read_bytes()
    with pytest.raises(RessigError, match=r"s2.tsv: shard 4/4 holds sample 'c25' that shard 3/4 .* given twice"):
        gather_scores([*shards[:3], shards[2]], sig_path, tmp_path / "x.tsv", input_path=path)
    with pytest.raises(RessigError, match=r"s0.tsv: shard 1/3 lacks 5 of its 17 samples \(e.g. 'c12'\)"):
        gather_scores(shards[:3], sig_path, tmp_path / "x.tsv", input_path=path)
    assert not (tmp_path / "x.tsv").exists()


# ----------------------------------------------------------------------------- pseudobulk


def test_pseudobulk_refuses_log_normalised_and_names_counts_layer(sig_path, tmp_path):
    X = sc_matrix(60)
    obs = pd.DataFrame({"patient": np.repeat(["A", "B", "C"], 20)}, index=[f"c{i}" for i in range(60)])
    logn = np.log1p(X / X.sum(1, keepdims=True) * 1e4)
    a = ad.AnnData(X=sp.csr_matrix(logn), obs=obs, var=pd.DataFrame(index=list(GENES)))
    a.write_h5ad(tmp_path / "log.h5ad")
    with pytest.raises(RessigError, match=r"log.h5ad: pseudobulk needs raw counts but X holds non-integer values .*"
                                          r"Store raw counts in a layer .* pass --layer counts"):
        score_h5ad(tmp_path / "log.h5ad", load_signatures(sig_path), CohortOptions(pseudobulk="patient"))
    a.layers["counts"] = sp.csr_matrix(X)
    a.write_h5ad(tmp_path / "both.h5ad")
    with pytest.raises(RessigError, match="Pass --layer counts"):
        score_h5ad(tmp_path / "both.h5ad", load_signatures(sig_path), CohortOptions(pseudobulk="patient"))
    got = score_h5ad(tmp_path / "both.h5ad", load_signatures(sig_path),
                     CohortOptions(pseudobulk="patient", layer="counts", progress=False)).scores
    assert list(got["sample"]) == ["A", "B", "C"]


def test_pseudobulk_leaves_out_cells_without_label(sig_path, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(logger, "propagate", True)
    X = sc_matrix(90)
    lab = np.repeat(np.array(["B", "A", "C"], dtype=object), 30)
    lab[[3, 40, 41, 88]] = None
    obs = pd.DataFrame({"patient": pd.Categorical(lab)}, index=[f"c{i}" for i in range(90)])
    path = write_h5ad(tmp_path / "pb.h5ad", sp.csr_matrix(X), obs=obs)
    sigs = load_signatures(sig_path)
    with caplog.at_level(logging.WARNING, logger=logger.name):
        got = score_h5ad(path, sigs, CohortOptions(pseudobulk="patient", chunk_size=17, progress=False)).scores
    assert "4 cell(s) with a missing 'patient' label left out" in caplog.text
    keep = pd.notna(lab)
    sums = pd.DataFrame(X[keep], columns=list(GENES)).groupby(lab[keep].astype(str)).sum()
    expected = score_dense(sums.astype(float), sigs).scores
    assert list(got["sample"]) == ["A", "B", "C"]
    np.testing.assert_allclose(got["score"], expected["score"], rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- 10x Genomics


def _write_10x(tmp_path: Path, X: np.ndarray, barcodes: list[str]) -> tuple[Path, Path]:
    """Cell Ranger v3 outputs: filtered_feature_bc_matrix/ (matrix.mtx.gz, features.tsv.gz,
    barcodes.tsv.gz; genes x cells) and filtered_feature_bc_matrix.h5."""
    ids = [f"ENSG{i:011d}" for i in range(len(GENES))]
    d = tmp_path / "filtered_feature_bc_matrix"
    d.mkdir()
    m = sp.csc_matrix(X.T.astype(np.int64))
    with gzip.open(d / "matrix.mtx.gz", "wb") as fh:
        scipy.io.mmwrite(fh, sp.coo_matrix(m), field="integer")
    with gzip.open(d / "features.tsv.gz", "wt") as fh:
        fh.writelines(f"{i}\t{g}\tGene Expression\n" for i, g in zip(ids, GENES, strict=True))
    with gzip.open(d / "barcodes.tsv.gz", "wt") as fh:
        fh.writelines(f"{b}\n" for b in barcodes)
    h5 = tmp_path / "filtered_feature_bc_matrix.h5"
    with h5py.File(h5, "w") as f:
        g = f.create_group("matrix")
        g["barcodes"] = np.array(barcodes, dtype="S")
        g["data"], g["indices"], g["indptr"] = m.data.astype(np.int32), m.indices, m.indptr
        g["shape"] = np.array(m.shape, dtype=np.int32)
        fe = g.create_group("features")
        fe["id"], fe["name"] = np.array(ids, dtype="S"), np.array(GENES, dtype="S")
        fe["feature_type"] = np.array(["Gene Expression"] * len(GENES), dtype="S")
        fe["genome"] = np.array(["GRCh38"] * len(GENES), dtype="S")
        fe["_all_tag_keys"] = np.array([b"genome"])
    return d, h5


def test_10x_h5_and_mtx_directory_score_like_h5ad(sig_path, tmp_path):
    X = sc_matrix(70)
    barcodes = [f"AAAC{i:04d}-1" for i in range(70)]
    d, h5 = _write_10x(tmp_path, X, barcodes)
    ref = write_h5ad(tmp_path / "ref.h5ad", sp.csr_matrix(X), obs=pd.DataFrame(index=barcodes))
    score_cohort(sig_path, ref, tmp_path / "ref.tsv")
    for inp in (d, h5):
        out = tmp_path / f"{inp.name}.tsv"
        assert ressig_main(["-q", "score", "--signature", str(sig_path), "--input", str(inp), "--out", str(out),
                            "--no-progress"]) == 0
        assert out.read_bytes() == (tmp_path / "ref.tsv").read_bytes(), inp.name


# ----------------------------------------------------------------------------- '#' and #N/A cells


def test_excel_errors_are_missing_cells_and_hash_names_kept(sig_path, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(logger, "propagate", True)
    data, _ = cohort_frame(5)
    names = ["GEN2.2#P1", "pt 2", "patiënt#3", "S03", "S04"]
    data.columns = names
    text = data.astype(int).astype(str)
    text.loc["ABCG2", "GEN2.2#P1"] = "#N/A"
    text.loc["MVP", "pt 2"] = "#VALUE!"
    text.loc["TCF4", "pt 2"] = "NA"
    text.loc["GAPDH", "S03"] = ""
    inp = tmp_path / "excel.tsv"
    inp.write_text("# exported from a spreadsheet\n" + text.to_csv(sep="\t"), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        score_cohort(sig_path, inp, tmp_path / "s.tsv")
    assert "4 cell(s) not numbers" in caplog.text and "pt 2 2" in caplog.text
    got = pd.read_csv(tmp_path / "s.tsv", sep="\t", dtype={"sample": str})
    assert list(got["sample"]) == names
    expected_in = data.astype(float)
    for g, s in (("ABCG2", "GEN2.2#P1"), ("MVP", "pt 2"), ("TCF4", "pt 2"), ("GAPDH", "S03")):
        expected_in.loc[g, s] = np.nan
    expected = score_dense(expected_in.T, load_signatures(sig_path)).scores
    np.testing.assert_allclose(got["score"], expected["score"], rtol=0, atol=1e-9)
    assert got.set_index("sample").loc["pt 2", "n_genes_used"] == 5  # only its two cells are missing
    assert got.set_index("sample").loc["S04", "n_genes_used"] == 7
    text.loc["ABCB1", "S04"] = "high"
    inp.write_text(text.to_csv(sep="\t"), encoding="utf-8")
    with pytest.raises(RessigError, match=r"non-numeric value 'high' at gene 'ABCB1', sample 'S04'"):
        score_cohort(sig_path, inp, tmp_path / "bad.tsv")


def test_embedding_and_group_plots(sig_path, tmp_path):
    X = sc_matrix(80)
    a = ad.AnnData(X=sp.csr_matrix(X), obs=pd.DataFrame({"patient": np.repeat(["p1", "p2", "p3", "p4"], 20)},
                                                        index=[f"c{i}" for i in range(80)]),
                   var=pd.DataFrame(index=list(GENES)))
    a.obsm["X_umap"] = np.random.default_rng(0).normal(size=(80, 2))
    a.write_h5ad(tmp_path / "in.h5ad")
    score_cohort(sig_path, tmp_path / "in.h5ad", tmp_path / "s.tsv")
    files = gather_scores([tmp_path / "s.tsv"], sig_path, None, input_path=tmp_path / "in.h5ad",
                          embedding_out=tmp_path / "umap.png", groups_out=tmp_path / "groups.png", group_by="patient")
    assert sorted(Path(f).name for f in files) == ["groups.png", "umap.png"]
    assert (tmp_path / "umap.png").stat().st_size > 5000 and (tmp_path / "groups.png").stat().st_size > 5000
    with pytest.raises(RessigError, match="obs has no column 'cluster' to group scores by"):
        gather_scores([tmp_path / "s.tsv"], sig_path, None, input_path=tmp_path / "in.h5ad",
                      groups_out=tmp_path / "g2.png", group_by="cluster")
    assert not (tmp_path / "g2.png").exists()
