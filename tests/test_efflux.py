"""Efflux step: gene-set scores by condition and GSEA prerank, asserted on the real workflow outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ressig._log import logger
from ressig.cli import main as ressig_main
from ressig.de import read_de
from ressig.errors import RessigError
from ressig.genesets import parse_gmt, read_gmt
from ressig.gsea import GSEA_COLUMNS, ranking_from_de, run_prerank
from ressig.io import read_matrix_tsv
from ressig.scoring import score_frame, signatures_from_genesets

REPO = Path(__file__).resolve().parents[1]
CURATED = "resources/genesets/ressig_curated.gmt"
EFFLUX = "MULTIDRUG_EFFLUX_CORE"


@pytest.fixture(scope="module")
def gsea(demo_run: Path) -> pd.DataFrame:
    return pd.read_csv(demo_run / "results/efflux/gsea.tsv", sep="\t", index_col=0, keep_default_na=False,
                       na_values=[""])


@pytest.fixture(scope="module")
def scores(demo_run: Path) -> pd.DataFrame:
    return pd.read_csv(demo_run / "results/efflux/scores.tsv", sep="\t")


# ---------------------------------------------------------------------------------------------
# the bar, on the real workflow outputs


def test_efflux_core_enriched_with_abcb1_in_leading_edge(gsea):
    row = gsea.loc[EFFLUX]
    assert row["status"] == "tested"
    assert row["nes"] > 0
    assert row["fdr"] < 0.05
    assert "ABCB1" in row["leading_edge"].split(";")
    # the planted efflux genes lead the edge; the full HGNC ABC group is enriched too
    assert {"ABCB1", "ABCG2", "ABCC1", "ABCC4", "ABCC3"} <= set(row["leading_edge"].split(";"))
    # the extended set (core + weakly supported members, incl. the planted MVP) is enriched too
    assert gsea.loc["MULTIDRUG_EFFLUX_EXTENDED", "nes"] > 0 and gsea.loc["MULTIDRUG_EFFLUX_EXTENDED", "fdr"] < 0.05
    assert gsea.loc["HGNC_ABC_TRANSPORTERS", "nes"] > 0
    # the numbers quoted in README.md
    # (NES moves between gseapy versions: core 2.00 with the newest, 1.97 with 1.1.0, the lowest allowed;
    # extended 2.23 and 2.33)
    assert row["nes"] == pytest.approx(2.0, abs=0.05) and row["fdr"] < 0.01
    assert row["leading_edge"].split(";")[0] == "ABCB1"
    ext = gsea.loc["MULTIDRUG_EFFLUX_EXTENDED"]
    assert ext["nes"] > 2.0 and ext["fdr"] < 0.001
    # the top two sets of the whole table are the efflux sets (extended = core + weaker members incl. planted MVP)
    # (with gseapy 1.1.0, the lowest allowed, the HGNC ABC group comes between them)
    assert {"MULTIDRUG_EFFLUX_EXTENDED", EFFLUX} <= set(gsea.index[:3])
    assert gsea.index[0] == "MULTIDRUG_EFFLUX_EXTENDED"


def test_every_resistant_sample_scores_above_every_parental(scores, demo_run):
    eff = scores[scores["signature"] == EFFLUX]
    assert len(eff) == 6
    resistant = eff.loc[eff["condition"] == "resistant", "score"]
    parental = eff.loc[eff["condition"] == "parental", "score"]
    assert len(resistant) == 3 and len(parental) == 3
    assert resistant.min() > parental.max()
    assert (eff["n_genes_used"] == 6).all() and (eff["n_genes_missing"] == 0).all()
    sep = pd.read_csv(demo_run / "results/efflux/separation.tsv", sep="\t", index_col=0)
    assert bool(sep.loc[EFFLUX, "separated"]) is True
    assert sep.loc[EFFLUX, "difference"] > 0


def test_gsea_table_lists_every_set(gsea):
    assert list(gsea.columns) == GSEA_COLUMNS[1:]
    assert set(gsea.index) == set(read_gmt(REPO / CURATED))
    assert (gsea["n_in_ranking"] <= gsea["n_genes"]).all()
    tested = gsea[gsea["status"] == "tested"]
    assert tested["fdr"].between(0, 1).all() and tested["pval"].between(0, 1).all()


def test_scores_table_matches_engine(scores, demo_run):
    expr = read_matrix_tsv(demo_run / "results/de/normalized_counts.tsv")
    want = score_frame(expr, signatures_from_genesets(read_gmt(demo_run / CURATED)))
    got = scores.drop(columns="condition")
    np.testing.assert_allclose(got["score"], want["score"], rtol=1e-9)
    assert got["signature"].tolist() == want["signature"].tolist()
    assert scores.groupby("signature").size().eq(6).all()


def test_plots_written(demo_run):
    out = demo_run / "results/efflux"
    for f in ["scores.png", "gsea_nes.png", "enrichment/MULTIDRUG_EFFLUX_CORE.png",
              "enrichment/HGNC_ABC_TRANSPORTERS.png"]:
        assert (out / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f
    assert len(list((out / "enrichment").glob("*.png"))) >= 5  # efflux sets + top 5 by FDR (overlapping)


# ---------------------------------------------------------------------------------------------
# determinism


def test_rerun_gives_identical_tables(demo_run, tmp_path, monkeypatch):
    monkeypatch.chdir(demo_run)
    rc = ressig_main(["-q", "efflux", "--de", "results/de/resistant_vs_parental.tsv",
                      "--expression", "results/de/normalized_counts.tsv", "--samples", "results/counts/samples.tsv",
                      "--genesets", CURATED, "--outdir", str(tmp_path)])
    assert rc == 0
    for f in ["gsea.tsv", "scores.tsv", "separation.tsv"]:
        assert (tmp_path / f).read_bytes() == (demo_run / "results/efflux" / f).read_bytes(), f


def test_same_seed_identical_other_seed_differs(demo_run):
    ranking = ranking_from_de(read_de(demo_run / "results/de/resistant_vs_parental.tsv"))
    sets = read_gmt(demo_run / CURATED)
    a = run_prerank(ranking, sets, min_size=5, permutations=200, seed=7).table
    b = run_prerank(ranking, sets, min_size=5, permutations=200, seed=7).table
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    c = run_prerank(ranking, sets, min_size=5, permutations=200, seed=8).table
    assert not np.allclose(a["nes"].to_numpy(float), c.loc[a.index, "nes"].to_numpy(float))
    pd.testing.assert_series_equal(a["es"], c.loc[a.index, "es"])  # ES does not depend on the seed


# ---------------------------------------------------------------------------------------------
# size filter, user gene sets, errors


def test_dropped_sets_are_reported(caplog, monkeypatch):
    monkeypatch.setattr(logger, "propagate", True)  # the CLI's log handler may be installed already
    rng = np.random.default_rng(3)
    genes = [f"G{i}" for i in range(300)]
    ranking = pd.Series(np.sort(rng.normal(size=300))[::-1], index=genes, name="stat")
    sets = parse_gmt("TOP\td\t" + "\t".join(genes[:20]) + "\nTINY\td\tG1\tG2\tG3\n"
                     "ABSENT\td\tX1\tX2\tX3\tX4\tX5\tX6\nBIG\td\t" + "\t".join(genes[:120]) + "\n", "u.gmt")
    with caplog.at_level("WARNING", logger="ressig"):
        res = run_prerank(ranking, sets, min_size=5, max_size=100, permutations=100, seed=1)
    t = res.table
    assert t.loc["TOP", "status"] == "tested" and t.loc["TOP", "nes"] > 0
    assert t.loc["TINY", "status"] == "dropped: 3 of 3 genes found < min_size 5"
    assert t.loc["ABSENT", "status"] == "dropped: 0 of 6 genes found < min_size 5"
    assert t.loc["BIG", "status"] == "dropped: 120 genes found > max_size 100"
    assert t.loc[["TINY", "ABSENT", "BIG"], "nes"].isna().all()
    assert t.index[0] == "TOP"  # tested sets first
    for name in ["TINY", "ABSENT", "BIG"]:
        assert f"gene set {name} dropped" in caplog.text


def test_ranking_from_de_drops_untested_and_breaks_ties_by_gene():
    de = pd.DataFrame({"stat": [1.0, np.nan, 3.0, 1.0]}, index=["b", "x", "c", "a"])
    r = ranking_from_de(de)
    assert r.index.tolist() == ["c", "a", "b"]
    with pytest.raises(RessigError, match="no column 'nope'"):
        ranking_from_de(de, "nope")


def test_user_gmt_added_and_unknown_efflux_set(demo_run, tmp_path, monkeypatch):
    user = tmp_path / "user.gmt"
    user.write_text("MY_TOP_UP\tplanted efflux genes\tABCB1\tABCG2\tABCC1\tABCC4\tABCC3\tMVP\n")
    monkeypatch.chdir(demo_run)
    args = ["efflux", "--de", "results/de/resistant_vs_parental.tsv", "--expression",
            "results/de/normalized_counts.tsv", "--samples", "results/counts/samples.tsv",
            "--genesets", CURATED, str(user), "--permutations", "100", "--top-n", "0", "--outdir", str(tmp_path / "o")]
    assert ressig_main(["-q", *args]) == 0
    g = pd.read_csv(tmp_path / "o/gsea.tsv", sep="\t", index_col=0)
    assert g.loc["MY_TOP_UP", "status"] == "tested" and g.loc["MY_TOP_UP", "nes"] > 0
    s = pd.read_csv(tmp_path / "o/scores.tsv", sep="\t")
    assert s["signature"].nunique() == 11  # 10 curated sets + MY_TOP_UP
    proc = subprocess.run([sys.executable, "-m", "ressig", "-q", *args, "--efflux-sets", "NOT_A_SET"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("ressig: error: efflux set(s) NOT_A_SET (config efflux.sets) are not in the "
                                  "gene-set files")
    bad = tmp_path / "bad.gmt"
    bad.write_text("A\td\tABCB1\nB\td\n")
    proc = subprocess.run([sys.executable, "-m", "ressig", "-q", *args[:-4], "--genesets", str(bad),
                           "--efflux-sets", "--outdir", str(tmp_path / "o2")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"ressig: error: {bad}: line 2: gene set 'B' has no genes. Add genes after the "
                                   "description field (tab-separated) or remove the line")


def test_config_genesets_files_reach_the_rule(tmp_path):
    """A user GMT listed under genesets.files is an input of the efflux rule (dry run)."""
    from conftest import copy_workflow, run_snakemake

    wd = copy_workflow(tmp_path / "wf")
    (wd / "my.gmt").write_text("MINE\td\tABCB1\tABCG2\tABCC1\tABCC4\tABCC3\n")
    cfg = (wd / "config/demo.yaml").read_text()
    cfg = cfg.replace("    - resources/genesets/ressig_curated.gmt\n",
                      "    - resources/genesets/ressig_curated.gmt\n    - my.gmt\n")
    assert "- my.gmt" in cfg
    (wd / "config/demo.yaml").write_text(cfg)
    proc = run_snakemake(wd, "-n", "-p", "efflux")
    assert "--genesets resources/genesets/ressig_curated.gmt my.gmt" in proc.stdout
    (wd / "config/demo.yaml").write_text(cfg.replace("min_size: 5", "min_size: 0"))
    proc = run_snakemake(wd, "-n", "efflux", check=False)
    assert proc.returncode != 0 and "min_size" in proc.stdout + proc.stderr
