"""The real snakemake CLI: the bundled demo (planted truth recovered, reruns idempotent), user configs
without the demo (real public data end to end), and config errors stopping before any job."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, copy_workflow, run_snakemake
from ressig.simulate import simulate_plate

pytestmark = pytest.mark.workflow


def test_spine_outputs_exist(demo_run):
    for f in ["results/counts/counts.tsv", "results/de/resistant_vs_parental.tsv",
              "results/de/normalized_counts.tsv", "results/de/vst.tsv", "results/de/size_factors.tsv",
              "results/qc/qc.tsv", "results/qc/library_sizes.png", "results/qc/pca.png",
              "results/qc/sample_correlation.png", "results/de/plots/resistant_vs_parental_volcano.png",
              "results/de/plots/resistant_vs_parental_ma.png", "logs/de.log", "logs/prepare_counts.log"]:
        assert (demo_run / f).stat().st_size > 0, f


def test_demo_de_recovers_planted_truth(demo_run, demo_truth):
    de = pd.read_csv(demo_run / "results/de/resistant_vs_parental.tsv", sep="\t", index_col=0)
    assert len(de) == len(demo_truth) == 20000
    up = de[de["log2FoldChange"] > 0].sort_values(["padj", "pvalue"])
    # what is scientifically meant, robust to legitimate numeric variation between machines:
    # ABCB1 (planted +4) among the strongest up genes, highly significant, effect size recovered
    assert "ABCB1" in up.index[:5]
    assert up.loc[up["padj"] < 0.05, "log2FoldChange"].idxmax() == "ABCB1"  # the largest planted effect
    assert de.loc["ABCB1", "padj"] < 1e-10
    assert abs(de.loc["ABCB1", "log2FoldChange"] - 4.0) < 0.5
    assert de.loc["IL3RA", "padj"] > 0.1
    tab = de.join(demo_truth)
    sig = tab["padj"] < 0.05
    recall = (sig & tab["de_true"]).sum() / tab["de_true"].sum()
    fdr = (sig & ~tab["de_true"]).sum() / sig.sum()
    assert recall >= 0.9, recall
    assert fdr <= 0.1, fdr


def test_demo_qc_no_outliers_and_pca_separates(demo_run):
    qc = pd.read_csv(demo_run / "results/qc/qc.tsv", sep="\t", index_col=0)
    assert not qc["outlier"].any()
    pc1 = qc.groupby("condition")["PC1"]
    # condition is the main axis of variation: the groups do not overlap on PC1
    assert pc1.max().min() < pc1.min().max()


def test_dry_run_after_complete_run_has_nothing_to_do(demo_run):
    proc = run_snakemake(demo_run, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_user_config_with_unusual_names_and_no_covariates(tmp_path, small_experiment):
    """A minimal --configfile (sheet, counts, design) with the user's own CSV and unusual sample names."""
    work = copy_workflow(tmp_path / "run")
    counts = small_experiment.counts.rename(columns=lambda s: s.replace("GEN2.2-", "7.x-"))
    counts.to_csv(work / "my_counts.csv")
    sheet = small_experiment.samples.assign(sample=lambda d: d["sample"].str.replace("GEN2.2-", "7.x-"))
    sheet.drop(columns=["batch"]).to_csv(work / "my_samples.tsv", sep="\t", index=False)
    (work / "my.yaml").write_text("samples: my_samples.tsv\ncounts: {path: my_counts.csv}\n"
                                  "design: {reference: parental, treatment: resistant}\n")
    run_snakemake(work, "results/de/resistant_vs_parental.tsv", "--configfile", "my.yaml")
    de = pd.read_csv(work / "results/de/resistant_vs_parental.tsv", sep="\t", index_col=0)
    assert de.loc["ABCB1", "padj"] < 1e-10
    assert (work / "results/counts/counts.tsv").read_text().splitlines()[0].split("\t")[1] == "7.x-P1"


# a complete, valid user config on the demo data; each case below breaks one thing
_VALID = {"samples": "config/samples.tsv", "counts": {"path": "resources/demo/counts.tsv"},
          "design": {"reference": "parental", "treatment": "resistant"}}
_DOCS = "(see config/README.md)"
_PATH_FIX = "Fix the path (relative paths are relative to the directory snakemake runs in)"


@pytest.mark.parametrize(("bad", "expected"), [
    ({"de": {"alpha": 2}}, f"bad.yaml: config key de.alpha: 2 is greater than or equal to the maximum of 1 {_DOCS}"),
    ({"de": {"shrink": "maybe"}}, f"bad.yaml: config key de.shrink: 'maybe' is not of type 'boolean' {_DOCS}"),
    ({"counts": {"path": "resources/demo/counts.tsv", "format": "excel"}},
     "bad.yaml: config key counts.format: 'excel' is not one of ['auto', 'matrix', 'featurecounts', 'salmon', "
     f"'kallisto', 'h5ad'] {_DOCS}"),
    ({"de": {"alpah": 0.1}},  # unknown (misspelt) key
     "bad.yaml: unknown config key de.alpah; known keys here: min_count, min_samples, alpha, shrink, label_genes, lrt, engine. "
     "Fix the spelling or remove it (every key is documented in config/README.md)"),
    ({"cohort": {"x": {"path": "x.tsv"}}},  # unknown top-level key
     "bad.yaml: unknown config key cohort; known keys here: samples, counts, design, de, concordance, functional, genesets, "
     "efflux, signature, scoring, cohorts. Fix the spelling or remove it (every key is documented in "
     "config/README.md)"),
    ({"counts": {"path": "data/nope.tsv"}}, f"bad.yaml: file not found: counts.path = data/nope.tsv. {_PATH_FIX}"),
    ({"genesets": {"files": ["resources/genesets/ressig_curated.gmt", "my.gmt"]},
      "cohorts": {"pts": {"path": "pts.tsv"}}},
     f"bad.yaml: file not found: genesets.files.1 = my.gmt; cohorts.pts.path = pts.tsv. {_PATH_FIX}"),
])
def test_invalid_config_stops_before_any_job(tmp_path, bad, expected):
    """Config errors (bad-input corpus, category config): one line naming the key or path, at parse time."""
    work = copy_workflow(tmp_path / "run")
    (work / "bad.yaml").write_text(yaml.safe_dump({**_VALID, **bad}, sort_keys=False))
    proc = run_snakemake(work, "-n", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert expected in (proc.stdout + proc.stderr).splitlines(), proc.stderr[-3000:]
    assert not (work / "results").exists()


# Real public data (Marioni et al. 2008, kidney vs liver, 3 vs 3 in two sequencing runs; Ensembl ids;
# tests/fixtures/marioni_small with R DESeq2 1.38 results) run with a short user config: no protein,
# no cohorts, so nothing of the demo may be created.
REAL_CONFIG = """\
# kidney vs liver RNA-seq (Marioni et al. 2008): Ensembl ids, no protein data, no cohorts
samples: data/samples.tsv
counts:
  path: data/counts.tsv.gz
design:
  condition: condition
  reference: Kidney
  treatment: Liver
  covariates: [run]
signature:
  name: LIVER_VS_KIDNEY
  version: 0.1.0
"""


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    work = copy_workflow(tmp_path_factory.mktemp("real_run"))
    shutil.copytree(REPO / "tests/fixtures/marioni_small", work / "data")
    (work / "my.yaml").write_text(REAL_CONFIG)
    run_snakemake(work, "--configfile", "my.yaml")
    return work


def test_real_data_config_is_short():
    assert len(REAL_CONFIG.splitlines()) == 12


def test_real_data_de_matches_r_deseq2(real_run):
    de = pd.read_csv(real_run / "results/de/Liver_vs_Kidney.tsv", sep="\t", index_col=0)
    r = pd.read_csv(REPO / "tests/fixtures/marioni_small/deseq2_results.tsv.gz", sep="\t", index_col=0)
    assert len(de) == 3000 and int(de["tested"].sum()) == len(r) == 1971
    both = de.loc[r.index]
    assert np.corrcoef(both["log2FoldChange"], r["log2FoldChange"])[0, 1] > 0.999
    ours, theirs = set(both.index[both["padj"] < 0.05]), set(r.index[r["padj"] < 0.05])
    assert len(ours & theirs) / len(ours | theirs) >= 0.98


def test_real_data_efflux_scores_use_ensembl_matched_genes(real_run):
    from ressig.genes import map_to_symbols
    from ressig.genesets import read_gmt

    scores = pd.read_csv(real_run / "results/efflux/scores.tsv", sep="\t")
    abc = scores[scores["signature"] == "HGNC_ABC_TRANSPORTERS"].set_index("sample")
    assert sorted(abc.index) == sorted(pd.read_csv(real_run / "data/samples.tsv", sep="\t")["sample"])
    # genes of the set present in the counts, found independently through the gene table
    counts = pd.read_csv(real_run / "results/counts/counts.tsv", sep="\t", index_col=0)
    symbols, _ = map_to_symbols(counts.index)
    abc_genes = set(read_gmt(REPO / "resources/genesets/ressig_curated.gmt")["HGNC_ABC_TRANSPORTERS"].genes)
    n_present = len(set(symbols) & abc_genes)
    assert n_present == 8
    assert (abc["n_genes_used"] == n_present).all() and abc["score"].notna().all()
    gsea = pd.read_csv(real_run / "results/efflux/gsea.tsv", sep="\t", index_col=0)
    assert gsea.loc["HGNC_ABC_TRANSPORTERS", "status"] == "tested"
    assert gsea.loc["HGNC_ABC_TRANSPORTERS", "n_in_ranking"] == 8


def test_real_data_frozen_signature_follows_the_rules(real_run):
    from ressig.signature import load_signature, threshold_test

    art = real_run / "results/signature/LIVER_VS_KIDNEY.ressig.json"
    sig = json.loads(art.read_text())
    load_signature(art)  # checksum and schema verified
    assert sig["name"] == "LIVER_VS_KIDNEY" and sig["version"] == "0.1.0"
    assert sig["derivation"]["contrast"] == {"condition": "condition", "reference": "Kidney", "treatment": "Liver"}
    de = pd.read_csv(real_run / "results/de/Liver_vs_Kidney.tsv", sep="\t", index_col=0)
    assert sig["derivation"]["rules"]["rule"] == "threshold_test"  # the default rule
    # |log2FC| > 1 tested (DESeq2 greaterAbs; threshold_test itself is checked against pydeseq2 in
    # test_signature), baseMean >= 10, at most 200 per direction by |shrunken log2FC|
    padj = threshold_test(de, 1.0, 0.05)["padj_lfc"]
    lfc = de["log2FoldChange_shrunk"]
    ok = (padj <= 0.05) & (de["baseMean"] >= 10) & de["tested"]
    for direction, sign in (("up", 1), ("down", -1)):
        expected = set(lfc[ok & (np.sign(de["log2FoldChange"]) == sign)].abs().nlargest(200).index)
        assert {g["gene"] for g in sig["genes"][direction]} == expected, direction
        assert 100 <= len(expected) <= 200  # kidney vs liver: many genes beyond 2-fold in each direction


def test_real_data_creates_no_demo_artefact(real_run):
    for path in ("results/cohorts", "results/scores", "results/concordance", "logs/simulate_cohorts.log",
                 "logs/concordance.log", "logs/score", "results/signature/GEN22_RESISTANCE.ressig.json"):
        assert not (real_run / path).exists(), path
    assert sorted(p.name for p in (real_run / "results").iterdir()) == ["counts", "de", "efflux", "qc", "signature"]
    proc = run_snakemake(real_run, "-n", "--configfile", "my.yaml")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_several_contrasts_one_de_job(tmp_path, small_experiment):
    """design.contrasts + de.lrt: one de job writes every contrast (and lrt.tsv); plots per contrast."""

    work = copy_workflow(tmp_path / "run")
    rng = np.random.default_rng(5)
    resistant = small_experiment.samples.loc[small_experiment.samples["condition"] == "resistant", "sample"]
    arm = pd.DataFrame(rng.binomial(small_experiment.counts[resistant].to_numpy(), 0.8),
                       index=small_experiment.counts.index, columns=[f"{s}-cns" for s in resistant])
    pd.concat([small_experiment.counts, arm], axis=1).to_csv(work / "my_counts.tsv", sep="\t")
    sheet = pd.concat([small_experiment.samples[["sample", "condition"]],
                       pd.DataFrame({"sample": arm.columns, "condition": "resistant_cns"})])
    sheet.to_csv(work / "my_samples.tsv", sep="\t", index=False)
    cfg = yaml.safe_load((work / "config/demo.yaml").read_text())
    cfg.update(samples="my_samples.tsv", cohorts={})
    cfg["counts"]["path"] = "my_counts.tsv"
    cfg["design"].update(covariates=[], contrasts=[{"treatment": "resistant_cns", "reference": "parental"}])
    cfg["de"]["lrt"] = True
    cfg["concordance"]["protein"] = None
    cfg["signature"]["contrast"] = "consensus"
    # a plate with both arms: fold resistance 40x (in vitro) and 80x (CNS), each reversed by zosuquidar
    simulate_plate(seed=3, truth={("parental", "none"): 0.1, ("parental", "zosuquidar"): 0.1,
                                  ("resistant", "none"): 4.0, ("resistant", "zosuquidar"): 0.2,
                                  ("resistant_cns", "none"): 8.0, ("resistant_cns", "zosuquidar"): 0.2}
                   ).to_csv(work / "arms_plate.tsv", sep="\t", index=False)
    cfg["functional"]["plate"] = "arms_plate.tsv"  # the demo dye assay (parental, resistant) is kept
    (work / "my.yaml").write_text(yaml.safe_dump(cfg))
    evidence = {c: f"results/functional/{c}_vs_parental/evidence.tsv" for c in ("resistant", "resistant_cns")}
    run_snakemake(work, "results/de/plots/resistant_cns_vs_parental_volcano.png", "plot_contrasts",
                  "results/de/plots/resistant_cns_vs_parental_ma.png", *evidence.values(), "--configfile", "my.yaml")
    shift = pd.read_csv(work / "results/functional/shift.tsv", sep="\t")
    fold = shift[(shift["effect"] == "fold_resistance") & (shift["inhibitor"] == "none")].set_index("condition")
    assert 30 < fold.loc["resistant / parental", "fold"] < 55 and 60 < fold.loc["resistant_cns / parental", "fold"] < 110
    for arm, path in evidence.items():  # each arm's evidence holds its own lines (and the parental control)
        ev = pd.read_csv(work / path, sep="\t")
        other = "resistant_cns" if arm == "resistant" else "resistant"
        assert ev["evidence"].str.contains(f"fold resistance to PVEK ({arm} / parental", regex=False).any()
        assert not ev["evidence"].str.contains(rf"\({other}( / parental)?[,)]|in {other}$", regex=True).any()
        rev = ev[ev["evidence"] == f"reversal of PVEK by zosuquidar in {arm}"]
        assert list(rev["supports"]) == ["yes"]
        assert list(ev.loc[ev["evidence"] == "reversal of PVEK by zosuquidar in parental", "supports"]) == ["control"]
    de = {n: pd.read_csv(work / f"results/de/{n}.tsv", sep="\t", index_col=0)
          for n in ["resistant_vs_parental", "resistant_cns_vs_parental"]}
    assert de["resistant_vs_parental"].loc["ABCB1", "padj"] < 1e-10
    assert de["resistant_cns_vs_parental"].loc["ABCB1", "padj"] < 1e-10
    # one model: shared size factors, identical baseMean and tested genes in both tables
    assert (de["resistant_vs_parental"]["baseMean"] == de["resistant_cns_vs_parental"].loc[
        de["resistant_vs_parental"].index, "baseMean"]).all()
    lrt = pd.read_csv(work / "results/de/lrt.tsv", sep="\t", index_col=0)
    assert lrt.loc["ABCB1", "padj"] < 1e-10 and (lrt["df"].dropna() == 2).all()
    # consensus signature: genes passing the rules in both arms (ABCB1 is up in both)
    art = json.loads((work / "results/signature/GEN22_RESISTANCE.ressig.json").read_text())
    assert art["derivation"]["de_table"] == "consensus(resistant_vs_parental.tsv,resistant_cns_vs_parental.tsv)"
    genes = pd.read_csv(work / "results/signature/GEN22_RESISTANCE_genes.tsv", sep="\t")
    every = set.intersection(*[set(d.index[(d["padj"] < 0.05)]) for d in de.values()])
    assert set(genes["gene"]) <= every and "ABCB1" in set(genes["gene"])
    assert (work / "results/de/plots/contrasts.png").stat().st_size > 10_000


# The sanctuary-site demo (config/sanctuary.yaml, resources/sanctuary/): parental, resistant in vitro
# and resistant cells from xenograft spleen, bone marrow and CNS; one model, a contrast per arm.
SANCTUARY_ARMS = ["resistant", "resistant_spleen", "resistant_bm", "resistant_cns"]


@pytest.fixture(scope="module")
def sanctuary_run(tmp_path_factory) -> Path:
    """Run dir of the sanctuary demo, end to end (its time: benchmarks/workflow_time.py)."""
    work = copy_workflow(tmp_path_factory.mktemp("sanctuary_run"))
    run_snakemake(work, "--configfile", "config/sanctuary.yaml", timeout=900)
    return work


def test_sanctuary_recovers_planted_truth_in_every_arm(sanctuary_run):
    work = sanctuary_run
    de = {arm: pd.read_csv(work / f"results/de/{arm}_vs_parental.tsv", sep="\t", index_col=0)
          for arm in SANCTUARY_ARMS}
    abcb1 = pd.DataFrame({arm: d.loc["ABCB1", ["log2FoldChange", "padj"]] for arm, d in de.items()}).T.astype(float)
    assert (abcb1["padj"] < 1e-6).all(), abcb1
    assert abcb1["log2FoldChange"].idxmax() == "resistant_cns"  # planted +5 vs +3 to +3.5
    truth = pd.read_csv(REPO / "resources/sanctuary/truth.tsv", sep="\t", index_col=0)
    for arm, d in de.items():
        assert abs(d.loc["ABCB1", "log2FoldChange"] - truth.loc["ABCB1", f"log2FC_{arm}"]) < 0.6, arm
        assert d.loc["IL3RA", "padj"] > 0.5, arm  # planted 0: not DE in any arm
        calls = pd.read_csv(work / f"results/concordance/{arm}_vs_parental/concordance.tsv", sep="\t",
                            index_col="marker")
        assert calls.loc["CD123", "call"] == "post-transcriptional loss", (arm, calls.loc["CD123", "reason"])
        assert calls.loc["P-gp", "call"] == "concordant gain", arm
        gsea = pd.read_csv(work / f"results/efflux/{arm}_vs_parental/gsea.tsv", sep="\t", index_col=0)
        assert gsea.loc["MULTIDRUG_EFFLUX_CORE", "nes"] > 1.5 and gsea.loc["MULTIDRUG_EFFLUX_CORE", "fdr"] < 0.05, arm
        # every arm's recall of its planted DE genes
        planted = truth.index[truth[f"log2FC_{arm}"] != 0]
        assert (d.loc[planted, "padj"] < 0.05).mean() > 0.85, arm
    lrt = pd.read_csv(work / "results/de/lrt.tsv", sep="\t", index_col=0)
    assert lrt.loc["ABCB1", "padj"] < 1e-6 and lrt.loc["IL3RA", "padj"] > 0.5 and (lrt["df"].dropna() == 4).all()
    # consensus signature: ABCB1 first; every gene passes the rules in every arm, same direction
    art = json.loads((work / "results/signature/GEN22_SANCTUARY.ressig.json").read_text())
    assert art["derivation"]["de_table"].startswith("consensus(resistant_vs_parental.tsv,")
    assert art["genes"]["up"][0]["gene"] == "ABCB1"
    genes = pd.read_csv(work / "results/signature/GEN22_SANCTUARY_genes.tsv", sep="\t")
    for arm, d in de.items():
        lfc = d.loc[genes["gene"], "log2FoldChange"].to_numpy()
        assert ((lfc > 0) == (genes["direction"] == "up").to_numpy()).all(), arm
    # with several contrasts the per-contrast steps write subdirectories only
    assert not (work / "results/concordance/concordance.tsv").exists()
    assert not (work / "results/efflux/gsea.tsv").exists()
    assert sorted(p.name for p in (work / "results/concordance").iterdir()) == sorted(
        f"{arm}_vs_parental" for arm in SANCTUARY_ARMS)
    assert (work / "results/de/plots/contrasts.png").stat().st_size > 10_000
    proc = run_snakemake(work, "-n", "--configfile", "config/sanctuary.yaml")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_sanctuary_report_has_the_contrasts_figure(sanctuary_run, tmp_path):
    """The cross-contrast figure and every contrast's concordance/efflux outputs are in the HTML report."""
    from test_report import read_report

    work = tmp_path / "run"
    shutil.copytree(sanctuary_run, work, symlinks=True)
    run_snakemake(work, "--configfile", "config/sanctuary.yaml", "--report", "results/report.html", timeout=600)
    _, results, categories = read_report(work / "results/report.html")
    caption = " ".join(re.sub(r"<[^>]+>", "", results["results/de/plots/contrasts.png"]["caption"]).split())
    assert caption.startswith("Cross-contrast view of the one DE model"), caption[:200]
    assert "results/de/plots/contrasts.png" in [p for sub in categories["Differential expression"].values()
                                                 for p in sub]
    for arm in SANCTUARY_ARMS:
        contrast = f"{arm}_vs_parental"
        assert sorted(categories["mRNA vs protein"][contrast]) == sorted(
            f"results/concordance/{contrast}/{f}" for f in ("concordance.tsv", "lfc_mrna_vs_protein.png",
                                                             "per_sample.png")), contrast
        assert f"results/efflux/{contrast}/gsea_nes.png" in categories["Efflux"][contrast]
        caption = results[f"results/concordance/{contrast}/lfc_mrna_vs_protein.png"]["caption"]
        assert f"({arm} vs parental)" in caption, caption[:200]
