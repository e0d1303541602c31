"""Cohort scoring: readers (bulk, microarray, .h5ad backed/chunked), id mapping, coverage, bad
inputs, sharding, and the real workflow outputs."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ressig.cohort import (
    CohortOptions,
    format_scores,
    gather_scores,
    read_and_score,
    read_expression,
    score_cohort,
    score_dense,
    score_h5ad,
    shard_bounds,
)
from ressig.errors import RessigError
from ressig.signature import FrozenSignature, content_checksum, freeze_signature, load_signatures

UP = ("ABCB1", "ABCG2", "ABCC1", "MVP", "ABCC3")
DOWN = ("SLC46A3", "TCF4")
BACKGROUND = tuple(f"SIM{i:05d}" for i in range(1, 60))
GENES = UP + DOWN + ("IL3RA", "GAPDH") + BACKGROUND


def make_sig(tmp_path: Path) -> Path:
    sig = FrozenSignature(name="RES", version="1.0.0", up={g: 1.0 for g in UP}, down={g: -1.0 for g in DOWN},
                          created="2026-01-01T00:00:00Z",
                          reference=[{"sample": "P1", "group": "parental", "score": -0.1, "up_score": 0.0,
                                      "down_score": -0.1},
                                     {"sample": "R1", "group": "resistant", "score": 0.4, "up_score": 0.3,
                                      "down_score": 0.1}])
    freeze_signature(sig, tmp_path / "RES.ressig.json")
    return tmp_path / "RES.ressig.json"


def cohort_frame(n: int = 12, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Genes × samples counts; the first third of the samples are resistant-like."""
    rng = np.random.default_rng(seed)
    base = np.exp(rng.normal(4, 1.5, len(GENES)))
    res = np.arange(n) < n // 3
    X = np.empty((len(GENES), n))
    for j in range(n):
        m = base * np.exp(rng.normal(0, 0.5, len(GENES)))
        if res[j]:
            m[: len(UP)] *= 8
            m[len(UP): len(UP) + len(DOWN)] /= 8
        X[:, j] = rng.poisson(m)
    return pd.DataFrame(X, index=pd.Index(GENES, name="gene_id"), columns=[f"S{j:02d}" for j in range(n)]), res


@pytest.fixture
def sig_path(tmp_path: Path) -> Path:
    return make_sig(tmp_path)


def write_h5ad(path: Path, X, genes=GENES, obs=None, layer=None) -> Path:
    obs = obs if obs is not None else pd.DataFrame(index=[f"c{i}" for i in range(X.shape[0])])
    a = ad.AnnData(X=X if layer is None else sp.csr_matrix(X.shape, dtype=np.float32), obs=obs,
                   var=pd.DataFrame(index=list(genes)))
    if layer is not None:
        a.layers[layer] = X
    a.write_h5ad(path)
    return path


# ----------------------------------------------------------------------------- scoring semantics


def test_resistant_like_samples_score_higher(sig_path):
    data, res = cohort_frame(30)
    out = score_dense(data.T, load_signatures(sig_path)).scores
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(res, out["score"]) >= 0.95
    assert list(out.columns) == ["signature", "sample", "score", "up_score", "down_score", "dispersion",
                                 "n_genes_used", "n_genes_missing", "n_genes_measured", "pvalue", "pvalue_low",
                                 "null_method", "percentile", "zscore", "reference"]  # cohort-level calls: added to the table text
    assert (out["n_genes_used"] == 7).all() and (out["n_genes_missing"] == 0).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), n=st.integers(2, 9), nan_frac=st.sampled_from([0.0, 0.05]),
       rule=st.sampled_from(["mean", "sum", "max", "first"]))
def test_cohort_score_equals_each_sample_alone(sig_path, seed, n, nan_frac, rule):
    rng = np.random.default_rng(seed)
    data, _ = cohort_frame(n, seed)
    data = data.T
    data = data.mask(rng.random(data.shape) < nan_frac)
    # duplicated ids after mapping (alias + symbol of one gene) are collapsed within each sample
    data = data.rename(columns={"SIM00001": "MDR1"})
    sigs = load_signatures(sig_path)
    opts = CohortOptions(collapse=rule, min_coverage=0.0)
    together = score_dense(data, sigs, opts).scores
    alone = pd.concat([score_dense(data.iloc[[j]], sigs, opts).scores for j in range(n)], ignore_index=True)
    pd.testing.assert_frame_equal(together, alone)


def test_percentile_against_training_reference(sig_path):
    data, _ = cohort_frame(8)
    out = score_dense(data.T, load_signatures(sig_path)).scores
    expected = np.where(out["score"] < -0.1, 0.0, np.where(out["score"] < 0.4, 50.0, 100.0))
    np.testing.assert_array_equal(out["percentile"], expected)


def test_ids_mapped_through_the_gene_table(sig_path):
    data, _ = cohort_frame(6)
    renamed = data.rename(index={"ABCB1": "ENSG00000085563.15", "SLC46A3": "ENSG00000139508",
                                 "ABCG2": "BCRP", "MVP": "mvp"})
    a = score_dense(data.T, load_signatures(sig_path)).scores
    b = score_dense(renamed.T, load_signatures(sig_path)).scores
    pd.testing.assert_frame_equal(a, b)


def test_shipped_gene_table_maps_symbols_aliases_and_ensembl():
    import gzip as _gz

    from ressig.genes import default_gene_table_path, map_to_symbols

    mapped, how = map_to_symbols(["CD123", "mdr1", "ENSG00000085563.15", "ENSG00000139508", "SIM00001", "ABCB1",
                                  "P-gp", "CD243", "ABC20"])
    assert list(mapped) == ["IL3RA", "ABCB1", "ABCB1", "SLC46A3", "SIM00001", "ABCB1", "ABCB1", "ABCB1", "ABCB1"]
    assert how["ensembl"] == 2 and how["unknown"] == 1
    path = default_gene_table_path()
    assert path.stat().st_size < 5e6
    with _gz.open(path, "rt") as fh:
        assert "r-bioc-org.hs.eg.db 3.16.0-1" in fh.readline()
    assert (path.parent / "PROVENANCE.md").exists()


def test_orientations_and_file_formats_agree(sig_path, tmp_path):
    data, _ = cohort_frame(6)
    data.to_csv(tmp_path / "g.tsv", sep="\t")
    data.T.rename_axis("sample").to_csv(tmp_path / "s.csv")
    with gzip.open(tmp_path / "g.tsv.gz", "wt") as fh:
        data.to_csv(fh, sep="\t")
    data.reset_index().to_parquet(tmp_path / "g.parquet")
    sigs = load_signatures(sig_path)
    ref = format_scores(read_and_score(tmp_path / "g.tsv", sigs).scores)
    assert format_scores(read_and_score(tmp_path / "s.csv", sigs, CohortOptions(orientation="samples-x-genes")).scores) == ref
    assert format_scores(read_and_score(tmp_path / "g.tsv.gz", sigs).scores) == ref
    assert format_scores(read_and_score(tmp_path / "g.parquet", sigs).scores) == ref
    # the direct parquet path: integer columns, nulls (not measured) and several row groups
    import pyarrow as pa
    import pyarrow.parquet as pq

    holes = data.astype("Int64").mask(np.arange(data.shape[0])[:, None] % 7 == np.arange(data.shape[1]) % 7)
    pq.write_table(pa.Table.from_pandas(holes.reset_index(), preserve_index=False), tmp_path / "h.parquet",
                   row_group_size=10)
    holes.to_csv(tmp_path / "h.tsv", sep="\t")
    want = format_scores(read_and_score(tmp_path / "h.tsv", sigs).scores)
    assert format_scores(read_and_score(tmp_path / "h.parquet", sigs).scores) == want


def test_microarray_probes_collapsed_by_mean_within_sample(sig_path, tmp_path):
    data, _ = cohort_frame(5)
    logd = np.log2(data + 1)
    probes = logd.copy()
    probes.index = [f"p{i}" for i in range(len(probes))]
    extra = logd.loc[["ABCB1"]] + 1.0  # a second ABCB1 probe, 1 unit higher
    extra.index = ["p_extra"]
    probes = pd.concat([probes, extra])
    probes.to_csv(tmp_path / "array.tsv", sep="\t")
    pm = pd.DataFrame({"probe": list(probes.index), "gene": [*GENES, "ABCB1"]})
    pm.loc[len(pm)] = ["p_unmapped", ""]
    pm.to_csv(tmp_path / "map.tsv", sep="\t", index=False)
    sigs = load_signatures(sig_path)
    got = read_and_score(tmp_path / "array.tsv", sigs, CohortOptions(probe_map=tmp_path / "map.tsv")).scores
    expected_in = logd.copy()
    expected_in.loc["ABCB1"] = logd.loc["ABCB1"] + 0.5  # mean of the two probes
    expected = score_dense(expected_in.T, sigs).scores
    pd.testing.assert_frame_equal(got, expected)


# ----------------------------------------------------------------------------- .h5ad


def sc_matrix(n_cells=300, seed=1):
    rng = np.random.default_rng(seed)
    lam = np.exp(rng.normal(0, 1.2, len(GENES)))
    X = rng.poisson(lam, size=(n_cells, len(GENES))).astype(np.float32)
    X[: n_cells // 2, : len(UP)] += rng.poisson(3, size=(n_cells // 2, len(UP)))
    return X


def test_h5ad_chunked_equals_in_memory_for_csr_csc_dense_and_layer(sig_path, tmp_path):
    X = sc_matrix()
    sigs = load_signatures(sig_path)
    names = [f"c{i}" for i in range(X.shape[0])]
    from ressig.scoring import score_matrix

    expected = score_dense(pd.DataFrame(X, index=names, columns=list(GENES)), sigs).scores
    direct = score_matrix(sp.csr_matrix(X), list(GENES), names, [s.gene_signature() for s in sigs],
                          null_draws=1000, seed=CohortOptions().null_seed)  # sparse p-values == dense ones
    # 68 genes: too few for two level bins of cohort levels, so the uniform null, labelled (issue 33)
    assert set(expected["null_method"]) == {"uniform:unmatched"}
    pd.testing.assert_frame_equal(expected.drop(columns=["null_method", "percentile", "zscore", "reference"]), direct)
    for name, mat, layer in (("csr", sp.csr_matrix(X), None), ("csc", sp.csc_matrix(X), None),
                             ("dense", X, None), ("layer", sp.csr_matrix(X), "counts")):
        path = write_h5ad(tmp_path / f"{name}.h5ad", mat, layer=layer)
        for chunk in (7, 1000):
            got = score_h5ad(path, sigs, CohortOptions(chunk_size=chunk, layer=layer, progress=False,
                                                       null_draws=1000)).scores  # cells default: 200
            assert format_scores(got) == format_scores(expected), (name, chunk)


def test_csc_rows_read_in_column_blocks_match(tmp_path):
    import h5py

    from ressig.cohort.h5 import BackedMatrix

    X = sc_matrix(90)
    path = write_h5ad(tmp_path / "csc.h5ad", sp.csc_matrix(X))
    with h5py.File(path, "r") as f:
        m = BackedMatrix(f, "X", path)
        assert m.format == "csc"
        for start, stop in ((0, 90), (13, 40), (89, 90)):
            got = m._csc_rows(start, stop, block_nnz=50)
            np.testing.assert_array_equal(got.toarray(), X[start:stop])


def test_h5ad_pseudobulk_equals_scoring_summed_counts(sig_path, tmp_path):
    X = sc_matrix(120)
    obs = pd.DataFrame({"patient": np.repeat(["B", "A", "C"], 40)}, index=[f"c{i}" for i in range(120)])
    path = write_h5ad(tmp_path / "pb.h5ad", sp.csr_matrix(X), obs=obs)
    sigs = load_signatures(sig_path)
    got = score_h5ad(path, sigs, CohortOptions(pseudobulk="patient", chunk_size=33, progress=False)).scores
    sums = pd.DataFrame(X, columns=list(GENES)).groupby(obs["patient"].to_numpy()).sum()
    expected = score_dense(sums.astype(float), sigs).scores
    assert list(got["sample"]) == ["A", "B", "C"]
    np.testing.assert_allclose(got["score"], expected["score"], rtol=0, atol=1e-12)


def test_h5ad_output_has_scores_in_obs_and_untouched_matrix(sig_path, tmp_path):
    """Cells are written wide (one column per signature, extras on request); --out-h5ad puts the
    same columns in obs; the values equal the long layout's."""
    X = sc_matrix(50)
    obs = pd.DataFrame({"patient": ["p1"] * 25 + ["p2"] * 25}, index=[f"c{i}" for i in range(50)])
    path = write_h5ad(tmp_path / "in.h5ad", sp.csr_matrix(X), obs=obs)
    opts = CohortOptions(columns=("n_genes_used", "dispersion"), chunk_size=7, progress=False)
    score_cohort(sig_path, path, tmp_path / "s.tsv", opts=opts, h5ad_out=tmp_path / "out.h5ad",
                 plot_out=tmp_path / "d.png")
    out = ad.read_h5ad(tmp_path / "out.h5ad")
    tsv = pd.read_csv(tmp_path / "s.tsv", sep="\t")
    assert list(tsv.columns) == ["sample", "RES", "RES_n_genes_used", "RES_dispersion"]
    np.testing.assert_array_equal(out.X.toarray(), X)
    assert list(out.obs["patient"]) == list(obs["patient"])
    for col in ("RES", "RES_n_genes_used", "RES_dispersion"):
        np.testing.assert_allclose(out.obs[col].to_numpy(), tsv[col].to_numpy())
    assert (out.obs["RES_n_genes_used"] == 7).all()
    long = score_h5ad(path, load_signatures(sig_path), CohortOptions(progress=False)).scores
    np.testing.assert_allclose(tsv["RES"], long["score"], rtol=0, atol=5e-10)
    np.testing.assert_allclose(tsv["RES_dispersion"], long["dispersion"], rtol=0, atol=5e-10)
    assert (tmp_path / "d.png").stat().st_size > 1000


# ----------------------------------------------------------------------------- bad inputs


def _expect_error(tmp_path, sig, inp, match, **kw):
    out = tmp_path / "bad_out.tsv"
    with pytest.raises(RessigError, match=match) as exc:
        score_cohort(sig, inp, out, coverage_out=tmp_path / "bad_cov.tsv", plot_out=tmp_path / "bad.png", **kw)
    assert "\n" not in str(exc.value)
    assert not out.exists() and not (tmp_path / "bad_cov.tsv").exists() and not (tmp_path / "bad.png").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bad")]  # no temp leftovers


def test_no_overlapping_genes(sig_path, tmp_path):
    data, _ = cohort_frame(4)
    data.index = [f"X{i}" for i in range(len(data))]
    data.to_csv(tmp_path / "c.tsv", sep="\t")
    _expect_error(tmp_path, sig_path, tmp_path / "c.tsv", r"c.tsv: no overlapping genes: none of the 7 signature genes")


def test_coverage_below_minimum(sig_path, tmp_path):
    data, _ = cohort_frame(4)
    data = data.drop(index=list(UP[:4]))
    data.to_csv(tmp_path / "c.tsv", sep="\t")
    _expect_error(tmp_path, sig_path, tmp_path / "c.tsv",
                  r"signature RES: only 3 of 7 genes \(42.9%\) found, below the minimum coverage 50%")
    score_cohort(sig_path, tmp_path / "c.tsv", tmp_path / "ok.tsv", opts=CohortOptions(min_coverage=0.4))
    assert (pd.read_csv(tmp_path / "ok.tsv", sep="\t")["n_genes_missing"] == 4).all()


def test_duplicated_sample_names(sig_path, tmp_path):
    data, _ = cohort_frame(4)
    text = data.to_csv(sep="\t").splitlines()
    text[0] = text[0].replace("S01", "S00")
    (tmp_path / "c.tsv").write_text("\n".join(text) + "\n")
    _expect_error(tmp_path, sig_path, tmp_path / "c.tsv", r"duplicated sample name\(s\) in the header: S00")
    data.T.set_axis(["A", "A", "B", "C"]).rename_axis("sample").to_csv(tmp_path / "s.tsv", sep="\t")
    _expect_error(tmp_path, sig_path, tmp_path / "s.tsv", r"duplicated sample name\(s\): A",
                  opts=CohortOptions(orientation="samples-x-genes"))
    obs = pd.DataFrame(index=["c0", "c0", "c1"])
    with pytest.warns(UserWarning):
        write_h5ad(tmp_path / "d.h5ad", sp.csr_matrix(sc_matrix(3)), obs=obs)
    _expect_error(tmp_path, sig_path, tmp_path / "d.h5ad", r"duplicated cell name\(s\) in obs: c0")


def test_non_numeric_values(sig_path, tmp_path):
    data, _ = cohort_frame(4)
    data = data.astype(object)
    data.loc["ABCG2", "S02"] = "12,5"
    data.to_csv(tmp_path / "c.tsv", sep="\t")
    _expect_error(tmp_path, sig_path, tmp_path / "c.tsv", r"non-numeric value '12,5' at gene 'ABCG2', sample 'S02'")


def test_corrupt_h5ad(sig_path, tmp_path):
    path = write_h5ad(tmp_path / "ok.h5ad", sp.csr_matrix(sc_matrix(200)))
    raw = path.read_bytes()
    (tmp_path / "trunc.h5ad").write_bytes(raw[: len(raw) // 2])
    _expect_error(tmp_path, sig_path, tmp_path / "trunc.h5ad", r"trunc.h5ad: (corrupt or not an .h5ad|cannot read)")
    (tmp_path / "text.h5ad").write_text("not hdf5\n")
    _expect_error(tmp_path, sig_path, tmp_path / "text.h5ad", r"text.h5ad: corrupt or not an .h5ad \(HDF5\) file")


def test_incompatible_or_tampered_signature(sig_path, tmp_path):
    import json

    data, _ = cohort_frame(4)
    data.to_csv(tmp_path / "c.tsv", sep="\t")
    d = json.loads(sig_path.read_text())
    d["genes"]["up"].append({"gene": "GAPDH", "weight": 1.0})
    sig_path.write_text(json.dumps(d))
    _expect_error(tmp_path, sig_path, tmp_path / "c.tsv", "signature checksum mismatch")
    d["schema_version"] = 99
    d["checksum"]["value"] = content_checksum({k: v for k, v in d.items() if k != "checksum"})
    sig_path.write_text(json.dumps(d))
    _expect_error(tmp_path, sig_path, tmp_path / "c.tsv", "schema version 99 .* is not supported by ressig")


def test_cli_bad_input_is_one_line_and_exit_2(sig_path, tmp_path):
    data, _ = cohort_frame(4)
    data.index = [f"X{i}" for i in range(len(data))]
    data.to_csv(tmp_path / "c.tsv", sep="\t")
    proc = subprocess.run([sys.executable, "-m", "ressig", "score", "--signature", str(sig_path), "--input",
                           str(tmp_path / "c.tsv"), "--out", str(tmp_path / "o.tsv")], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("ressig: error:")]
    assert len(lines) == 1 and "no overlapping genes" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "o.tsv").exists()


def test_read_expression_rejects_ragged_rows(tmp_path):
    (tmp_path / "r.tsv").write_text("gene\tA\tB\nX\t1\t2\nY\t1\t2\t3\n")
    with pytest.raises(RessigError, match="cannot parse matrix"):
        read_expression(tmp_path / "r.tsv")


# ----------------------------------------------------------------------------- sharding


def test_shard_bounds_cover_everything():
    for n in (0, 1, 7, 100):
        for k in (1, 2, 3, 8):
            b = [shard_bounds(n, (i, k)) for i in range(k)]
            assert b[0][0] == 0 and b[-1][1] == n and all(b[i][1] == b[i + 1][0] for i in range(k - 1))


@pytest.mark.parametrize("kind", ["bulk", "h5ad"])
def test_sharded_gather_is_byte_identical(sig_path, tmp_path, kind):
    if kind == "bulk":
        data, _ = cohort_frame(11)
        inp = tmp_path / "c.tsv"
        data.to_csv(inp, sep="\t")
    else:
        inp = write_h5ad(tmp_path / "c.h5ad", sp.csr_matrix(sc_matrix(101)))
    # a GMT with two signatures, so the gather must regroup rows by signature
    gmt = tmp_path / "two.gmt"
    gmt.write_text("A_UP\td\t" + "\t".join(UP) + "\nA_DN\td\t" + "\t".join(DOWN) + "\nB\td\tIL3RA\tGAPDH\n")
    for sig in (sig_path, gmt):
        score_cohort(sig, inp, tmp_path / "full.tsv", coverage_out=tmp_path / "full_cov.tsv",
                     opts=CohortOptions(chunk_size=10, progress=False))
        shards, covs = [], []
        for i in range(3):
            shards.append(tmp_path / f"s{i}.tsv")
            covs.append(tmp_path / f"s{i}.cov.tsv")
            score_cohort(sig, inp, shards[-1], coverage_out=covs[-1],
                         opts=CohortOptions(shard=(i, 3), chunk_size=7, progress=False))
        gather_scores(shards, sig, tmp_path / "gathered.tsv", coverage=covs, coverage_out=tmp_path / "g_cov.tsv")
        assert (tmp_path / "gathered.tsv").read_bytes() == (tmp_path / "full.tsv").read_bytes()
        assert (tmp_path / "g_cov.tsv").read_bytes() == (tmp_path / "full_cov.tsv").read_bytes()


# ----------------------------------------------------------------------------- real workflow


@pytest.mark.workflow
def test_workflow_demo_bulk_cohort_auc(demo_run: Path):
    from sklearn.metrics import roc_auc_score

    scores = pd.read_csv(demo_run / "results/scores/demo_bulk/scores.tsv", sep="\t")
    truth = pd.read_csv(demo_run / "results/cohorts/demo_bulk_truth.tsv", sep="\t")
    m = scores.merge(truth, on="sample", validate="one_to_one")
    assert len(m) == 40 and m["resistant_like"].sum() == 12
    auc = roc_auc_score(m["resistant_like"], m["score"])
    assert auc >= 0.95, auc
    assert (m["n_genes_missing"] == 0).all()  # Ensembl ids and aliases were mapped
    assert m["percentile"].between(0, 100).all()
    cov = pd.read_csv(demo_run / "results/scores/demo_bulk/coverage.tsv", sep="\t")
    assert cov.loc[0, "coverage"] == 1.0


@pytest.mark.workflow
def test_workflow_single_cell_cohorts(demo_run: Path):
    truth = pd.read_csv(demo_run / "results/cohorts/demo_sc_truth.tsv", sep="\t")
    cells = pd.read_csv(demo_run / "results/scores/demo_sc/scores.tsv", sep="\t").merge(
        truth, left_on="sample", right_on="cell")  # cells: wide, one column per signature
    per_patient = cells.groupby("patient").agg(score=("GEN22_RESISTANCE", "median"), res=("resistant_like", "first"))
    assert per_patient.loc[per_patient.res, "score"].min() > per_patient.loc[~per_patient.res, "score"].max()
    pb = pd.read_csv(demo_run / "results/scores/demo_sc_pseudobulk/scores.tsv", sep="\t")
    res = truth.groupby("patient")["resistant_like"].first()
    assert pb.loc[pb["sample"].map(res), "score"].min() > pb.loc[~pb["sample"].map(res), "score"].max()
    out = ad.read_h5ad(demo_run / "results/scores/demo_sc/scores.h5ad", backed="r")
    assert out.n_obs == len(truth)
    np.testing.assert_allclose(out.obs["GEN22_RESISTANCE"].to_numpy(), cells["GEN22_RESISTANCE"].to_numpy())
    for cohort in ("demo_bulk", "demo_sc", "demo_sc_pseudobulk"):
        assert (demo_run / f"results/scores/{cohort}/score_distribution.png").stat().st_size > 5000
        mapping = pd.read_csv(demo_run / f"results/scores/{cohort}/gene_mapping.tsv", sep="\t", keep_default_na=False)
        assert list(mapping.columns) == ["input_id", "gene", "how", "note"] and (mapping["how"] == "symbol").any()
    assert (demo_run / "results/scores/demo_sc/score_groups.png").stat().st_size > 5000
    assert (demo_run / "results/scores/demo_sc/score_embedding.png").exists()


@pytest.mark.workflow
def test_workflow_sharded_equals_unsharded(demo_run: Path, tmp_path: Path):
    """The workflow scores with scoring.shards: 2; the unsharded CLI gives the same bytes."""
    import yaml

    cfg = yaml.safe_load((demo_run / "config/demo.yaml").read_text())
    assert cfg["scoring"]["shards"] >= 2
    sig = demo_run / "results/signature/GEN22_RESISTANCE.ressig.json"
    for cohort, inp in (("demo_bulk", "demo_bulk.tsv"), ("demo_sc", "demo_sc.h5ad")):
        out = tmp_path / f"{cohort}.tsv"
        draws = cfg["cohorts"][cohort].get("null_draws")  # the demo's cells ask for per-cell p-values
        proc = subprocess.run([sys.executable, "-m", "ressig", "score", "--signature", str(sig), "--input",
                               str(demo_run / "results/cohorts" / inp), "--out", str(out), "--chunk-size", "500",
                               *(["--null-draws", str(draws)] if draws is not None else [])],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert out.read_bytes() == (demo_run / f"results/scores/{cohort}/scores.tsv").read_bytes(), cohort


@pytest.mark.parametrize("layout", ["long", "wide"])
def test_score_text_equals_pandas_for_awkward_names_and_nan(tmp_path, layout):
    """The TSV sink's row formatter writes exactly pandas' ``to_csv`` text: NaN floats empty (also
    two in a row and at a line's end), while a sample or signature literally named ``nan`` (or
    ``NA``, ``None``) stays text, and names needing quotes go through pandas' quoting."""
    from ressig._atomic import FLOAT_FORMAT
    from ressig.cohort.calls import with_call_placeholders
    from ressig.cohort.options import SCORE_COLUMNS
    from ressig.cohort.sinks import ScoreSink, read_scores, to_wide, wide_columns

    for samples in (["nan", "NA", "None", "S-1.x"], ["a", "b#1", 'q"uote', "c"]):
        n = len(samples)
        chunk = pd.DataFrame({
            "signature": np.repeat(["nan", "SIG"], n), "sample": samples * 2,
            "score": [0.1, np.nan, 0.3, 1 / 3] * 2, "up_score": np.nan, "down_score": [np.nan, 0.2, 0.1, 0.0] * 2,
            "dispersion": 1.5, "n_genes_used": np.arange(2 * n), "n_genes_missing": 0, "null_method": "matched",
            "percentile": np.nan, "zscore": [np.nan, 1.0, np.nan, 2.0] * 2, "reference": "",
        })
        extra = ("up_score", "down_score") if layout == "wide" else ()
        sink = ScoreSink(tmp_path / "s.tsv", layout, ["nan", "SIG"], extra)
        sink.write(chunk)
        sink.commit()
        full = sink.columns
        frame = (with_call_placeholders(chunk)[SCORE_COLUMNS] if layout == "long"
                 else to_wide(chunk, ["nan", "SIG"], extra))
        assert list(frame.columns) == list(full) and (layout == "long" or full == wide_columns(["nan", "SIG"], extra))
        want = frame.to_csv(sep="\t", index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
        assert (tmp_path / "s.tsv").read_text() == want
        back = read_scores(tmp_path / "s.tsv")
        assert list(back["sample"][:n]) == samples


@pytest.mark.parametrize("suffix", [".tsv", ".parquet"])
def test_read_expression_checks_nan_and_infinity_in_one_pass(tmp_path, suffix, caplog):
    """A finite total means no NaN and no infinity; otherwise missing cells are logged and an
    infinity is refused naming the file, while finite values whose sum overflows are accepted."""
    def write(name: str, values: list[list[float]]) -> Path:
        frame = pd.DataFrame(values, index=pd.Index(["G1", "G2"], name="gene_id"), columns=["S-1", "2.b"])
        path = tmp_path / f"{name}{suffix}"
        if suffix == ".tsv":
            frame.to_csv(path, sep="\t")
        else:
            frame.reset_index().to_parquet(path, index=False)
        return path

    big = write("big", [[1e308, 1e308], [1.0, 2.0]])  # the total overflows to inf: nothing is wrong
    assert read_expression(big).loc["S-1", "G1"] == 1e308
    with caplog.at_level("WARNING", logger="ressig"):
        missing = read_expression(write("missing", [[np.nan, 1.0], [1.0, 2.0]]))
    assert np.isnan(missing.loc["S-1", "G1"]) and "1 cell(s) not numbers" in caplog.text
    for name, bad in (("inf", [[np.inf, 1.0], [1.0, 2.0]]), ("neginf_nan", [[np.nan, 1.0], [-np.inf, 2.0]])):
        path = write(name, bad)
        with pytest.raises(RessigError, match=rf"{path.name}.*matrix holds infinite values"):
            read_expression(path)
