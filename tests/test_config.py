"""Workflow config: schema defaults fill a minimal user config, one-line key/path errors, `ressig init`."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake.utils import validate

from ressig.config import (
    check_config,
    check_paths,
    config_paths,
    init_config,
    load_schema,
    signature_name,
)
from ressig.errors import RessigError
from ressig.genesets import GeneSet, match_ensembl_ids

REPO = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO / "workflow/schemas/config.schema.yaml"
MARIONI = REPO / "tests/fixtures/marioni_small"
MINIMAL = {"samples": "s.tsv", "counts": {"path": "c.tsv"},
           "design": {"reference": "Kidney", "treatment": "Liver"}}


@pytest.fixture(scope="module")
def schema() -> dict:
    return load_schema(SCHEMA_PATH)


def filled(cfg: dict) -> dict:
    cfg = copy.deepcopy(cfg)
    validate(cfg, str(SCHEMA_PATH), set_default=True)
    return cfg


def test_minimal_config_gets_every_nested_default(schema):
    cfg = filled(MINIMAL)
    assert cfg["design"] == {"reference": "Kidney", "treatment": "Liver", "condition": "condition",
                             "covariates": [], "continuous": [], "contrasts": []}
    assert cfg["de"] == {"min_count": 10, "min_samples": None, "alpha": 0.05, "shrink": True,
                         "label_genes": ["ABCB1", "IL3RA"], "lrt": False, "engine": "ressig"}
    assert cfg["counts"] == {"path": "c.tsv", "format": "auto", "tx2gene": None, "layer": None,
                             "duplicates": "error", "counts_from_abundance": "none"}
    # optional steps are off by default ...
    assert cfg["concordance"]["protein"] is None and cfg["concordance"]["fcs"]["files"] is None
    assert cfg["cohorts"] == {}
    # ... and defaults two levels down are filled too
    assert cfg["concordance"]["fcs"]["min_events"] == 100
    assert cfg["concordance"]["pairs"] == {"CD123": "IL3RA", "P-gp": "ABCB1"}
    assert cfg["efflux"]["permutations"] == 1000 and cfg["efflux"]["min_size"] == 5
    assert cfg["genesets"]["files"] == ["resources/genesets/ressig_curated.gmt"]
    assert cfg["signature"]["name"] == "RESSIG_SIGNATURE" and cfg["signature"]["max_genes"] == 200
    assert cfg["scoring"] == {"shards": 1, "chunk_size": 10000, "min_coverage": None, "null_draws": None,
                              "null_method": "matched", "null_seed": 20261130, "alpha": 0.05}
    assert cfg["signature"]["reference_cohort"] is None
    check_config(cfg, schema)  # the filled config is valid


def test_every_optional_section_has_a_default(schema):
    """A section without `default: {}` would leave its nested defaults unfilled when omitted."""
    for name, sub in schema["properties"].items():
        if sub.get("type") == "object" and name not in schema["required"]:
            assert sub.get("default") == {}, name
    assert set(filled(MINIMAL)) == set(schema["properties"])


def test_user_values_win_and_cohort_defaults_are_filled():
    cfg = filled({**MINIMAL, "de": {"alpha": 0.1}, "cohorts": {"mine": {"path": "m.tsv"}}})
    assert cfg["de"]["alpha"] == 0.1 and cfg["de"]["min_count"] == 10
    assert cfg["cohorts"]["mine"] == {"path": "m.tsv", "kind": "auto", "orientation": "genes-x-samples",
                                      "probe_map": None, "collapse": "mean", "layer": None, "pseudobulk": None,
                                      "group_by": None, "min_coverage": None, "null_draws": None, "shards": None}


def test_demo_config_is_valid_and_complete(schema):
    demo = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    check_config(demo, schema)
    assert set(demo["cohorts"]) == {"demo_bulk", "demo_sc", "demo_sc_pseudobulk"}


def test_sanctuary_config_is_valid_and_names_every_arm(schema, monkeypatch):
    monkeypatch.chdir(REPO)  # its paths are relative to the repository root
    cfg = yaml.safe_load((REPO / "config/sanctuary.yaml").read_text())
    check_config(cfg, schema)
    check_paths(filled(cfg), schema, "config/sanctuary.yaml")
    sheet = pd.read_csv(REPO / cfg["samples"], sep="\t")
    arms = {c["treatment"] for c in cfg["design"]["contrasts"]} | {cfg["design"]["treatment"]}
    assert arms | {cfg["design"]["reference"]} == set(sheet["condition"])
    assert cfg["de"]["lrt"] is True and cfg["signature"]["contrast"] == "consensus"


@pytest.mark.parametrize(("extra", "message"), [
    ({"de": {"alpah": 0.1}},
     "my.yaml: unknown config key de.alpah; known keys here: min_count, min_samples, alpha, shrink, label_genes, lrt, engine. "
     "Fix the spelling or remove it (every key is documented in config/README.md)"),
    ({"cohort": {}},
     "my.yaml: unknown config key cohort; known keys here: samples, counts, design, de, concordance, functional, genesets, "
     "efflux, signature, scoring, cohorts. Fix the spelling or remove it (every key is documented in "
     "config/README.md)"),
    ({"de": {"alpha": 2}}, "my.yaml: config key de.alpha: 2 is greater than or equal to the maximum of 1 "
                           "(see config/README.md)"),
    ({"cohorts": {"x": {"kind": "bulk"}}},
     "my.yaml: config key cohorts.x.path is required but missing (see config/README.md)"),
])
def test_config_errors_are_one_line_naming_the_key(schema, extra, message):
    with pytest.raises(RessigError) as err:
        check_config({**MINIMAL, **extra}, schema, "my.yaml")
    assert str(err.value) == message


def test_unknown_key_reported_before_the_required_keys_it_hides(schema):
    with pytest.raises(RessigError, match=r"^my.yaml: unknown config key sample;"):
        check_config({"sample": "s.tsv", "counts": {"path": "c.tsv"}, "design": MINIMAL["design"]},
                     schema, "my.yaml")


def test_config_paths_follow_maps_and_lists(schema):
    cfg = filled({**MINIMAL, "genesets": {"files": ["a.gmt", "b.gmt"]},
                  "cohorts": {"m": {"path": "m.tsv", "probe_map": "p.tsv"}}})
    assert list(config_paths(cfg, schema)) == [
        ("samples", "s.tsv"), ("counts.path", "c.tsv"), ("genesets.files.0", "a.gmt"),
        ("genesets.files.1", "b.gmt"), ("cohorts.m.path", "m.tsv"), ("cohorts.m.probe_map", "p.tsv")]
    cfg["signature"]["reference_cohort"] = {"path": "ref.tsv"}
    assert ("signature.reference_cohort.path", "ref.tsv") in list(config_paths(cfg, schema))


def test_check_paths_names_every_missing_key(schema, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("s.tsv").write_text("sample\n")
    cfg = filled({**MINIMAL, "genesets": {"files": ["resources/x.gmt"]},
                  "cohorts": {"sim": {"path": "results/sim.tsv"}}})
    with pytest.raises(RessigError) as err:
        check_paths(cfg, schema, "my.yaml", produced=lambda p: p == "results/sim.tsv")
    assert str(err.value) == ("my.yaml: file not found: counts.path = c.tsv; genesets.files.0 = resources/x.gmt. "
                              "Fix the path (relative paths are relative to the directory snakemake runs in)")
    Path("c.tsv").write_text("x")
    Path("resources").mkdir()
    Path("resources/x.gmt").write_text("x")
    check_paths(cfg, schema, "my.yaml", produced=lambda p: p == "results/sim.tsv")


# ---------------------------------------------------------------------------------------------
# ressig init


def _init(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ressig", "init", "--counts", str(MARIONI / "counts.tsv.gz"),
                           "--samples", str(MARIONI / "samples.tsv"), *args], cwd=tmp_path,
                          capture_output=True, text=True)


def test_init_writes_a_minimal_valid_config(tmp_path, schema):
    proc = _init(tmp_path, "--reference", "Kidney", "--covariates", "run", "--out", "my.yaml")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "my.yaml"
    assert "3000 genes x 6 samples; Liver vs Kidney (3 vs 3 samples)" in proc.stderr
    cfg = yaml.safe_load((tmp_path / "my.yaml").read_text())
    assert cfg == {"samples": str(MARIONI / "samples.tsv"), "counts": {"path": str(MARIONI / "counts.tsv.gz")},
                   "design": {"condition": "condition", "reference": "Kidney", "treatment": "Liver",
                              "covariates": ["run"]},
                   "signature": {"name": "LIVER_VS_KIDNEY"}}
    check_config(filled(cfg), schema)
    assert len((tmp_path / "my.yaml").read_text().splitlines()) <= 20


@pytest.mark.parametrize(("args", "message"), [
    ([], "column 'condition' has levels Kidney, Liver. Name the reference (denominator) and treatment "
         "(numerator) levels with --reference and --treatment"),
    (["--reference", "Kidny"], "--reference 'Kidny' is not a level of column 'condition' (levels: Kidney, Liver). "
                               "Use one of Kidney, Liver"),
    (["--treatment", "Liver", "--condition", "tissue"],
     "sample sheet has no column 'tissue' (columns: condition, run). Add it, or name the condition column "
     "with --condition"),
])
def test_init_refuses_unclear_design_with_one_line(tmp_path, args, message):
    proc = _init(tmp_path, *args)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"ressig: error: {MARIONI / 'samples.tsv'}: {message}"
    assert not (tmp_path / "config.yaml").exists()


def test_init_checks_samples_are_in_the_counts_and_keeps_existing_file(tmp_path):
    sheet = pd.read_csv(MARIONI / "samples.tsv", sep="\t")
    sheet.loc[0, "sample"] = "R9L9Kidney"
    sheet.to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    with pytest.raises(RessigError, match=r"counts.tsv.gz: sample\(s\) from .*s.tsv missing in counts: R9L9Kidney"):
        init_config(MARIONI / "counts.tsv.gz", tmp_path / "s.tsv", reference="Kidney", out=tmp_path / "c.yaml")
    (tmp_path / "c.yaml").write_text("mine\n")
    with pytest.raises(RessigError, match="c.yaml: already exists. Choose another --out or pass --force"):
        init_config(MARIONI / "counts.tsv.gz", MARIONI / "samples.tsv", treatment="Liver", out=tmp_path / "c.yaml")
    init_config(MARIONI / "counts.tsv.gz", MARIONI / "samples.tsv", treatment="Liver", out=tmp_path / "c.yaml",
                force=True)
    assert yaml.safe_load((tmp_path / "c.yaml").read_text())["design"]["reference"] == "Kidney"


def test_signature_name_from_levels():
    assert signature_name("resistant", "parental") == "RESISTANT_VS_PARENTAL"
    assert signature_name("PVEK 10nM", "DMSO") == "PVEK_10NM_VS_DMSO"


# ---------------------------------------------------------------------------------------------
# gene sets on Ensembl-id data


def test_sets_matched_to_ensembl_ids_symbol_data_unchanged():
    sets = {"S": GeneSet("S", "", ("ABCB1", "ABCG2", "NOTAGENE"), "x.gmt")}
    ids = ["ENSG00000085563", "ENSG00000118777", "ENSG00000000001"]  # ABCB1, ABCG2, unknown
    out = match_ensembl_ids(sets, ids)
    assert out["S"].genes == ("ENSG00000085563", "ENSG00000118777", "NOTAGENE")
    assert out["S"].source == "x.gmt"
    assert match_ensembl_ids(sets, ["ABCB1", "ABCG2", "IL3RA"]) == sets


def test_prefer_own_scripts_puts_the_interpreters_folder_first_once():
    from ressig.config import prefer_own_scripts

    own = os.path.dirname(sys.executable)
    env = {"PATH": os.pathsep.join(["/decoys", own, "/usr/bin"])}
    assert prefer_own_scripts(env) == os.pathsep.join([own, "/decoys", "/usr/bin"])
    assert prefer_own_scripts(env) == env["PATH"]  # idempotent: a job re-reading the workflow adds nothing
