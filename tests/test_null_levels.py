"""``ressig null-levels`` + ``ressig score --null-levels``: a cohort's own levels of the matched null
computed once, sharded runs byte-identical to unsharded ones, files of other cohorts refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from ressig.errors import RessigError
from ressig.signature import FrozenSignature, freeze_signature
from ressig.signature.artefact import gene_levels_block
from test_cohort import write_h5ad
from test_nullbins import planted_cells

FIX = "re-run ressig null-levels with this cohort and the options it is scored with"
#: cell/sample ids with dashes, dots and leading digits
NAMES = [f"{i}-pt.{i % 7}_x" for i in range(300)]


def ressig(*args: str | Path, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "ressig", *map(str, args)], capture_output=True, text=True)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def cohort(tmp_path: Path) -> tuple[Path, Path, np.ndarray, list[str]]:
    """300 cells × 300 genes (the first 30 cells planted high on 12 genes) and a GMT of two sets."""
    X, genes = planted_cells(n=300, n_genes=300)
    path = write_h5ad(tmp_path / "1st-cohort.v2.h5ad", sp.csr_matrix(X), genes, pd.DataFrame(index=NAMES))
    gmt = tmp_path / "sets.gmt"
    gmt.write_text("MARK\tm\t" + "\t".join(genes[:12]) + "\nRND-1.x\tr\t" + "\t".join(genes[100:115]) + "\n")
    return path, gmt, X, genes


def test_shards_with_levels_file_gather_to_the_unsharded_bytes(cohort, tmp_path):
    path, gmt, X, genes = cohort
    common = ["--signature", gmt, "--input", path, "--null-draws", "100"]
    lv = tmp_path / "levels.json"
    ressig("null-levels", *common, "--out", lv)
    doc = json.loads(lv.read_text())
    assert (doc["format"], doc["version"], doc["method"], doc["unit"], doc["n_obs"], doc["n_genes"]) == (
        "ressig-null-levels", 1, "matched:cohort-mean", "cells", 300, 300)
    assert doc["signatures"] == ["MARK", "RND-1.x"] and doc["note"] == ""
    assert list(doc["levels"]) == genes  # the cohort's gene order
    expect = X.astype(float).mean(axis=0).astype(np.float32).astype(float)
    assert [doc["levels"][g] for g in genes] == expect.tolist()  # exactly the engine's float32-rounded means
    assert doc["levels"]["G000"] == pytest.approx(float(X[:, 0].mean()), rel=1e-6)
    assert len(doc["cohort_digest"]) == 64 and doc["cohort"]["options"] == {"collapse": None, "layer": "X"}

    whole = ressig("score", *common, "--out", tmp_path / "all.tsv", "--no-progress")
    assert "cohort levels from a first pass over all 300 cells" in whole.stderr
    assert "mean expression of 300 genes over 300 cells for the matched null" in whole.stderr
    with_file, without = [], []
    for i in range(1, 4):
        with_file.append(tmp_path / f"f{i}.tsv")
        proc = ressig("score", *common, "--shard", f"{i}/3", "--null-levels", lv, "--chunk-size", str(17 + i),
                      "--out", with_file[-1], "--no-progress")
        assert (f"{lv}: cohort levels of 300 genes over 300 cells read (matched:cohort-mean; cohort "
                f"{doc['cohort_digest'][:12]}), no first pass over the cohort") in proc.stderr
        assert "mean expression of" not in proc.stderr and "first pass over all" not in proc.stderr
        without.append(tmp_path / f"n{i}.tsv")
        ressig("score", *common, "--shard", f"{i}/3", "--out", without[-1], "--no-progress")
    for name, shards in (("with", with_file), ("without", without)):
        ressig("score-gather", "--shards", *shards, "--signature", gmt, "--input", path, "--out",
               tmp_path / f"{name}.tsv")
    reference = (tmp_path / "all.tsv").read_bytes()
    assert (tmp_path / "with.tsv").read_bytes() == reference
    assert (tmp_path / "without.tsv").read_bytes() == reference
    table = pd.read_csv(tmp_path / "all.tsv", sep="\t", index_col=0)
    assert list(table.index[:3]) == NAMES[:3]  # ids kept verbatim
    assert (table["MARK_pvalue"].iloc[:30] < 0.05).all()


def test_levels_file_of_another_cohort_or_options_is_refused(cohort, tmp_path):
    path, gmt, X, genes = cohort
    common = ["--signature", gmt, "--null-draws", "50", "--no-progress"]
    lv = tmp_path / "levels.json"
    ressig("null-levels", *common, "--input", path, "--out", lv)
    fewer_cells = write_h5ad(tmp_path / "fewer.h5ad", sp.csr_matrix(X[:250]), genes, pd.DataFrame(index=NAMES[:250]))
    fewer_genes = write_h5ad(tmp_path / "genes.h5ad", sp.csr_matrix(X[:, :280]), genes[:280],
                             pd.DataFrame(index=NAMES))
    renamed = write_h5ad(tmp_path / "renamed.h5ad", sp.csr_matrix(X), genes,
                         pd.DataFrame(index=[f"b{n}" for n in NAMES]))
    for other, what in ((fewer_cells, "300 cells there, 250 here"), (fewer_genes, "300 genes there, 280 here"),
                        (renamed, "other cells names")):
        proc = ressig("score", *common, "--input", other, "--null-levels", lv, "--out", tmp_path / "x.tsv", ok=False)
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines()[-1] == (
            f"ressig: error: {lv}: made from a different cohort: {what}; {FIX}")
        assert not (tmp_path / "x.tsv").exists()
    layered = tmp_path / "layered.h5ad"
    write_h5ad(layered, sp.csr_matrix(X), genes, pd.DataFrame(index=NAMES), layer="counts")
    ressig("null-levels", *common, "--input", layered, "--layer", "counts", "--out", tmp_path / "layer.json")
    proc = ressig("score", *common, "--input", layered, "--null-levels", tmp_path / "layer.json", "--out",
                  tmp_path / "x.tsv", ok=False)
    assert proc.stderr.strip().splitlines()[-1] == (
        f"ressig: error: {tmp_path / 'layer.json'}: made from a different cohort: layer layers/counts there, X here; {FIX}")
    bad = tmp_path / "edited.json"
    doc = json.loads(lv.read_text())
    doc["cohort"]["n_obs"] = 250
    bad.write_text(json.dumps(doc))
    proc = ressig("score", *common, "--input", path, "--null-levels", bad, "--out", tmp_path / "x.tsv", ok=False)
    assert proc.stderr.strip().splitlines()[-1] == (
        f"ressig: error: {bad}: null levels file was edited (its cohort digest or method does not match its "
        "content). Re-make it with ressig null-levels")


def test_no_cohort_levels_needed_writes_an_empty_file_and_scoring_works(cohort, tmp_path):
    path, gmt, X, genes = cohort
    levels = {g: float(i) / len(genes) for i, g in enumerate(genes)}
    art = tmp_path / "ART.ressig.json"
    freeze_signature(FrozenSignature(name="ART", version="1.0.0", up={g: 1.0 for g in genes[:12]},
                                     down={g: -1.0 for g in genes[200:205]}, created="2026-01-01T00:00:00Z",
                                     gene_levels=gene_levels_block(levels, "test", 20)), art)
    cases = (([art, "--null-draws", "60"], "the levels are frozen in the signature artefact"),
             ([gmt, "--null-draws", "60", "--null", "uniform"], "--null uniform"),
             ([gmt, "--null-draws", "0"], "no random gene sets are drawn (--null-draws 0 or no p-value column)"),
             ([gmt, "--null-draws", "60", "--null-reference", path],
              "--null-reference gives the levels of every signature"))
    for k, (args, why) in enumerate(cases):
        lv = tmp_path / f"lv{k}.json"
        common = ["--signature", *args, "--input", path, "--layout", "long", "--no-progress"]
        ressig("null-levels", *common, "--out", lv)
        doc = json.loads(lv.read_text())
        assert (doc["method"], doc["levels"], doc["signatures"], doc["n_obs"]) == ("", {}, [], 300)
        assert doc["note"] == f"no signature needs the cohort's own levels: {why}"
        ressig("score", *common, "--out", tmp_path / f"a{k}.tsv")
        proc = ressig("score", *common, "--null-levels", lv, "--out", tmp_path / f"b{k}.tsv")
        assert f"{lv}: cohort levels not used (no signature needs the cohort's own levels)" in proc.stderr
        assert (tmp_path / f"a{k}.tsv").read_bytes() == (tmp_path / f"b{k}.tsv").read_bytes()
    # a file made for the uniform null does not stand in for the cohort's levels of a matched one
    proc = ressig("score", "--signature", gmt, "--input", path, "--null-draws", "60", "--null-levels",
                  tmp_path / "lv1.json", "--out", tmp_path / "x.tsv", ok=False)
    assert proc.stderr.strip().splitlines()[-1] == (
        f"ressig: error: {tmp_path / 'lv1.json'}: holds no cohort levels (no signature needs the cohort's own levels: "
        f"--null uniform) but MARK, RND-1.x need them; {FIX}")


def test_bulk_levels_file_and_options(tmp_path):
    from ressig.cohort import CohortOptions

    rng = np.random.default_rng(5)
    genes = [f"G{i:03d}" for i in range(300)]
    samples = [f"{j}-S.{j % 3}" for j in range(40)]
    data = pd.DataFrame(rng.lognormal(2, 1.5, size=(300, 40)), index=pd.Index(genes, name="gene"), columns=samples)
    data.to_csv(tmp_path / "bulk.tsv", sep="\t")
    (tmp_path / "m.gmt").write_text("M\tm\t" + "\t".join(genes[:20]) + "\n")
    common = ["--signature", tmp_path / "m.gmt", "--input", tmp_path / "bulk.tsv", "--null-draws", "50"]
    ressig("null-levels", *common, "--out", tmp_path / "lv.json")
    doc = json.loads((tmp_path / "lv.json").read_text())
    assert (doc["method"], doc["unit"], doc["n_obs"], doc["n_genes"]) == ("matched:cohort-rank", "samples", 40, 300)
    ranks = data.rank(axis=0).to_numpy() / 300  # rank fraction within each sample
    assert doc["levels"]["G007"] == round(float(ranks[7].mean()), 4)
    ressig("score", *common, "--out", tmp_path / "all.tsv")
    shards = [tmp_path / f"{i}.tsv" for i in (1, 2)]
    for i, out in enumerate(shards, 1):
        proc = ressig("score", *common, "--shard", f"{i}/2", "--null-levels", tmp_path / "lv.json", "--out", out)
        assert "over 40 samples read (matched:cohort-rank" in proc.stderr
    ressig("score-gather", "--shards", *shards, "--signature", tmp_path / "m.gmt", "--input", tmp_path / "bulk.tsv",
           "--out", tmp_path / "gathered.tsv")
    assert (tmp_path / "gathered.tsv").read_bytes() == (tmp_path / "all.tsv").read_bytes()
    with pytest.raises(RessigError, match="^--null-levels applies to cells and bulk samples; pseudobulk cohorts"):
        CohortOptions(null_levels=tmp_path / "lv.json", pseudobulk="patient")
