"""tximport normalisation factors (ressig.normfactors): R parity of the factors and the lengths, plumbing.

R references: ``tests/fixtures/tximport_salmon`` (R tximport 1.26 + DESeq2 1.38 on six GEUVADIS
salmon quantifications; see ``tests/fixtures/README.md``). The DE bar (r(LFC), genes differing by
> 0.1 log2) is in ``tests/test_fixtures_r.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ressig.errors import RessigError

TXI = Path(__file__).parent / "fixtures" / "tximport_salmon"


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(TXI / name, sep="\t", index_col=0)


def _sheet(tmp_path: Path) -> Path:
    """The fixture's sample sheet with absolute quantification paths."""
    sheet = pd.read_csv(TXI / "samples.tsv", sep="\t")
    sheet["counts"] = [str(TXI / c) for c in sheet["counts"]]
    path = tmp_path / "samples.tsv"
    sheet.to_csv(path, sep="\t", index=False)
    return path


def _mapped(mapping: Path, genes: pd.Index) -> pd.Index:
    """R's gene ids as ``ressig prepare`` harmonised them (its gene mapping report)."""
    m = pd.read_csv(mapping, sep="\t", index_col="input_id")["mapped_id"]
    return pd.Index(m.loc[genes].to_numpy())


def test_norm_factors_equal_r_estimate_norm_factors():
    """R's txi counts and lengths of the tested genes -> DESeq2's normalizationFactors(dds)."""
    from ressig.normfactors import length_size_factors, norm_factors

    r_nf = _read("deseq2_normalization_factors.tsv.gz")
    counts = _read("tximport_counts.tsv.gz").loc[r_nf.index, r_nf.columns].round()
    lengths = _read("tximport_length.tsv.gz").loc[r_nf.index, r_nf.columns]
    sf = length_size_factors(counts.to_numpy(), lengths.to_numpy())
    nf = norm_factors(lengths.to_numpy(), sf)
    assert np.max(np.abs(nf / r_nf.to_numpy() - 1)) < 1e-8
    assert np.allclose(np.exp(np.log(nf).mean(axis=1)), 1.0)          # centred per gene
    # the lengths matter: plain median-of-ratios size factors are off by up to 80% for some genes
    assert np.max(np.abs(r_nf.to_numpy() / sf[None, :] - 1)) > 0.5


def test_prepare_salmon_lengths_equal_r_tximport(tmp_path):
    """``ressig prepare --format salmon --out-lengths``: counts = round(txi$counts), lengths = txi$length."""
    from ressig.io import prepare_inputs, read_matrix_tsv

    out = tmp_path / "out"
    counts, _ = prepare_inputs(None, _sheet(tmp_path), out / "counts.tsv", out / "samples.tsv", fmt="salmon",
                               tx2gene=TXI / "tx2gene.csv.gz", out_lengths=out / "lengths.tsv",
                               out_mapping=out / "mapping.tsv")
    lengths = read_matrix_tsv(out / "lengths.tsv")
    r_counts, r_len = _read("tximport_counts.tsv.gz"), _read("tximport_length.tsv.gz")
    ids = _mapped(out / "mapping.tsv", r_len.index)          # 2016 RefSeq symbols -> today's (one renamed)
    assert (ids != r_len.index).any()
    assert sorted(lengths.index) == sorted(ids) and list(lengths.columns) == list(r_len.columns)
    assert list(lengths.index) == list(counts.index)
    assert np.max(np.abs(lengths.loc[ids].to_numpy() / r_len.to_numpy() - 1)) < 1e-8
    assert (counts.loc[ids].to_numpy() == r_counts.round().to_numpy()).all()


def test_prepare_length_scaled_tpm_equals_r_and_writes_no_lengths(tmp_path):
    from ressig.io import prepare_inputs

    out = tmp_path / "out"
    kw = dict(fmt="salmon", tx2gene=TXI / "tx2gene.csv.gz", counts_from_abundance="length_scaled_tpm",
              out_mapping=out / "mapping.tsv")
    with pytest.raises(RessigError) as exc:
        prepare_inputs(None, _sheet(tmp_path), out / "c.tsv", out / "s.tsv", out_lengths=out / "l.tsv", **kw)
    assert str(exc.value) == ("cannot write transcript lengths: counts_from_abundance is length_scaled_tpm; "
                              "lengths come from salmon/kallisto/rsem quantifications with counts_from_abundance: none")
    assert not out.exists()
    counts, _ = prepare_inputs(None, _sheet(tmp_path), out / "c.tsv", out / "s.tsv", **kw)
    r_ls = _read("tximport_counts_length_scaled_tpm.tsv.gz")
    got = counts.loc[_mapped(out / "mapping.tsv", r_ls.index)].to_numpy()
    assert np.max(np.abs(got - r_ls.to_numpy())) <= 0.5 + 1e-6                # R's values, rounded
    r_est = _read("tximport_counts.tsv.gz").loc[r_ls.index].round().to_numpy()
    assert np.max(np.abs(got - r_est)) > 100                                  # a different count type


def test_constant_lengths_reproduce_the_size_factor_fit_everywhere():
    """Equal lengths make the factors the size factors divided by their geometric mean (R's centring).

    A plain PyDESeq2 fit given those same centred size factors must then agree with the
    normalisation-factor fit in every step that uses them: dispersions, coefficients, Wald test,
    shrinkage, LRT and VST (what is left is floating-point noise).
    """
    import warnings

    from pydeseq2.dds import DeseqDataSet

    from ressig import de
    from ressig.engine import vst
    from ressig.normfactors import NormFactorDataSet

    counts = _read("tximport_counts.tsv.gz").round().astype("int64").iloc[::4]
    samples = pd.read_csv(TXI / "samples.tsv", sep="\t", index_col=0)
    meta = de.build_metadata(samples, "condition", "A", "B")
    counts = counts.loc[de.filter_counts(counts, 10, 3)]

    def kwargs():
        return dict(counts=counts.T, metadata=meta, design="~condition", quiet=True, inference=de.make_inference())

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nf = NormFactorDataSet(lengths=pd.DataFrame(1500.0, index=counts.columns, columns=counts.index), **kwargs())
        de._deseq2_r_parity(nf)
        plain = DeseqDataSet(**kwargs())
        plain.fit_size_factors()
        scale = float(np.exp(np.log(plain.obs["size_factors"]).mean()))
        assert abs(scale - 1) > 0.005                                  # the centring is visible
        plain.obs["size_factors"] /= scale
        plain.layers["normed_counts"] *= scale
        plain.var["_normed_means"] = plain.layers["normed_counts"].mean(axis=0)
        plain.fit_size_factors = lambda **kw: None                     # keep the centred factors
        de._deseq2_r_parity(plain)
        assert np.allclose(nf.layers["norm_factors"], plain.obs["size_factors"].to_numpy()[:, None], rtol=1e-12)
        for col in ["genewise_dispersions", "fitted_dispersions", "dispersions"]:
            assert np.allclose(nf.var[col], plain.var[col], rtol=1e-5), col   # measured 9e-7 (line-search stops)
        assert np.allclose(nf.varm["LFC"], plain.varm["LFC"], rtol=1e-8, atol=1e-10)
        got, want = (de._contrast_stats(d, meta, "condition", [], "B", "A", 0.05, True, d.inference)
                     for d in (nf, plain))
        assert np.allclose(got, want, rtol=1e-6, atol=1e-6, equal_nan=True)        # measured max 2e-8
        assert np.allclose(de.lrt(nf, np.ones((6, 1))), de.lrt(plain, np.ones((6, 1))), rtol=1e-6, atol=1e-8,
                           equal_nan=True)
        assert np.allclose(vst(nf), vst(plain), rtol=1e-8)
    # and through run_de: the same calls and log2 fold changes as the plain size-factor fit
    lengths = pd.DataFrame(1500.0, index=counts.index, columns=counts.columns)
    with_nf = de.run_de(counts, samples, reference="A", treatment="B", lengths=lengths)
    without = de.run_de(counts, samples, reference="A", treatment="B")
    assert with_nf.normalization == "avgTxLength" and without.normalization == "size_factors"
    assert np.allclose(with_nf.size_factors, without.size_factors, rtol=1e-12)
    assert np.allclose(with_nf.normalized, without.normalized * scale, rtol=1e-10)
    assert np.allclose(with_nf.table["log2FoldChange"], without.table.loc[with_nf.table.index, "log2FoldChange"],
                       atol=1e-3)


def test_pydeseq2_engine_refuses_lengths():
    from ressig.de import run_de

    counts = _read("tximport_counts.tsv.gz").round().astype("int64").iloc[:200]
    samples = pd.read_csv(TXI / "samples.tsv", sep="\t", index_col=0)
    with pytest.raises(RessigError) as exc:
        run_de(counts, samples, reference="A", treatment="B", engine="pydeseq2",
               lengths=_read("tximport_length.tsv.gz").loc[counts.index])
    assert str(exc.value) == ("DE engine 'pydeseq2' cannot use transcript lengths (pydeseq2 has no normalisation "
                              "factors); use de.engine: ressig, or counts.counts_from_abundance: length_scaled_tpm")


def test_engine_refuses_factors_of_the_wrong_shape():
    from ressig.engine import VectorizedInference

    inf = VectorizedInference()
    counts = np.ones((4, 3))
    with inf.offsets(np.ones((4, 2))), pytest.raises(ValueError, match=r"shape \(4, 2\) set for counts of shape"):
        inf.lin_reg_mu(counts, np.ones(4), np.ones((4, 1)), 0.5)
    assert inf.norm_factors is None                          # restored after the context


@pytest.mark.parametrize(("cell", "message"), [
    ("gene", "1 gene(s) of the counts have no lengths (first: 'G2'). Use the lengths.tsv written by "
             "'ressig prepare' together with its counts.tsv"),
    ("zero", "length 0 at gene 'G2', column 'B' is not a positive number. Average transcript lengths must be > 0"),
    ("sample", "sample(s) B of the counts have no length column. Use the lengths.tsv written by 'ressig prepare' "
               "together with its counts.tsv"),
])
def test_read_lengths_errors(tmp_path, cell, message):
    from ressig.normfactors import read_lengths

    table = {"gene": "gene_id\tA\tB\nG1\t1000\t900\n", "zero": "gene_id\tA\tB\nG1\t1000\t900\nG2\t10\t0\n",
             "sample": "gene_id\tA\nG1\t1000\nG2\t10\n"}[cell]
    path = tmp_path / "lengths.tsv"
    path.write_text(table)
    with pytest.raises(RessigError) as exc:
        read_lengths(path, pd.Index(["G1", "G2"]), pd.Index(["A", "B"]))
    assert str(exc.value) == f"{path}: {message}"


def test_workflow_salmon_uses_lengths_by_default(tmp_path):
    """The workflow on the salmon fixture: prepare writes lengths.tsv, de uses them and records it;
    ``counts_from_abundance: length_scaled_tpm`` drops them (dry run)."""
    import shutil

    from conftest import copy_workflow, run_snakemake

    wd = copy_workflow(tmp_path / "wd")
    for part in ("salmon", "samples.tsv", "tx2gene.csv.gz"):
        src = TXI / part
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, wd / part)
    config = ("samples: samples.tsv\ncounts: {path: null, format: salmon, tx2gene: tx2gene.csv.gz}\n"
              "design: {reference: A, treatment: B}\n")
    (wd / "salmon.yaml").write_text(config)
    run_snakemake(wd, "results/de/B_vs_A.tsv", "--configfile", "salmon.yaml")
    assert (wd / "results/counts/lengths.tsv").exists()
    sf = pd.read_csv(wd / "results/de/size_factors.tsv", sep="\t", index_col=0)
    assert set(sf["normalization"]) == {"avgTxLength"}
    assert "normalisation: per-gene, per-sample normalisation factors from average transcript lengths" in \
        (wd / "logs/de.log").read_text()
    (wd / "tpm.yaml").write_text(config.replace("tx2gene.csv.gz}", "tx2gene.csv.gz, "
                                                "counts_from_abundance: length_scaled_tpm}"))
    dry = run_snakemake(wd, "results/de/B_vs_A.tsv", "-n", "-p", "-F", "--configfile", "tpm.yaml")
    assert "--counts-from-abundance length_scaled_tpm" in dry.stdout
    assert "lengths" not in dry.stdout, dry.stdout[-3000:]
    (wd / "py.yaml").write_text(config + "de: {engine: pydeseq2}\n")
    bad = run_snakemake(wd, "-n", "--configfile", "py.yaml", check=False)
    assert bad.returncode != 0
    assert ("py.yaml: de.engine pydeseq2 cannot use the salmon transcript lengths (pydeseq2 has no normalisation "
            "factors); set de.engine: ressig, or counts.counts_from_abundance: length_scaled_tpm") in bad.stdout + bad.stderr


def test_cooks_replacement_and_refit_with_factors_match_r():
    """7 v 7 with planted outliers (``tests/fixtures/tximport_refit``): R replaces the same 40 genes'
    counts by trimmed mean(counts / nf) * nf and refits them; ressig's log2 fold changes agree."""
    import warnings

    from ressig import de
    from ressig.normfactors import NormFactorDataSet

    fx = TXI.parent / "tximport_refit"
    counts = pd.read_csv(fx / "counts.tsv.gz", sep="\t", index_col=0)
    lengths = pd.read_csv(fx / "lengths.tsv.gz", sep="\t", index_col=0)
    samples = pd.read_csv(fx / "samples.tsv", sep="\t", index_col=0)
    r_res = pd.read_csv(fx / "deseq2_results.tsv.gz", sep="\t", index_col=0)
    replaced = r_res["replace"].astype(bool)
    assert replaced.sum() == 40
    res = de.run_de(counts, samples, reference="A", treatment="B", lengths=lengths, shrink=False)
    t = res.table.loc[r_res.index]
    diff = (t["log2FoldChange"] - r_res["log2FoldChange"]).abs()
    assert diff.max() < 1e-3 and diff[replaced].max() < 1e-4            # measured 3.0e-5 and 2.8e-6
    assert _calls(t) == _calls(r_res) and len(_calls(r_res)) > 50
    # the replaced genes: ressig's table keeps the baseMean of the original counts, R reports that
    # of the replaced counts (as for size factors); every other gene agrees
    assert np.max(np.abs(t["baseMean"][~replaced] / r_res["baseMean"][~replaced] - 1)) < 1e-10
    meta = de.build_metadata(samples, "condition", "A", "B")
    keep = de.filter_counts(counts, 10, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dds = NormFactorDataSet(lengths=lengths.loc[keep].T, counts=counts.loc[keep].T, metadata=meta,
                                design="~condition", quiet=True, inference=de.make_inference())
        de._deseq2_r_parity(dds)
    assert (dds.var.loc[r_res.index, "refitted"].astype(bool) == replaced).all()
    assert np.allclose(dds.var.loc[r_res.index[replaced], "_normed_means"], r_res["baseMean"][replaced], rtol=1e-10)


def _calls(df: pd.DataFrame) -> set[str]:
    return set(df.index[df["padj"] < 0.05])


@pytest.mark.parametrize("kind", ["salmon", "kallisto"])
def test_average_transcript_length_is_the_abundance_weighted_mean(tmp_path, kind):
    """tximport's gene length: sum(TPM_t * effective length_t) / sum(TPM_t) over the gene's transcripts;
    ids duplicated after harmonisation (``duplicates: sum``) get the count-weighted mean length."""
    from ressig.io import read_counts_input

    eff = np.array([1000.0, 1500.0, 2000.0, 500.0])
    reads = {"S1": np.array([10.0, 5.0, 20.0, 1.0]), "S2": np.array([0.0, 8.0, 4.0, 30.0])}
    tx = pd.DataFrame({"tx": ["T1", "T2", "T3", "T4"], "gene": ["G1", "G1", "MDR1", "ABCB1"]})
    tx.to_csv(tmp_path / "t2g.tsv", sep="\t", index=False)
    files = {}
    for s, r in reads.items():
        tpm = r / eff / (r / eff).sum() * 1e6
        (tmp_path / s).mkdir()
        if kind == "salmon":
            df = pd.DataFrame({"Name": tx["tx"], "Length": eff + 100, "EffectiveLength": eff, "TPM": tpm,
                               "NumReads": r})
            files[s] = tmp_path / s / "quant.sf"
        else:
            df = pd.DataFrame({"target_id": tx["tx"], "length": eff + 100, "eff_length": eff, "est_counts": r,
                               "tpm": tpm})
            files[s] = tmp_path / s / "abundance.tsv"
        df.to_csv(files[s], sep="\t", index=False)
    got = read_counts_input(fmt=kind, files=files, tx2gene=tmp_path / "t2g.tsv", duplicates="sum")
    for s, r in reads.items():
        tpm = r / eff
        assert got.lengths.loc["G1", s] == pytest.approx((tpm[:2] * eff[:2]).sum() / tpm[:2].sum(), rel=1e-9)
        # MDR1 -> ABCB1 (curated alias): counts summed, lengths weighted by the counts
        assert got.counts.loc["ABCB1", s] == round(r[2]) + round(r[3])
        assert got.lengths.loc["ABCB1", s] == pytest.approx((r[2] * eff[2] + r[3] * eff[3]) / (r[2] + r[3]), rel=1e-9)
    assert list(got.lengths.index) == list(got.counts.index)
    none = read_counts_input(fmt=kind, files=files, tx2gene=tmp_path / "t2g.tsv", duplicates="sum",
                             counts_from_abundance="length_scaled_tpm")
    assert none.lengths is None
