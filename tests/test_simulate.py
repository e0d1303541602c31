"""Demo data: the shipped files are exactly what the documented generator produces."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd

from conftest import REPO
from ressig.simulate import PLANTED_NAMED, SANCTUARY_ARMS, simulate_experiment, simulate_sanctuary


def test_shipped_demo_is_reproducible(tmp_path):
    subprocess.run([sys.executable, "-m", "ressig", "-q", "simulate", "--outdir", str(tmp_path),
                    "--genesets-dir", str(REPO / "resources/genesets")], check=True, timeout=300)
    for name in ["counts.tsv", "protein.tsv", "truth.tsv", "plate.tsv", "dye.tsv"]:
        assert (tmp_path / name).read_bytes() == (REPO / "resources/demo" / name).read_bytes(), name
    assert (tmp_path / "samples.tsv").read_bytes() == (REPO / "config/samples.tsv").read_bytes()


def test_planted_truth_table():
    d = simulate_experiment(n_genes=3000, n_background_de=50, seed=1, genesets_dir=REPO / "resources/genesets")
    t = d.truth
    assert t.loc["ABCB1", "log2FC_true"] == 4.0 and t.loc["IL3RA", "log2FC_true"] == 0.0
    assert int(t["de_true"].sum()) == 50 + len(PLANTED_NAMED)
    # genes of every shipped gene set are present with real symbols
    for line in (REPO / "resources/genesets").glob("*.gmt"):
        for row in line.read_text().splitlines():
            assert set(row.split("\t")[2:]) <= set(t.index)
    # protein: CD123 ~4x lower, P-gp higher in resistant cells
    p = d.protein.assign(net=lambda x: x["value"] - x["isotype"], cond=lambda x: x["sample"].str[7])
    ratio = p.groupby(["marker", "cond"])["net"].median().unstack()
    assert 3.5 < ratio.loc["CD123", "P"] / ratio.loc["CD123", "R"] < 4.5
    assert ratio.loc["P-gp", "R"] / ratio.loc["P-gp", "P"] > 6
    # negative-binomial counts: variance exceeds the mean for well-expressed genes
    c = d.counts.loc[t.index[(t["mean_parental"] > 500) & ~t["de_true"]], d.samples["sample"][:3]]
    assert (c.var(axis=1) > c.mean(axis=1)).mean() > 0.7
    assert np.issubdtype(d.counts.dtypes.iloc[0], np.integer)
    assert isinstance(d.samples, pd.DataFrame)


#: The documented command that made resources/sanctuary/ (config/sanctuary.yaml and README.md name it).
SANCTUARY_CMD = ("ressig simulate --design sanctuary --n-genes 3000 --n-background-de 150 --seed 20261204 "
                 "--genesets-dir resources/genesets --outdir resources/sanctuary")


def test_shipped_sanctuary_data_is_reproducible(tmp_path):
    lines = (REPO / "config/sanctuary.yaml").read_text().splitlines()
    config = " ".join(line[1:] for line in lines if line.startswith("#")).replace("\\", " ")
    assert SANCTUARY_CMD in " ".join(config.split())  # the command the config documents
    args = SANCTUARY_CMD.split()[1:]
    args[args.index("--outdir") + 1] = str(tmp_path)
    args[args.index("--genesets-dir") + 1] = str(REPO / "resources/genesets")
    subprocess.run([sys.executable, "-m", "ressig", "-q", *args], check=True, timeout=300)
    for name in ["counts.tsv", "samples.tsv", "protein.tsv", "truth.tsv"]:
        assert (tmp_path / name).read_bytes() == (REPO / "resources/sanctuary" / name).read_bytes(), name


def test_sanctuary_planted_truth():
    d = simulate_sanctuary(n_genes=2000, n_background_de=60, n_site_de=10, seed=3,
                           genesets_dir=REPO / "resources/genesets")
    t, arms = d.truth, list(SANCTUARY_ARMS)
    assert list(d.samples["condition"].unique()) == ["parental", *arms]
    assert (d.samples.groupby("condition").size() == 3).all() and d.samples["sample"].is_unique
    # batch b<i>: replicate i of every condition (for the in vivo arms: mouse i)
    assert d.samples.groupby("batch")["condition"].nunique().eq(5).all()
    lfc = t[[f"log2FC_{a}" for a in arms]]
    assert lfc.loc["ABCB1"].tolist() == [3.0, 3.0, 3.5, 5.0] and (lfc.loc["IL3RA"] == 0).all()
    # the shared program, scaled per arm; each arm's own genes DE in that arm only
    shared = t.index[t["category"].str.startswith("shared_") & (t.index != "ABCB1")]
    assert len(shared) == 60 + len(PLANTED_NAMED) - 1
    assert np.allclose(lfc.loc[shared, "log2FC_resistant_spleen"], 0.8 * lfc.loc[shared, "log2FC_resistant"])
    for a in arms:
        own = t.index[t["category"].isin([f"{a}_up", f"{a}_down"])]
        assert len(own) == 10 and (lfc.loc[own].ne(0).sum(axis=1) == 1).all() and (lfc.loc[own, f"log2FC_{a}"] != 0).all()
    assert int(t["de_true"].sum()) == len(shared) + 1 + 10 * len(arms)
    # protein: CD123 ~4x lower in every arm, P-gp highest in the CNS
    p = d.protein.assign(net=lambda x: x["value"] - x["isotype"]).merge(d.samples, on="sample")
    ratio = p.groupby(["marker", "condition"])["net"].median().unstack()
    ratio = ratio.div(ratio["parental"], axis=0)
    assert ratio.loc["CD123", arms].between(0.2, 0.3).all()
    assert ratio.loc["P-gp", arms].idxmax() == "resistant_cns" and ratio.loc["P-gp", arms].min() > 3
