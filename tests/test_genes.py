"""Gene-id rules (ressig.genes): approved symbols stay themselves, curated and ambiguous aliases,
the mapping report, with the shipped gene table and real count files through `ressig prepare`."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from ressig.cli import main
from ressig.errors import RessigError
from ressig.genes import ALIASES, MAPPING_COLUMNS, load_gene_table, map_to_symbols

REPO = Path(__file__).resolve().parents[1]
DEMO_COUNTS = REPO / "resources/demo/counts.tsv"
DEMO_SHEET = REPO / "config/samples.tsv"


@pytest.fixture(scope="module")
def shipped():
    return load_gene_table()


def test_no_curated_alias_is_an_approved_symbol(shipped):
    symbols = {s.upper() for s in shipped.exact}
    clashes = sorted(a for a in ALIASES if a.upper() in symbols)
    assert clashes == [], f"curated aliases that are another gene's approved symbol: {clashes}"
    assert all(target in shipped.exact for target in ALIASES.values())
    # the curated table resolves exactly these ambiguous aliases on purpose
    on_purpose = {a: shipped.alias_owners[a] for a in ALIASES if len(shipped.alias_owners.get(a, ())) > 1}
    assert on_purpose == {"MDR1": ("ABCB1", "TBC1D9"), "MRP1": ("ABCC1", "MDM4", "MSH3")}


def test_lookup_rules_on_the_shipped_table(shipped):
    assert shipped.lookup("PGP") == ("PGP", "symbol")  # phosphoglycolate phosphatase, not P-glycoprotein
    assert shipped.lookup("pgp") == ("PGP", "symbol")
    assert shipped.lookup("ABCB1") == ("ABCB1", "symbol")
    assert shipped.lookup("MDR1") == ("ABCB1", "curated_alias")
    assert shipped.lookup("FX") == ("FX", "ambiguous")  # F10, GFUS, TMSB4X: not forced onto one
    assert shipped.lookup("TSTA3") == ("GFUS", "curated_alias")
    assert shipped.lookup("ENSG00000184207.9") == ("PGP", "ensembl")
    assert shipped.lookup("ENSG00000184207.9", translate=False) == ("ENSG00000184207", "ensembl")
    assert shipped.lookup("ABC20", translate=False) == ("ABC20", "alias")
    assert shipped.lookup("ABC20") == ("ABCB1", "alias")
    assert shipped.lookup("SIM00001") == ("SIM00001", "unknown")
    # an exact-case symbol is itself even when another gene's symbol differs only in case
    assert shipped.lookup("HBD") == ("HBD", "symbol")
    _, how = map_to_symbols(["PGP", "ABCB1", "FX", "MDR1"])
    assert how == {"ambiguous": 1, "curated_alias": 1, "symbol": 2}


def _demo_with(extra: str, tmp_path: Path) -> Path:
    p = tmp_path / "counts.tsv"
    p.write_text(DEMO_COUNTS.read_text() + extra)
    return p


def _prepare(counts: Path, out: Path, *extra: str) -> int:
    return main(["prepare", "--counts", str(counts), "--samples", str(DEMO_SHEET), *extra,
                 "--out-counts", str(out / "counts.tsv"), "--out-samples", str(out / "samples.tsv"),
                 "--out-mapping", str(out / "gene_mapping.tsv")])


def test_pgp_and_abcb1_both_survive_prepare(tmp_path, capsys):
    pgp = "PGP\t5012\t4987\t5103\t4950\t5077\t5020\n"
    code = _prepare(_demo_with(pgp, tmp_path), tmp_path / "out")
    assert code == 0, capsys.readouterr().err
    demo = pd.read_csv(DEMO_COUNTS, sep="\t", index_col=0)
    got = pd.read_csv(tmp_path / "out/counts.tsv", sep="\t", index_col=0)
    assert got.loc["ABCB1"].tolist() == demo.loc["ABCB1"].tolist() == [78, 162, 136, 1509, 1625, 2207]
    assert got.loc["PGP"].tolist() == [5012, 4987, 5103, 4950, 5077, 5020]
    assert got.shape[0] == demo.shape[0] + 1
    report = pd.read_csv(tmp_path / "out/gene_mapping.tsv", sep="\t", keep_default_na=False)
    assert list(report.columns) == MAPPING_COLUMNS and len(report) == demo.shape[0] + 1
    assert report.set_index("input_id").loc["PGP"].tolist() == ["PGP", "symbol", ""]
    assert (report["input_id"] == report["mapped_id"]).all()  # the demo ids are kept as written


def test_ambiguous_and_curated_aliases_in_prepare(tmp_path, capsys):
    demo = pd.read_csv(DEMO_COUNTS, sep="\t", index_col=0)
    renamed = demo.rename(index={"ABCB1": "MDR1"})
    renamed.loc["FX"] = [7, 8, 9, 10, 11, 12]
    src = tmp_path / "counts.tsv.gz"
    with gzip.open(src, "wt") as fh:
        renamed.to_csv(fh, sep="\t")
    assert _prepare(src, tmp_path / "out") == 0
    err = capsys.readouterr().err
    got = pd.read_csv(tmp_path / "out/counts.tsv", sep="\t", index_col=0)
    assert got.loc["ABCB1"].tolist() == demo.loc["ABCB1"].tolist()
    assert got.loc["FX"].tolist() == [7, 8, 9, 10, 11, 12] and "GFUS" not in got.index.difference(demo.index)
    report = pd.read_csv(tmp_path / "out/gene_mapping.tsv", sep="\t", keep_default_na=False).set_index("input_id")
    assert report.loc["MDR1"].tolist() == ["ABCB1", "curated_alias", "alias of 2 genes: ABCB1, TBC1D9; resolved on "
                                           "purpose by the curated table"]
    assert report.loc["FX"].tolist() == ["FX", "ambiguous", "alias of 3 genes: F10, GFUS, TMSB4X; not mapped"]
    assert "1 ambiguous alias(es) resolved by the curated table: MDR1->ABCB1" in err
    assert "1 ambiguous alias(es) left unmapped: FX (alias of 3 genes: F10, GFUS, TMSB4X; not mapped)" in err
    assert "mapped 1 gene id(s) to another name (e.g. MDR1->ABCB1)" in err


def test_duplicates_name_their_input_ids(tmp_path, capsys):
    counts = _demo_with("mdr1\t1\t1\t1\t1\t1\t1\n", tmp_path)
    assert _prepare(counts, tmp_path / "out") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (f"ressig: error: {counts}: 1 duplicated gene id(s) after version stripping/alias mapping "
                   "(e.g. ABCB1 from ABCB1, mdr1). Make gene ids unique, or set counts.duplicates: sum to add "
                   "their counts")
    assert not (tmp_path / "out").exists()
    assert _prepare(counts, tmp_path / "out", "--duplicates", "sum") == 0
    got = pd.read_csv(tmp_path / "out/counts.tsv", sep="\t", index_col=0)
    assert got.loc["ABCB1"].tolist() == [79, 163, 137, 1510, 1626, 2208]
    report = pd.read_csv(tmp_path / "out/gene_mapping.tsv", sep="\t", keep_default_na=False).set_index("input_id")
    assert report.loc["mdr1"].tolist() == ["ABCB1", "curated_alias", "alias of 2 genes: ABCB1, TBC1D9; resolved on "
                                           "purpose by the curated table; duplicated (counts summed)"]
    assert report.loc["ABCB1", "note"] == "duplicated (counts summed)"


def test_gene_table_hash_inside_a_line_is_data(tmp_path):
    p = tmp_path / "genes.tsv"
    p.write_text("# comment line\nentrez_id\tsymbol\tgene_type\tensembl_ids\taliases\n"
                 "1\tGENE#1\tprotein-coding\tENSG00000000001\tOLD#1;X1\n"
                 "2\tTWO\tprotein-coding\t\tX1\n")
    gt = load_gene_table(p)
    assert gt.lookup("GENE#1") == ("GENE#1", "symbol")
    assert gt.lookup("OLD#1") == ("GENE#1", "alias")
    assert gt.lookup("X1") == ("X1", "ambiguous")
    assert len(gt) == 2
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(RessigError, match="empty.tsv: is empty"):
        load_gene_table(empty)
