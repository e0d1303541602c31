"""Demo data: the shipped files are exactly what the documented generator produces."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd

from conftest import REPO
from ressig.simulate import PLANTED_NAMED, simulate_experiment


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
