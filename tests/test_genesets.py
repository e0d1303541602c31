"""GMT reading/writing, line-numbered errors, coverage/size checks and the shipped curated sets."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pandas as pd
import pytest

from ressig._log import logger
from ressig.errors import RessigError
from ressig.genesets import (
    GeneSet,
    coverage,
    parse_gmt,
    read_gmt,
    read_gmts,
    safe_name,
    size_filter,
    write_gmt,
)

REPO = Path(__file__).resolve().parents[1]
CURATED = REPO / "resources/genesets/ressig_curated.gmt"
EXPECTED_SETS = ["HGNC_ABC_TRANSPORTERS", "MULTIDRUG_EFFLUX_CORE", "IL3RA_RECEPTOR_COMPLEX", "CD123_GLYCOSYLATION",
                 "ADC_INTERNALISATION_LYSOSOME", "DNA_DAMAGE_RESPONSE_ALKYLATION", "BCL2_FAMILY_APOPTOSIS",
                 "PDC_BPDCN_IDENTITY", "MULTIDRUG_EFFLUX_EXTENDED", "DNA_DAMAGE_IGN_PAYLOAD"]
NOT_TRANSPORTERS = {"ABCE1", "ABCF1", "ABCF2", "ABCF3", "TAP1", "TAP2"}


def _write(tmp_path: Path, text: str, name: str = "sets.gmt") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_parse_roundtrip(tmp_path):
    text = "# a comment\nA\tdesc a\tG1\tG2\tG3\n\nB\thttp://x\tG4\tG5\t\n"
    sets = read_gmt(_write(tmp_path, text))
    assert list(sets) == ["A", "B"]
    assert sets["A"].genes == ("G1", "G2", "G3")
    assert sets["B"].genes == ("G4", "G5")  # trailing tab ignored
    assert sets["B"].description == "http://x"
    out = write_gmt(sets, tmp_path / "out.gmt")
    assert out.read_text() == "A\tdesc a\tG1\tG2\tG3\nB\thttp://x\tG4\tG5\n"
    assert read_gmt(out) == {k: GeneSet(v.name, v.description, v.genes, str(out)) for k, v in sets.items()}


def test_gzip_and_crlf(tmp_path):
    p = tmp_path / "s.gmt.gz"
    p.write_bytes(gzip.compress(b"A\td\tG1\tG2\r\nB\td\tG3\r\n"))
    sets = read_gmt(p)
    assert sets["A"].genes == ("G1", "G2") and sets["B"].genes == ("G3",)


def test_duplicate_gene_in_set_kept_once(tmp_path):
    sets = parse_gmt("A\td\tG1\tG2\tG1\n", "x.gmt")
    assert sets["A"].genes == ("G1", "G2")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A\td\tG1\nB\td\n", r"x\.gmt: line 2: gene set 'B' has no genes"),
        ("A\td\tG1\nB\td\t\t\n", r"line 2: gene set 'B' has no genes"),
        ("A\td\tG1\n\nA\td\tG2\n", r"line 3: gene set 'A' is defined twice \(first on line 1\)"),
        ("A\td\tG1\nB\n", r"line 2: gene set 'B' has no description field and no genes"),
        ("A d G1 G2 G3\n", r"line 1 has no tab: GMT fields must be tab-separated"),
        ("\td\tG1\n", r"line 1 has an empty gene-set name"),
        ("A\td\tG1 G2\n", r"line 1: gene set 'A' has a gene field with whitespace \('G1 G2'\)"),
        ("my set\td\tG1\n", r"line 1: gene-set name 'my set' contains whitespace"),
        ("# only a comment\n\n", r"contains no gene sets"),
    ],
)
def test_malformed_gmt(text, message):
    with pytest.raises(RessigError, match=message):
        parse_gmt(text, "x.gmt")


def test_malformed_file_names_path_and_line(tmp_path):
    p = _write(tmp_path, "A\td\tG1\nB\td\n")
    with pytest.raises(RessigError) as exc:
        read_gmt(p)
    assert str(exc.value) == (f"{p}: line 2: gene set 'B' has no genes. Add genes after the description field "
                              "(tab-separated) or remove the line")
    assert "\n" not in str(exc.value)


def test_empty_and_missing_file(tmp_path):
    with pytest.raises(RessigError, match="is empty"):
        read_gmt(_write(tmp_path, ""))
    with pytest.raises(RessigError, match="file not found"):
        read_gmt(tmp_path / "nope.gmt")


def test_duplicate_across_files(tmp_path):
    a = _write(tmp_path, "A\td\tG1\n", "a.gmt")
    b = _write(tmp_path, "B\td\tG2\nA\td\tG3\n", "b.gmt")
    with pytest.raises(RessigError, match=rf"{re.escape(str(b))}: gene set 'A' is also defined in {re.escape(str(a))}"):
        read_gmts([a, b])
    with pytest.raises(RessigError, match="no gene-set"):
        read_gmts([])


def test_write_refuses_tabs_and_empty(tmp_path):
    with pytest.raises(RessigError, match="contains a tab"):
        write_gmt([GeneSet("A", "x\ty", ("G1",))], tmp_path / "o.gmt")
    with pytest.raises(RessigError, match="has no genes"):
        write_gmt([GeneSet("A", "", ())], tmp_path / "o.gmt")


def test_coverage_and_size_filter(caplog, monkeypatch):
    monkeypatch.setattr(logger, "propagate", True)  # the CLI's log handler may be installed already
    sets = parse_gmt("A\td\tG1\tG2\tG3\tG4\nB\td\tG1\tX1\tX2\nC\td\tG1\tG2\tG3\tG4\tG5\tG6\n", "s.gmt")
    cov = coverage(sets, ["G1", "G2", "G3", "G4", "G5", "G6"])
    assert cov.loc["A", ["n_genes", "n_found"]].tolist() == [4, 4]
    assert cov.loc["B", "coverage"] == pytest.approx(1 / 3)
    assert cov.loc["B", "missing"] == "X1;X2"
    with caplog.at_level("WARNING", logger="ressig"):
        filt = size_filter(sets, ["G1", "G2", "G3", "G4", "G5", "G6"], min_size=2, max_size=5)
    assert filt["status"].tolist() == ["kept", "dropped: 1 of 3 genes found < min_size 2",
                                       "dropped: 6 genes found > max_size 5"]
    assert "gene set B dropped" in caplog.text and "gene set C dropped" in caplog.text
    with pytest.raises(RessigError, match="min_size <= max_size"):
        size_filter(sets, [], 5, 2)


def test_safe_name():
    assert safe_name("HALLMARK_MYC_TARGETS_V1") == "HALLMARK_MYC_TARGETS_V1"
    assert safe_name("GO:0006810 transport/x") == "GO_0006810_transport_x"


# ---------------------------------------------------------------------------------------------
# the shipped curated sets


def test_curated_sets_present_and_sized():
    sets = read_gmt(CURATED)
    assert list(sets) == EXPECTED_SETS
    assert len(sets["HGNC_ABC_TRANSPORTERS"]) == 48
    assert sets["MULTIDRUG_EFFLUX_CORE"].genes == ("ABCB1", "ABCC1", "ABCG2", "ABCC2", "ABCC3", "ABCC4")
    # the extended set is the core plus the weakly supported members moved out of it
    extended = sets["MULTIDRUG_EFFLUX_EXTENDED"].genes
    assert extended[:6] == sets["MULTIDRUG_EFFLUX_CORE"].genes and len(extended) == 16
    assert {"MVP", "RALBP1", "ABCA2", "ABCA3", "ABCB4", "ABCC6"} <= set(extended)
    assert {"FUT8", "SLC35C1", "GMDS", "GFUS"} <= set(sets["CD123_GLYCOSYLATION"].genes)
    assert "SLC46A3" in sets["ADC_INTERNALISATION_LYSOSOME"].genes
    assert {"TCF4", "CLEC4C", "LILRA4", "NRP1", "TCL1A", "IL3RA"} <= set(sets["PDC_BPDCN_IDENTITY"].genes)
    abc = sets["HGNC_ABC_TRANSPORTERS"].genes
    # the full protein-coding HGNC ABC group: 45 ABC* symbols + TAP1, TAP2, CFTR
    assert sum(g.startswith("ABC") for g in abc) == 45 and {"TAP1", "TAP2", "CFTR"} <= set(abc)
    # every efflux-core ABC gene is in the HGNC ABC group
    assert {g for g in sets["MULTIDRUG_EFFLUX_CORE"].genes if g.startswith("ABC")} <= set(abc)
    # non-transporters (no transmembrane domain) and the peptide transporters stay in the family set only
    assert NOT_TRANSPORTERS <= set(abc)
    for name in ("MULTIDRUG_EFFLUX_CORE", "MULTIDRUG_EFFLUX_EXTENDED"):
        assert not NOT_TRANSPORTERS & set(sets[name].genes), name
    # the payload-matched DNA-damage set: NER, TLS, SLFN11; the broad set is kept separately
    payload = set(sets["DNA_DAMAGE_IGN_PAYLOAD"].genes)
    assert {"SLFN11", "XPC", "XPA", "ERCC1", "ERCC4", "POLH", "POLK", "REV1", "REV3L"} <= payload
    assert "MGMT" not in payload and "MGMT" in sets["DNA_DAMAGE_RESPONSE_ALKYLATION"].genes


EVIDENCE = REPO / "src/ressig/data/genesets/ressig_curated_evidence.tsv"


def test_every_shipped_gene_has_evidence_and_a_reference():
    """Beside each shipped GMT a table set, gene, role, evidence, reference (PMID or DOI) lists every member."""
    for gmt in sorted((REPO / "resources/genesets").glob("*.gmt")):
        table = gmt.with_name(gmt.stem + "_evidence.tsv")
        ev = pd.read_csv(table, sep="\t", dtype=str, keep_default_na=False)
        assert list(ev.columns) == ["set", "gene", "role", "evidence", "reference"]
        assert not ev.duplicated(["set", "gene"]).any()
        listed = {(r.set, r.gene) for r in ev.itertuples()}
        shipped = {(gs.name, g) for gs in read_gmt(gmt).values() for g in gs.genes}
        assert shipped - listed == set(), f"{table.name}: members without evidence: {sorted(shipped - listed)[:5]}"
        assert listed - shipped == set(), f"{table.name}: rows for genes not in the GMT: {sorted(listed - shipped)[:5]}"
        for r in ev.itertuples():
            assert r.role and len(r.evidence) > 20, (r.set, r.gene)
            assert re.fullmatch(r"(doi:10\.\d{4,9}/\S+|PMID:\d{6,9})(; (doi:10\.\d{4,9}/\S+|PMID:\d{6,9}))*",
                                r.reference), (r.set, r.gene, r.reference)
    ev = pd.read_csv(EVIDENCE, sep="\t", dtype=str)
    moved = ev[(ev["set"] == "MULTIDRUG_EFFLUX_EXTENDED") & (ev["role"] == "weakly supported (extended only)")]
    assert set(moved["gene"]) == set(read_gmt(CURATED)["MULTIDRUG_EFFLUX_EXTENDED"].genes[6:])
    assert moved["evidence"].str.startswith("moved out of the core: ").all()  # each with its reason


def test_curated_symbols_are_current_protein_coding():
    table = REPO / "resources/genes/hs_genes.tsv.gz"
    genes = pd.read_csv(table, sep="\t", dtype=str, comment="#")
    coding = set(genes.loc[genes["gene_type"] == "protein-coding", "symbol"])
    for gs in read_gmt(CURATED).values():
        bad = [g for g in gs.genes if g not in coding]
        assert not bad, f"{gs.name}: not current protein-coding symbols: {bad}"


def test_curated_provenance_documents_every_set():
    text = (REPO / "resources/genesets/PROVENANCE.md").read_text()
    for name in read_gmts(sorted((REPO / "resources/genesets").glob("*.gmt"))):
        row = next((ln for ln in text.splitlines() if ln.startswith(f"| `{name}`")), None)
        assert row is not None, f"{name} missing from PROVENANCE.md"
        assert re.search(r"\| \d{4}-\d{2}-\d{2} \|", row), f"{name}: no date"
        assert "CC0" in row or "MIT" in row, f"{name}: no licence"


def test_demo_counts_contain_every_curated_gene():
    counts_genes = set(pd.read_csv(REPO / "resources/demo/counts.tsv", sep="\t", usecols=[0]).iloc[:, 0])
    for gs in read_gmts(sorted((REPO / "resources/genesets").glob("*.gmt"))).values():
        missing = [g for g in gs.genes if g not in counts_genes]
        assert not missing, f"{gs.name}: not in demo counts: {missing}"
