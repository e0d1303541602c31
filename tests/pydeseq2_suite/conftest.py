"""Run PyDESeq2's own R-parity test suite with ressig's engine as the default inference.

``test_pydeseq2.py``, ``test_edge_cases.py`` and ``data/`` are PyDESeq2 0.5.4's ``tests/``
verbatim (MIT, ``LICENSE``; see ``README.md``). This file is the only addition. It does three
things and nothing else:

* every ``DeseqDataSet``/``DeseqStats`` built without an explicit ``inference=`` uses
  :class:`ressig.de.inference.VectorizedInference` instead of PyDESeq2's ``DefaultInference``
  (the names ``pydeseq2.dds.DefaultInference`` and ``pydeseq2.ds.DefaultInference`` are
  patched for the tests of this directory only, then restored);
* the suite's ``import tests`` (used to locate ``data/``) resolves to this directory;
* ``pydeseq2.utils.load_example_data`` reads the synthetic data set from ``datasets/`` here
  (PyDESeq2 downloads it from GitHub when the installed package has no ``datasets/``; tests
  must not use the network).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pandas as pd
import pydeseq2.dds
import pydeseq2.ds
import pydeseq2.utils
import pytest

from ressig.de.inference import VectorizedInference

HERE = Path(__file__).resolve().parent

_shim = types.ModuleType("tests")
_shim.__file__ = str(HERE / "__init__.py")
if getattr(sys.modules.get("tests"), "__file__", None) is None:   # absent, or a namespace package
    sys.modules["tests"] = _shim


def _load_example_data(modality: str = "raw_counts", dataset: str = "synthetic", debug: bool = False,
                       debug_seed: int = 42) -> pd.DataFrame:
    """PyDESeq2's ``load_example_data``, reading the copy in ``datasets/synthetic``."""
    assert modality in ["raw_counts", "metadata"]
    assert dataset == "synthetic"
    path = HERE / "datasets" / "synthetic"
    if modality == "raw_counts":
        df = pd.read_csv(path / "test_counts.csv", sep=",", index_col=0).T
    else:
        df = pd.read_csv(path / "test_metadata.csv", sep=",", index_col=0)
    if debug:
        df = df.sample(n=10, axis=0, random_state=debug_seed)
    return df


pydeseq2.utils.load_example_data = _load_example_data


@pytest.fixture(scope="package", autouse=True)
def ressig_engine_by_default():
    """``DefaultInference`` -> ``VectorizedInference`` while this directory's tests run."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pydeseq2.dds, "DefaultInference", VectorizedInference)
        mp.setattr(pydeseq2.ds, "DefaultInference", VectorizedInference)
        yield


#: the PyDESeq2 release whose tests/ this directory holds
SUITE_VERSION = "0.5.4"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip this directory's tests, saying why, when another PyDESeq2 release is installed.

    The suite asserts the behaviour of its own release (e.g. CI's lowest-versions stage installs
    pydeseq2 0.5.2); CI's stage 1 and the lock install 0.5.4, where every test runs.
    """
    installed = getattr(pydeseq2, "__version__", "unknown")
    if installed == SUITE_VERSION:
        return
    mark = pytest.mark.skip(reason=f"PyDESeq2 {SUITE_VERSION}'s own test suite; pydeseq2 {installed} is installed")
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(mark)
