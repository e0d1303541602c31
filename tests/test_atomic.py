"""Output targets and all-or-nothing writes (ressig._atomic) with real links, pipes and devices."""

from __future__ import annotations

import gzip
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from ressig._atomic import atomic_group, output_target, write_json, write_table, write_text
from ressig.errors import RessigError

TABLE = pd.DataFrame({"x": [1.5, 2.0]}, index=pd.Index(["a", "b"], name="gene_id"))
TABLE_TEXT = "gene_id\tx\na\t1.5\nb\t2\n"


def _read_fifo(path: Path, out: list[bytes]) -> threading.Thread:
    def reader():
        with open(path, "rb") as fh:
            out.append(fh.read())

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    return t


def test_regular_file_is_replaced_atomically_without_leftovers(tmp_path):
    target = tmp_path / "sub" / "t.tsv"
    write_table(TABLE, target)
    write_table(TABLE * 2, target)
    assert target.read_text() == "gene_id\tx\na\t3\nb\t4\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["t.tsv"]


def test_symlink_stays_a_link_and_its_target_is_written(tmp_path):
    real = tmp_path / "data" / "real.tsv"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "link.tsv"
    link.symlink_to(Path("data") / "real.tsv")  # relative link
    write_table(TABLE, link)
    assert link.is_symlink() and os.readlink(link) == str(Path("data") / "real.tsv")
    assert real.read_text() == TABLE_TEXT
    assert sorted(p.name for p in real.parent.iterdir()) == ["real.tsv"]
    # a dangling link: the file it names is created, the link stays
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "data" / "new.json")
    write_json({"a": 1}, dangling)
    assert dangling.is_symlink() and (tmp_path / "data" / "new.json").read_text() == '{\n  "a": 1\n}\n'


def test_fifo_is_written_straight_through(tmp_path):
    fifo = tmp_path / "pipe.tsv"
    os.mkfifo(fifo)
    got: list[bytes] = []
    t = _read_fifo(fifo, got)
    write_table(TABLE, fifo)
    t.join(10)
    assert got == [TABLE_TEXT.encode()]
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.tsv"]


def test_symlink_to_fifo_and_character_devices(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "out.txt"
    link.symlink_to(fifo)
    got: list[bytes] = []
    t = _read_fifo(fifo, got)
    write_text("hello\n", link)
    t.join(10)
    assert got == [b"hello\n"] and link.is_symlink() and stat.S_ISFIFO(fifo.stat().st_mode)
    assert output_target("/dev/null") == (Path("/dev/null"), True)
    write_text("discarded\n", "/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


_WRITE = ("import sys, pandas as pd; from ressig._atomic import write_table, write_text; "
          "write_text('first\\n', '-'); "
          "write_table(pd.DataFrame({'x': [1]}, index=pd.Index(['a'], name='g')), sys.argv[1])")
_ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}


def test_stdout_dash_and_dev_stdout_are_streams(tmp_path):
    out = subprocess.run([sys.executable, "-c", _WRITE, "/dev/stdout"], capture_output=True, text=True,
                         env=_ENV, check=True)
    assert out.stdout == "first\ng\tx\na\t1\n"
    # stdout redirected to a regular file: that file (same inode) receives both writes in order
    log = tmp_path / "log.txt"
    with open(log, "wb") as fh:
        subprocess.run([sys.executable, "-c", _WRITE, "/dev/stdout"], stdout=fh, env=_ENV, check=True)
    assert log.read_text() == "first\ng\tx\na\t1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.txt"]


def test_process_substitution_is_written_through(tmp_path):
    script = f'"{sys.executable}" -c "$1" >(gzip > "$2") > /dev/null; wait $!'
    subprocess.run(["bash", "-c", script, "bash", _WRITE, str(tmp_path / "x.tsv.gz")], env=_ENV, check=True,
                   timeout=60)
    with gzip.open(tmp_path / "x.tsv.gz", "rt") as fh:
        assert fh.read() == "g\tx\na\t1\n"


def test_dev_full_gives_one_line_error_and_stays_a_device():
    with pytest.raises(RessigError, match=r"^/dev/full: cannot write output \(No space left on device\)"):
        write_table(TABLE, "/dev/full")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_directory_target_is_refused(tmp_path):
    with pytest.raises(RessigError, match="output target is a directory"):
        write_text("x", tmp_path)


def test_group_commits_all_together(tmp_path):
    with atomic_group():
        write_table(TABLE, tmp_path / "a.tsv")
        write_text("b\n", tmp_path / "b.txt")
        assert not (tmp_path / "a.tsv").exists()  # staged, not yet in place
    assert (tmp_path / "a.tsv").read_text() == TABLE_TEXT and (tmp_path / "b.txt").read_text() == "b\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tsv", "b.txt"]


def test_group_leaves_nothing_when_the_block_fails(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with atomic_group() as g:
            write_table(TABLE, tmp_path / "a.tsv")
            g.path(tmp_path / "c.bin").write_bytes(b"c")
            1 / 0  # noqa: B018 - a computation failing between two writes
    assert list(tmp_path.iterdir()) == []


def test_group_removes_renamed_outputs_when_a_later_write_fails(tmp_path):
    (tmp_path / "full.tsv").symlink_to("/dev/full")
    with pytest.raises(RessigError, match=r"full.tsv: cannot write output .*removed the 2 other output\(s\)"):
        with atomic_group():
            write_table(TABLE, tmp_path / "a.tsv")
            write_table(TABLE, tmp_path / "full.tsv")
            write_text("b\n", tmp_path / "b.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.tsv"]
    assert (tmp_path / "full.tsv").is_symlink()


# --------------------------------------------------------------------------- multi-file steps


@pytest.fixture(scope="module")
def step_inputs(tmp_path_factory, small_experiment):
    """DE outputs, sample sheet and protein table of the small simulated experiment, as files."""
    from ressig.de import run_de, write_de

    d = tmp_path_factory.mktemp("step_inputs")
    sheet = small_experiment.samples.set_index("sample")
    result = run_de(small_experiment.counts, sheet, covariates=["batch"], n_cpus=1)
    write_de(result, d / "de")
    write_table(sheet, d / "samples.tsv")
    small_experiment.protein.to_csv(d / "protein.tsv", sep="\t", index=False)
    return d, result


def _only_full_link(outdir: Path, full: str) -> None:
    """No output except the link to /dev/full is left in ``outdir`` (and it is still a link)."""
    left = sorted(str(p.relative_to(outdir)) for p in outdir.rglob("*") if not p.is_dir())
    assert left == [full]
    assert (outdir / full).is_symlink() and stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_de_outputs_all_or_nothing(step_inputs, tmp_path):
    from ressig.de import write_de

    _, result = step_inputs
    (tmp_path / "vst.tsv").symlink_to("/dev/full")
    with pytest.raises(RessigError, match=r"vst.tsv: cannot write output \(No space left on device\)"):
        write_de(result, tmp_path)
    _only_full_link(tmp_path, "vst.tsv")
    (tmp_path / "vst.tsv").unlink()
    files = write_de(result, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in files)


def test_concordance_outputs_all_or_nothing(step_inputs, tmp_path):
    from ressig.concordance import run_concordance

    d, _ = step_inputs
    (tmp_path / "per_sample.png").symlink_to("/dev/full")
    with pytest.raises(RessigError, match=r"per_sample.png: cannot write output .*removed the 4 other output"):
        run_concordance(d / "de/resistant_vs_parental.tsv", d / "de/normalized_counts.tsv", d / "samples.tsv",
                        tmp_path, protein_path=d / "protein.tsv", covariates=["batch"])
    _only_full_link(tmp_path, "per_sample.png")


def test_efflux_outputs_all_or_nothing(step_inputs, tmp_path):
    from ressig.gsea import run_efflux

    d, _ = step_inputs
    (tmp_path / "enrichment").mkdir()
    (tmp_path / "enrichment" / "MULTIDRUG_EFFLUX_CORE.png").symlink_to("/dev/full")
    with pytest.raises(RessigError, match=r"MULTIDRUG_EFFLUX_CORE.png: cannot write output"):
        run_efflux(d / "de/resistant_vs_parental.tsv", d / "de/normalized_counts.tsv", d / "samples.tsv",
                   [Path(__file__).resolve().parents[1] / "resources/genesets/ressig_curated.gmt"], tmp_path,
                   permutations=20, top_n=1)
    _only_full_link(tmp_path, "enrichment/MULTIDRUG_EFFLUX_CORE.png")
