"""PyDESeq2 wrapper: planted effects recovered, fold-change orientation, design checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ressig.de import build_metadata, design_formula, read_de, run_de, write_de
from ressig.errors import RessigError


@pytest.fixture(scope="module")
def small_de(small_experiment):
    s = small_experiment.samples.set_index("sample")
    return run_de(small_experiment.counts, s, covariates=["batch"], n_cpus=1)


def test_planted_effects_recovered(small_de, small_experiment):
    tab = small_de.table.join(small_experiment.truth)
    assert list(tab.index[:1]) == ["ABCB1"] or tab.loc["ABCB1", "padj"] < 1e-10
    sig = tab["padj"] < 0.05
    recall = (sig & tab["de_true"]).sum() / tab["de_true"].sum()
    fdr = (sig & ~tab["de_true"]).sum() / max(sig.sum(), 1)
    assert recall >= 0.85, recall
    assert fdr <= 0.1, fdr
    planted = tab[tab["de_true"] & sig]
    # sign of every recovered planted gene matches the truth (resistant vs parental)
    assert (np.sign(planted["log2FoldChange"]) == np.sign(planted["log2FC_true"])).all()
    assert abs(tab.loc["ABCB1", "log2FoldChange"] - 4.0) < 0.75
    assert tab.loc["IL3RA", "padj"] > 0.1


def test_table_columns_and_order(small_de):
    t = small_de.table
    assert list(t.columns) == ["baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj",
                               "log2FoldChange_shrunk", "lfcSE_shrunk", "tested"]
    tested = t[t["tested"]]
    assert tested["padj"].dropna().is_monotonic_increasing
    assert t.loc[~t["tested"], "pvalue"].isna().all()
    # shrinkage pulls fold changes towards zero, never past it
    both = tested.dropna(subset=["log2FoldChange"])
    assert (np.abs(both["log2FoldChange_shrunk"]) <= np.abs(both["log2FoldChange"]) + 1e-6).mean() > 0.99
    assert small_de.name == "resistant_vs_parental"
    # normalised counts = counts / size factors
    assert np.allclose(small_de.normalized.sum(axis=0) * small_de.size_factors,
                       small_de.normalized.mul(small_de.size_factors, axis=1).sum(axis=0))


def test_reference_level_fixes_orientation(small_experiment):
    s = small_experiment.samples.set_index("sample")
    counts = small_experiment.counts.loc[["ABCB1", "IL3RA", "SLC46A3", *small_experiment.counts.index[100:600]]]
    fwd = run_de(counts, s, shrink=False)
    rev = run_de(counts, s, reference="resistant", treatment="parental", shrink=False)
    assert rev.name == "parental_vs_resistant"
    a = fwd.table["log2FoldChange"].dropna()
    b = rev.table["log2FoldChange"].reindex(a.index)
    assert np.allclose(a, -b, atol=1e-4)  # IRLS convergence tolerance
    assert fwd.table.loc["ABCB1", "log2FoldChange"] > 3


def test_write_and_read_roundtrip(small_de, tmp_path):
    files = write_de(small_de, tmp_path)
    assert [f.name for f in files] == ["resistant_vs_parental.tsv", "normalized_counts.tsv", "vst.tsv",
                                       "size_factors.tsv"]
    back = read_de(files[0])
    pd.testing.assert_series_equal(back["padj"], small_de.table["padj"], check_exact=False, rtol=1e-9)
    assert back["tested"].dtype == bool


SHEET = pd.DataFrame({"condition": ["parental"] * 3 + ["resistant"] * 3, "batch": ["b1", "b2", "b3"] * 2,
                      "lane": ["L1"] * 3 + ["L2"] * 3, "passage": ["3", "5", "x", "4", "6", "8"]},
                     index=pd.Index([f"S{i}" for i in range(6)], name="sample"))


def test_metadata_reference_first():
    meta = build_metadata(SHEET, "condition", "parental", "resistant", ["batch"])
    assert list(meta["condition"].cat.categories) == ["parental", "resistant"]
    assert design_formula("condition", ["batch"]) == "~batch + condition"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"covariates": ["lane"]}, "design ~lane + condition is not full rank: covariate(s) lane confounded with 'condition'"),
    ({"covariates": ["passage"], "continuous": ["passage"]},
     "continuous covariate 'passage' has non-numeric value 'x' for sample 'S2'"),
    ({"covariates": ["nope"]}, "sample sheet has no column 'nope' named in the config"),
    ({"treatment": "relapsed"}, "column 'condition' has level(s) 'resistant' that are neither reference"),
])
def test_design_errors(kwargs, message):
    args = {"condition": "condition", "reference": "parental", "treatment": "resistant", **kwargs}
    with pytest.raises(RessigError) as exc:
        build_metadata(SHEET, **args)
    assert message in str(exc.value)


def test_single_replicate_refused():
    sheet = SHEET.iloc[[0, 1, 3]]
    with pytest.raises(RessigError, match="treatment level 'resistant' of 'condition' has 1 sample"):
        build_metadata(sheet, "condition", "parental", "resistant")
