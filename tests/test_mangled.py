"""Gene ids a spreadsheet turned into dates (ressig.mangled): found, named once, noted, never mapped.

Real files: the demo counts with four rows renamed, and R tximport's gene counts of the GEUVADIS
salmon fixture (2016 RefSeq symbols: MARCH1, MARC2, SEPT7, ...) renamed as Excel renames them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).parents[1]
DEMO = ROOT / "resources" / "demo" / "counts.tsv"
SHEET = ROOT / "config" / "samples.tsv"
SALMON = Path(__file__).parent / "fixtures" / "tximport_salmon"
_MONTH = {"MARCH": "Mar", "MARC": "Mar", "SEPT": "Sep"}


def _ressig(*args: object, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "ressig", *map(str, args)], capture_output=True, text=True,
                          timeout=600)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.parametrize(("gene_id", "form", "candidates"), [
    ("1-Mar", "D-Mon", ("MARCHF1", "MTARC1", "RTL1", "SETMAR")),     # MARCH1 / MARC1 (MAR1: RTL1, SETMAR)
    ("2-Mar", "D-Mon", ("MARCHF2", "MTARC2", "PEG10")),
    ("7-Sep", "D-Mon", ("SEPTIN7",)),
    ("2-Sep", "D-Mon", ("SEPTIN2", "SEPTIN6", "SEPTIN8")),           # SEPT2 is also an alias of SEPTIN6
    ("Sep-07", "Mon-D", ("SEPTIN7",)),
    ("1-dec", "D-Mon", ("DELEC1", "BHLHE40")),                        # DEC1: DELEC1's former symbol, BHLHE40's alias
    ("2016-09-07", "ISO date", ("SEPTIN7",)),
    ("2016-03-11 00:00:00", "ISO date", ("MARCHF11",)),
    ("15-Mar", "D-Mon", ()),                                          # a date, but no gene was called MARCH15
])
def test_find_mangled_forms_and_candidates(gene_id, form, candidates):
    from ressig.mangled import find_mangled

    (m,) = find_mangled([gene_id, "TP53", "EGFR"])
    assert (m.input_id, m.form, m.candidates) == (gene_id, form, candidates)
    assert m.note.endswith("not mapped (restore the name at the source)" if candidates else "not mapped")


def test_date_serials_only_in_a_column_of_names():
    from ressig.mangled import find_mangled

    (m,) = find_mangled(["TP53", "EGFR", "42620", "KRAS"])          # 42620 = 2016-09-07 in Excel
    assert (m.form, m.candidates) == ("date serial 2016-09-07", ("SEPTIN7",))
    assert find_mangled(["7157", "1956", "42620", "3845"]) == []     # Entrez ids: not a spreadsheet accident
    assert find_mangled(["TP53", "EGFR", "42372", "KRAS"]) == []     # Jan 3: no gene was JAN3, just a number
    assert find_mangled(["MARCHF1", "SEPTIN7", "TP53"]) == []       # approved symbols are never reported


def test_prepare_names_and_notes_four_mangled_demo_rows(tmp_path):
    """The bar: four demo rows renamed; prepare names them in one log line, the mapping report notes all
    four with their candidates, and every other row of the output is unchanged."""
    demo = pd.read_csv(DEMO, sep="\t", index_col=0)
    names = {100: "1-Mar", 200: "7-Sep", 300: "2-Sep", 400: "2016-09-07"}
    ids = list(demo.index)
    for i, new in names.items():
        ids[i] = new
    demo.set_axis(pd.Index(ids, name=demo.index.name), axis=0).to_csv(tmp_path / "mangled.tsv", sep="\t")
    ref = _ressig("prepare", "--counts", DEMO, "--samples", SHEET, "--out-counts", tmp_path / "ref.tsv",
                  "--out-samples", tmp_path / "s0.tsv", "--out-mapping", tmp_path / "m0.tsv")
    got = _ressig("prepare", "--counts", tmp_path / "mangled.tsv", "--samples", SHEET, "--out-counts",
                  tmp_path / "out.tsv", "--out-samples", tmp_path / "s1.tsv", "--out-mapping", tmp_path / "m1.tsv")
    assert "spreadsheet" not in ref.stderr
    lines = [ln for ln in got.stderr.splitlines() if "spreadsheet" in ln]
    assert lines == [f"[ressig] {tmp_path / 'mangled.tsv'}: 4 gene id(s) look like dates made by a spreadsheet "
                     "(Excel), not mapped to any gene: 1-Mar (MARCHF1 or MTARC1 or RTL1 or SETMAR); 7-Sep (SEPTIN7); "
                     "2-Sep (SEPTIN2 or SEPTIN6 or SEPTIN8); 2016-09-07 (SEPTIN7); see the gene mapping report and "
                     "restore the names at the source"]
    report = pd.read_csv(tmp_path / "m1.tsv", sep="\t", keep_default_na=False).set_index("input_id")
    assert report.loc["1-Mar", "note"] == ("looks like a spreadsheet-converted date (D-Mon, Mar 1); candidate "
                                           "gene(s): MARCHF1, MTARC1, RTL1, SETMAR; not mapped (restore the name at "
                                           "the source)")
    for gene_id, cand in [("7-Sep", "SEPTIN7"), ("2-Sep", "SEPTIN2, SEPTIN6, SEPTIN8"), ("2016-09-07", "SEPTIN7")]:
        assert report.loc[gene_id, "note"].endswith(f"candidate gene(s): {cand}; not mapped (restore the name at "
                                                    "the source)")
        assert report.loc[gene_id, ["mapped_id", "how"]].tolist() == [gene_id, "unknown"]
    assert (report["note"] != "").sum() == 4
    ref_counts = pd.read_csv(tmp_path / "ref.tsv", sep="\t", index_col=0)
    out = pd.read_csv(tmp_path / "out.tsv", sep="\t", index_col=0)
    keep = [i for i in range(len(out)) if i not in names]
    pd.testing.assert_frame_equal(out.iloc[keep], ref_counts.iloc[keep])
    assert list(out.index[list(names)]) == list(names.values())
    assert (out.iloc[list(names)].to_numpy() == ref_counts.iloc[list(names)].to_numpy()).all()
    m0 = pd.read_csv(tmp_path / "m0.tsv", sep="\t", keep_default_na=False)
    m1 = pd.read_csv(tmp_path / "m1.tsv", sep="\t", keep_default_na=False)
    pd.testing.assert_frame_equal(m1.iloc[keep], m0.iloc[keep])


def _excel(symbol: str) -> str:
    """What Excel shows for MARCH1 / MARC2 / SEPT7: ``1-Mar``, ``2-Mar``, ``7-Sep``."""
    for prefix, mon in _MONTH.items():
        if symbol.startswith(prefix) and symbol[len(prefix):].isdigit():
            return f"{int(symbol[len(prefix):])}-{mon}"
    return symbol


def _real_symbol_matrix(tmp_path: Path) -> tuple[pd.DataFrame, Path]:
    counts = pd.read_csv(SALMON / "tximport_counts.tsv.gz", sep="\t", index_col=0).round().astype("int64")
    sheet = pd.read_csv(SALMON / "samples.tsv", sep="\t").drop(columns="counts")
    sheet.to_csv(tmp_path / "sheet.tsv", sep="\t", index=False)
    return counts, tmp_path / "sheet.tsv"


def test_mangled_copy_of_a_real_symbol_matrix(tmp_path):
    """R tximport's gene counts on 2016 RefSeq symbols: its 13 MARCH/MARC/SEPT genes as Excel shows them.
    MARCH2 and MARC2 both become ``2-Mar``: prepare names the 12 distinct ids first, then refuses the
    duplicate."""
    counts, sheet = _real_symbol_matrix(tmp_path)
    excel = pd.Index([_excel(g) for g in counts.index], name="gene_id")
    changed = counts.index[excel != counts.index]
    assert sorted(changed) == ["MARC2", "MARCH1", "MARCH11", "MARCH2", "MARCH6", "MARCH8", "MARCH9", "SEPT11",
                               "SEPT14", "SEPT5", "SEPT6", "SEPT7", "SEPT9"]
    counts.set_axis(excel, axis=0).to_csv(tmp_path / "excel.tsv", sep="\t")
    bad = _ressig("prepare", "--counts", tmp_path / "excel.tsv", "--samples", sheet, "--out-counts",
                  tmp_path / "c.tsv", "--out-samples", tmp_path / "s.tsv", ok=False)
    assert bad.returncode == 2 and not (tmp_path / "c.tsv").exists()
    assert "12 gene id(s) look like dates made by a spreadsheet" in bad.stderr
    assert "2-Mar (MARCHF2 or MTARC2 or PEG10)" in bad.stderr
    assert "ressig: error:" in bad.stderr and "2-Mar from 2-Mar, 2-Mar" in bad.stderr

    # the ISO form of MARC2 (as a date-typed column exports it): no duplicate; all 13 noted, none mapped
    excel = pd.Index(["2016-03-02" if g == "MARC2" else _excel(g) for g in counts.index], name="gene_id")
    counts.set_axis(excel, axis=0).to_csv(tmp_path / "excel.tsv", sep="\t")
    _ressig("prepare", "--counts", tmp_path / "excel.tsv", "--samples", sheet, "--out-counts", tmp_path / "c.tsv",
            "--out-samples", tmp_path / "s.tsv", "--out-mapping", tmp_path / "m.tsv")
    report = pd.read_csv(tmp_path / "m.tsv", sep="\t", keep_default_na=False).set_index("input_id")
    noted = report[report["note"].str.startswith("looks like a spreadsheet-converted date")]
    assert len(noted) == 13 and (noted["mapped_id"] == noted.index).all()
    assert "candidate gene(s): SEPTIN7;" in noted.loc["7-Sep", "note"]
    assert "candidate gene(s): MARCHF2, MTARC2, PEG10;" in noted.loc["2016-03-02", "note"]
    out = pd.read_csv(tmp_path / "c.tsv", sep="\t", index_col=0)
    assert (out.loc["7-Sep"].to_numpy() == counts.loc["SEPT7"].to_numpy()).all()   # the counts stay with the row
    untouched = report.index.difference(noted.index)
    assert (report.loc[untouched, "note"].str.contains("spreadsheet") == 0).all()


def test_cohort_mapping_report_notes_mangled_ids(caplog):
    from ressig.cohort.idmap import mapping_report
    from ressig.genes import load_gene_table

    ids = ["TP53", "7-Sep", "1-Mar", "KRAS"]
    mapped, how = load_gene_table().map_ids(ids)
    with caplog.at_level("INFO", logger="ressig"):
        report = mapping_report(ids, mapped, how, "cohort.tsv")
    assert list(report.columns) == ["input_id", "gene", "how", "note"]
    assert report["gene"].tolist() == ids                                 # never mapped
    assert report["note"].str.contains("spreadsheet-converted date").tolist() == [False, True, True, False]
    assert [r.getMessage() for r in caplog.records if "spreadsheet" in r.getMessage()] == [
        "cohort.tsv: 2 gene id(s) look like dates made by a spreadsheet (Excel), not mapped to any gene: 7-Sep "
        "(SEPTIN7); 1-Mar (MARCHF1 or MTARC1 or RTL1 or SETMAR); see the gene mapping report and restore the "
        "names at the source"]


def test_gmt_with_mangled_genes_is_named_once(tmp_path, caplog):
    from ressig.genesets import read_gmt

    gmt = tmp_path / "sets.gmt"
    gmt.write_text("SET_A\tdesc\tTP53\t7-Sep\tKRAS\nSET_B\tdesc\tEGFR\t1-Mar\t7-Sep\nSET_C\tdesc\tMYC\tMAX\n")
    with caplog.at_level("INFO", logger="ressig"):
        sets = read_gmt(gmt)
    assert sets["SET_A"].genes == ("TP53", "7-Sep", "KRAS")                   # kept as written
    msgs = [r.getMessage() for r in caplog.records if "spreadsheet" in r.getMessage()]
    assert msgs == [f"{gmt}: 2 gene id(s) look like dates made by a spreadsheet (Excel), not mapped to any gene: "
                    "7-Sep (SEPTIN7); 1-Mar (MARCHF1 or MTARC1 or RTL1 or SETMAR); see gene set(s) SET_A, SET_B and "
                    "restore the names at the source"]


def test_counts_read_without_mangled_ids_need_no_gene_table_load(monkeypatch):
    """The common case costs nothing: no date-like id, no gene-table lookup."""
    import ressig.mangled as mangled

    def boom(*a, **k):
        raise AssertionError("gene table loaded")

    monkeypatch.setattr(mangled, "load_gene_table", boom)
    assert mangled.find_mangled(["TP53", "ENSG00000141510", "7157x"]) == []
