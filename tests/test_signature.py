"""Signature derivation, the frozen artefact (schema, versions, checksum) and GMT signatures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ressig.de import read_de
from ressig.errors import RessigError
from ressig.signature import (
    SCHEMA_VERSION,
    DerivationRules,
    build_signature,
    content_checksum,
    derive_signature,
    freeze_signature,
    load_signature,
    load_signatures,
    signatures_from_gmt,
    threshold_test,
)


def toy_de() -> pd.DataFrame:
    """A DE table with known up/down genes and decoys failing each rule."""
    rows = {
        # gene: baseMean, padj, shrunken lfc, tested, lfcSE (of the MLE = 1.1 x shrunken)
        "UP1": (500, 1e-10, 3.0, True, 0.2),
        "UP2": (500, 1e-5, 2.0, True, 0.2),
        "UP3": (500, 1e-3, 1.2, True, 0.1),
        "DN1": (500, 1e-8, -2.5, True, 0.2),
        "DN2": (500, 1e-4, -1.1, True, 0.05),
        "NEAR": (500, 1e-4, 1.3, True, 0.4),  # passes padj (vs 0) and |lfc| >= 1, but not a test against 1
        "WEAK": (500, 1e-6, 0.5, True, 0.05),  # |lfc| too small
        "NOTSIG": (500, 0.2, 2.5, True, 1.5),  # padj too large
        "LOW": (2, 1e-6, 2.5, True, 0.2),  # baseMean too small
        "UNTESTED": (500, np.nan, 4.0, False, np.nan),
    }
    for i in range(40):  # unchanged background
        rows[f"BG{i:02d}"] = (100 + i, 0.9, 0.01 * (i - 20), True, 0.3)
    de = pd.DataFrame.from_dict(rows, orient="index",
                                columns=["baseMean", "padj", "log2FoldChange_shrunk", "tested", "lfcSE"])
    de["log2FoldChange"] = de["log2FoldChange_shrunk"] * 1.1
    de["pvalue"] = pd.Series(2 * stats.norm.sf((de["log2FoldChange"] / de["lfcSE"]).abs()), index=de.index)
    de.loc[~de["tested"].astype(bool), "pvalue"] = np.nan
    de.index.name = "gene_id"
    return de


def toy_training(de: pd.DataFrame, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Normalised counts of 3 parental + 3 resistant samples consistent with ``toy_de``."""
    rng = np.random.default_rng(seed)
    base = de["baseMean"].to_numpy(dtype=float)
    lfc = de["log2FoldChange_shrunk"].fillna(0).to_numpy()
    cols = {}
    for k in range(3):
        cols[f"P{k + 1}"] = base * np.exp(rng.normal(0, 0.1, base.size))
    for k in range(3):
        cols[f"R{k + 1}"] = base * 2.0 ** lfc * np.exp(rng.normal(0, 0.1, base.size))
    norm = pd.DataFrame(cols, index=de.index)
    sheet = pd.DataFrame({"condition": ["parental"] * 3 + ["resistant"] * 3}, index=pd.Index(list(cols), name="sample"))
    return norm, sheet


@pytest.fixture
def frozen(tmp_path: Path) -> Path:
    de = toy_de()
    norm, sheet = toy_training(de)
    sig = build_signature(de, norm, sheet, name="TOY_SIG", version="1.2.3", created="2026-01-01T00:00:00Z")
    freeze_signature(sig, tmp_path / "TOY_SIG.ressig.json", tmp_path / "TOY_SIG.gmt")
    return tmp_path / "TOY_SIG.ressig.json"


def test_derive_applies_every_rule_and_orders_by_effect():
    up, down = derive_signature(toy_de())  # default: test against the threshold
    assert list(up) == ["UP1", "UP2", "UP3"]
    assert list(down) == ["DN1", "DN2"]
    assert up["UP1"] == 3.0 and down["DN2"] == -1.1  # weights = shrunken log2FC
    up, down = derive_signature(toy_de(), DerivationRules(rule="filter"))  # the former rule also takes NEAR
    assert list(up) == ["UP1", "UP2", "NEAR", "UP3"] and list(down) == ["DN1", "DN2"]


def test_derive_max_genes_and_thresholds_configurable():
    for rule in ("threshold_test", "filter"):
        up, down = derive_signature(toy_de(), DerivationRules(max_genes=2, min_abs_lfc=1.5, rule=rule))
        assert list(up) == ["UP1", "UP2"] and list(down) == ["DN1"]
    up, _ = derive_signature(toy_de(), DerivationRules(padj=0.5, min_base_mean=0, rule="filter"))
    assert {"NOTSIG", "LOW"} <= set(up) and "UNTESTED" not in up
    with pytest.raises(RessigError, match="signature rule must be one of threshold_test, filter, not 'lfc'"):
        DerivationRules(rule="lfc")


def test_threshold_test_is_deseq2_greaterabs():
    """p = 2 * Phi(-max((|lfc| - T) / se, 0)); NaN for untested genes; BH over the tested genes (few rejections:
    independent filtering keeps every gene)."""
    de = toy_de()
    res = threshold_test(de, 1.0, 0.05)
    lfc, se = de["log2FoldChange"], de["lfcSE"]
    expected = 2 * stats.norm.sf(np.maximum((lfc.abs() - 1.0) / se, 0))
    tested = de["tested"].to_numpy()
    np.testing.assert_allclose(res["pvalue_lfc"][tested], expected[tested], rtol=1e-12)
    assert res.loc["UNTESTED"].isna().all()
    assert res.at["WEAK", "pvalue_lfc"] == 1.0  # |lfc| below the threshold: no evidence at all
    np.testing.assert_allclose(res["padj_lfc"][tested], stats.false_discovery_control(expected[tested]), rtol=1e-12)
    assert res.at["NEAR", "padj_lfc"] > 0.05 > de.at["NEAR", "padj"]


@pytest.mark.parametrize("rule,up", [(None, ["UP1", "UP2", "UP3"]), ("filter", ["UP1", "UP2", "NEAR", "UP3"])])
def test_cli_rule_recorded_in_artefact_and_gene_table(tmp_path: Path, rule: str | None, up: list[str]):
    from ressig.cli import main

    de = toy_de()
    de["stat"] = de["log2FoldChange"] / de["lfcSE"]
    de["lfcSE_shrunk"] = de["lfcSE"]
    de.to_csv(tmp_path / "de.tsv", sep="\t")
    norm, sheet = toy_training(de)
    norm.rename_axis("gene_id").to_csv(tmp_path / "norm.tsv", sep="\t")
    sheet.to_csv(tmp_path / "samples.tsv", sep="\t")
    args = ["-q", "signature", "--de", str(tmp_path / "de.tsv"), "--normalized", str(tmp_path / "norm.tsv"),
            "--samples", str(tmp_path / "samples.tsv"), "--name", "T", "--outdir", str(tmp_path / "o")]
    assert main([*args, *(["--rule", rule] if rule else [])]) == 0
    sig = load_signature(tmp_path / "o/T.ressig.json")
    assert list(sig.up) == up and sig.derivation["rules"]["rule"] == (rule or "threshold_test")
    genes = pd.read_csv(tmp_path / "o/T_genes.tsv", sep="\t")
    assert ("padj_lfc" in genes.columns) == (rule is None)


def test_threshold_test_reproduces_pydeseq2_lfc_null_greaterabs():
    """On a real data set (Marioni kidney vs liver, 3 v 3): p-values and padj from log2FoldChange/lfcSE equal
    pydeseq2's own DeseqStats(lfc_null=1, alt_hypothesis="greaterAbs")."""
    import warnings

    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.ds import DeseqStats

    from ressig.de import filter_counts

    fx = Path(__file__).parent / "fixtures/marioni_small"
    counts = pd.read_csv(fx / "counts.tsv.gz", sep="\t", index_col=0)
    meta = pd.read_csv(fx / "samples.tsv", sep="\t", index_col=0)
    counts = counts[meta.index]
    keep = filter_counts(counts, 10, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dds = DeseqDataSet(counts=counts.loc[keep].T, metadata=meta, design="~ run + condition", quiet=True)
        dds.deseq2()
        levels = sorted(meta["condition"].unique())
        ds0 = DeseqStats(dds, contrast=["condition", levels[1], levels[0]], alpha=0.05, quiet=True)
        ds0.summary()
        ds1 = DeseqStats(dds, contrast=["condition", levels[1], levels[0]], alpha=0.05, quiet=True, lfc_null=1.0,
                         alt_hypothesis="greaterAbs")
        ds1.summary()
    de = ds0.results_df.copy()
    de["tested"] = True
    ours = threshold_test(de, 1.0, 0.05)
    ref = ds1.results_df
    np.testing.assert_allclose(ours["pvalue_lfc"], ref["pvalue"], rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(ours["padj_lfc"], ref["padj"], rtol=1e-9)
    assert (ours["padj_lfc"] < 0.05).sum() == (ref["padj"] < 0.05).sum() > 100
    assert (ours["padj_lfc"] < 0.05).sum() < (de["padj"] < 0.05).sum()  # the threshold test is stricter


def test_curated_genes_are_added_with_their_de_weight():
    up, down = derive_signature(toy_de(), curated_up=["WEAK", "ABCB1"], curated_down=["BG00"])
    assert up["WEAK"] == 0.5 and up["ABCB1"] is None and "BG00" in down
    with pytest.raises(RessigError, match="curated up gene 'DN1' is in the opposite direction"):
        derive_signature(toy_de(), curated_up=["DN1"])


def test_no_gene_passing_is_a_clear_error():
    with pytest.raises(RessigError, match="no gene passes the signature rules"):
        derive_signature(toy_de(), DerivationRules(min_abs_lfc=10))


def test_name_and_version_are_validated():
    de = toy_de()
    norm, sheet = toy_training(de)
    with pytest.raises(RessigError, match="not a semantic version"):
        build_signature(de, norm, sheet, name="X", version="1.0")
    with pytest.raises(RessigError, match="signature name 'a b' is not allowed"):
        build_signature(de, norm, sheet, name="a b")


def test_freeze_load_roundtrip_with_reference_scores(frozen: Path):
    data = json.loads(frozen.read_text())
    for key in ("name", "version", "created", "ressig_version", "id_type", "genes", "derivation", "reference",
                "checksum"):
        assert key in data
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["derivation"]["rules"]["padj"] == 0.05
    assert data["derivation"]["rules"]["rule"] == "threshold_test"
    assert data["derivation"]["selection"].startswith("tested genes with padj_lfc <= 0.05 for |log2FoldChange| > 1")
    assert data["derivation"]["contrast"] == {"condition": "condition", "reference": "parental", "treatment": "resistant"}
    sig = load_signature(frozen)
    assert (sig.name, sig.version, sig.created) == ("TOY_SIG", "1.2.3", "2026-01-01T00:00:00Z")
    assert list(sig.up) == ["UP1", "UP2", "UP3"] and list(sig.down) == ["DN1", "DN2"]
    ref = sig.reference_frame()
    assert list(ref["group"]) == ["parental"] * 3 + ["resistant"] * 3
    # the training resistant samples score higher than every parental one
    assert ref.loc[ref.group == "resistant", "score"].min() > ref.loc[ref.group == "parental", "score"].max()
    gmt = frozen.with_name("TOY_SIG.gmt").read_text().splitlines()
    assert [ln.split("\t")[0] for ln in gmt] == ["TOY_SIG_UP", "TOY_SIG_DN"]
    assert gmt[0].split("\t")[2:] == ["UP1", "UP2", "UP3"]


def test_created_honours_source_date_epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    de = toy_de()
    norm, sheet = toy_training(de)
    assert build_signature(de, norm, sheet, name="T").created == "2023-11-14T22:13:20Z"


def _rewrite(path: Path, edit, fix_checksum: bool) -> None:
    data = json.loads(path.read_text())
    edit(data)
    if fix_checksum:
        data["checksum"]["value"] = content_checksum({k: v for k, v in data.items() if k != "checksum"})
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def test_tampered_weight_is_detected(frozen: Path):
    _rewrite(frozen, lambda d: d["genes"]["up"][0].update(weight=9.0), fix_checksum=False)
    with pytest.raises(RessigError, match="signature checksum mismatch: the content was modified after freezing"):
        load_signature(frozen)


def test_tampered_gene_list_is_detected(frozen: Path):
    _rewrite(frozen, lambda d: d["genes"]["down"].pop(), fix_checksum=False)
    with pytest.raises(RessigError, match="checksum mismatch"):
        load_signature(frozen)


def test_truncated_artefact_is_a_clear_error(frozen: Path):
    raw = frozen.read_bytes()
    frozen.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(RessigError, match=r"signature artefact is not valid JSON \(truncated or corrupt"):
        load_signature(frozen)


def test_incompatible_schema_version_is_refused_even_with_valid_checksum(frozen: Path):
    _rewrite(frozen, lambda d: d.update(schema_version=3, ressig_version="9.0.0"), fix_checksum=True)
    with pytest.raises(RessigError, match=r"schema version 3 \(written by ressig 9.0.0\) is not supported"):
        load_signature(frozen)


def test_not_an_artefact_and_missing_fields(frozen: Path, tmp_path: Path):
    other = tmp_path / "other.ressig.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(RessigError, match="not a ressig signature artefact"):
        load_signature(other)
    _rewrite(frozen, lambda d: d.pop("reference"), fix_checksum=True)
    with pytest.raises(RessigError, match="lacks field"):
        load_signature(frozen)


def test_gmt_up_dn_pairs_become_one_signed_signature(tmp_path: Path):
    gmt = tmp_path / "sets.gmt"
    gmt.write_text("RES_UP\td\tA\tB\nRES_DN\td\tC\nLONELY_UP\td\tD\tE\nPLAIN\td\tF\n")
    sigs = signatures_from_gmt(gmt)
    assert [(s.name, list(s.up), list(s.down)) for s in sigs] == [
        ("RES", ["A", "B"], ["C"]), ("LONELY_UP", ["D", "E"], []), ("PLAIN", ["F"], [])]
    assert [s.name for s in load_signatures(gmt)] == ["RES", "LONELY_UP", "PLAIN"]


def test_exported_gmt_scores_like_the_artefact(frozen: Path):
    from ressig.cohort import CohortOptions, score_dense

    de = toy_de()
    norm, _ = toy_training(de, seed=11)
    data = norm.T
    a = score_dense(data, load_signatures(frozen), CohortOptions()).scores
    g = score_dense(data, load_signatures(frozen.with_name("TOY_SIG.gmt")), CohortOptions()).scores
    pd.testing.assert_series_equal(a["score"], g["score"])
    assert g["percentile"].isna().all() and a["percentile"].notna().all()


def test_frozen_loaded_scored_identical_across_processes(frozen: Path, tmp_path: Path):
    """Freeze here, score in two fresh interpreters (CLI) and in-process: identical bytes."""
    from ressig.cohort import score_cohort

    de = toy_de()
    norm, _ = toy_training(de, seed=5)
    cohort = tmp_path / "cohort.tsv"
    norm.to_csv(cohort, sep="\t")
    score_cohort(frozen, cohort, tmp_path / "inproc.tsv")
    outs = []
    for k in range(2):
        out = tmp_path / f"proc{k}.tsv"
        proc = subprocess.run([sys.executable, "-m", "ressig", "score", "--signature", str(frozen), "--input",
                               str(cohort), "--out", str(out)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == (tmp_path / "inproc.tsv").read_bytes()


@pytest.mark.workflow
def test_workflow_signature_artefact(demo_run: Path):
    sig = load_signature(demo_run / "results/signature/GEN22_RESISTANCE.ressig.json")
    assert "ABCB1" in sig.up
    assert list(sig.up)[0] == "ABCB1"  # the strongest planted effect comes first
    assert sig.derivation["rules"]["lfc_column"] == "log2FoldChange_shrunk"
    assert sig.derivation["rules"]["rule"] == "threshold_test"
    assert (len(sig.up), len(sig.down)) == (102, 82)  # the former filter rule selects 147 + 138 (see below)
    ref = sig.reference_frame()
    assert sorted(ref["group"].unique()) == ["parental", "resistant"]
    assert ref.loc[ref.group == "resistant", "score"].min() > ref.loc[ref.group == "parental", "score"].max()
    truth = pd.read_csv(demo_run / "resources/demo/truth.tsv", sep="\t", index_col=0)
    planted = set(truth.index[truth["category"].isin(["planted_up", "planted_down"])])
    false_pos = (set(sig.up) | set(sig.down)) - planted
    assert len(false_pos) <= 0.02 * (len(sig.up) + len(sig.down)), false_pos  # FDR-controlled selection
    genes = pd.read_csv(demo_run / "results/signature/GEN22_RESISTANCE_genes.tsv", sep="\t", index_col=0)
    assert len(genes) == len(sig.up) + len(sig.down)
    assert (genes["padj_lfc"] <= 0.05).all() and (genes["log2FoldChange"].abs() > 1).all()
    # SLC46A3 (planted -1.5, lfcSE ~0.2 with 3 v 3) is significant against 0 but not shown beyond |log2FC| = 1
    de = read_de(demo_run / "results/de/resistant_vs_parental.tsv")
    assert de.at["SLC46A3", "padj"] < 1e-6 and "SLC46A3" not in sig.down
    up, down = derive_signature(de, DerivationRules(rule="filter"))
    assert (len(up), len(down)) == (147, 138) and "SLC46A3" in down
    assert len((set(up) | set(down)) - planted) <= 0.02 * (len(up) + len(down))
