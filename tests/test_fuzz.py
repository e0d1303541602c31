"""Fuzzing the parsers: arbitrary bytes/text give a result or a RessigError, never anything else."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ressig.errors import RessigError
from ressig.genesets import parse_gmt
from ressig.io import read_counts, read_sample_sheet
from ressig.signature import load_signature

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
#: Text that looks like tables: tabs, newlines, numbers, signs and odd characters are common.
table_text = st.text(alphabet=st.sampled_from(list("\t\n,;.-+eE0123456789 abcGENSsample\"#\ufeff/\\é")),
                     max_size=300)


def _only_project_errors(fn, *args) -> None:
    try:
        fn(*args)
    except RessigError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(text=table_text)
@example(text="\ufeff\ufeff")  # found by hypothesis in the lowest-version run: BOM-only header
def test_counts_parser_fuzz(tmp_path_factory, text: str) -> None:
    p = Path(tmp_path_factory.mktemp("fz")) / "counts.tsv"
    p.write_text(text, encoding="utf-8")
    try:
        out = read_counts(p)
    except RessigError:
        return
    assert isinstance(out, pd.DataFrame) and (out.to_numpy() >= 0).all()


@FUZZ
@given(data=st.binary(max_size=200))
def test_counts_parser_fuzz_bytes(tmp_path_factory, data: bytes) -> None:
    p = Path(tmp_path_factory.mktemp("fz")) / "counts.tsv.gz"
    p.write_bytes(data)
    _only_project_errors(read_counts, p)


@FUZZ
@given(text=table_text)
def test_sample_sheet_parser_fuzz(tmp_path_factory, text: str) -> None:
    p = Path(tmp_path_factory.mktemp("fz")) / "samples.tsv"
    p.write_text("sample\tcondition\n" + text, encoding="utf-8")
    try:
        sheet = read_sample_sheet(p)
    except RessigError:
        return
    # whatever passes is safe to use as a file name
    assert all(s not in (".", "..") and "/" not in s and s.strip() == s for s in sheet.index)


@FUZZ
@given(text=table_text)
def test_gmt_parser_fuzz(text: str) -> None:
    try:
        sets = parse_gmt(text, "fuzz.gmt")
    except RessigError:
        return
    assert all(len(gs.genes) > 0 for gs in sets.values())


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                           max_leaves=20)


@FUZZ
@given(obj=st.dictionaries(st.sampled_from(["format", "schema_version", "name", "version", "created", "genes",
                                            "checksum", "reference", "derivation", "scoring", "id_type",
                                            "ressig_version"]), json_values, max_size=12))
def test_signature_loader_fuzz(tmp_path_factory, obj) -> None:
    obj = {"format": "ressig-signature", **obj}
    p = Path(tmp_path_factory.mktemp("fz")) / "s.ressig.json"
    p.write_text(json.dumps(obj))
    with pytest.raises(RessigError):  # random content never carries a valid checksum
        load_signature(p)


def test_signature_loader_refuses_deep_nesting_and_huge_files(tmp_path, monkeypatch) -> None:
    deep = tmp_path / "deep.ressig.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(RessigError, match="nested too deeply"):
        load_signature(deep)
    import ressig.signature.artefact as S

    monkeypatch.setattr(S, "MAX_ARTEFACT_BYTES", 1000)
    big = tmp_path / "big.ressig.json"
    big.write_text(json.dumps({"x": "y" * 2000}))
    with pytest.raises(RessigError, match="above the 0 MiB limit"):
        load_signature(big)
