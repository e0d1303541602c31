"""ressig.scoring.part_mads: the scaled MAD of each signature part, equal bit for bit to NumPy's."""

from __future__ import annotations

import numpy as np
import pytest

from ressig.scoring import part_mads
from ressig.scoring.types import MAD_SCALE


def numpy_mad(values: np.ndarray) -> np.ndarray:
    """The reference: scaled nan-MAD along axis 1 with NumPy (NaN for rows without a value)."""
    out = np.full(values.shape[0], np.nan)
    for i, row in enumerate(values):
        v = row[~np.isnan(row)]
        if v.size:
            out[i] = MAD_SCALE * np.median(np.abs(v - np.median(v)))
    return out


def test_planted_values() -> None:
    # ranks 1, 2, 4, 10 -> median 3, deviations 2, 1, 1, 7 -> median 1.5; odd part 5, 1, 3 -> median 3,
    # deviations 2, 2, 0 -> 2; a NaN is left out; a part without values is NaN
    x = np.array([[1.0, 2.0, 4.0, 10.0, 5.0, 1.0, 3.0, np.nan]])
    got = part_mads(x, [np.array([0, 1, 2, 3]), np.array([4, 5, 6, 7]), np.array([7])])
    assert got[0, 0] == MAD_SCALE * 1.5
    assert got[0, 1] == MAD_SCALE * 2.0
    assert np.isnan(got[0, 2])
    assert part_mads(x, [np.array([0, 1, 2, 3])], scale=1.0)[0, 0] == 1.5


@pytest.mark.parametrize("seed", range(6))
def test_equals_numpy_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_genes = 300
    # half-integer ranks with ties, a few NaN, and real-valued columns
    x = rng.integers(1, 2 * n_genes, size=(40, n_genes)) / 2.0
    if seed % 2:
        x = rng.normal(size=(40, n_genes))
    x[rng.random(x.shape) < 0.05] = np.nan
    x[3] = np.nan  # a row without any value
    x[4, :] = 7.0  # all tied: MAD 0
    parts = [rng.choice(n_genes, size=k, replace=False) for k in (1, 2, 3, 15, 16, 100, 101, 250)]
    got = part_mads(x, parts)
    want = np.column_stack([numpy_mad(x[:, p]) for p in parts])
    np.testing.assert_array_equal(got, want)  # NaN in the same places, every other value identical
    assert np.isnan(got[3]).all() and (got[4] == 0).all()


def test_no_parts_and_bad_indices() -> None:
    x = np.ones((3, 4))
    assert part_mads(x, []).shape == (3, 0)
    with pytest.raises(ValueError, match=r"part column indices must lie in 0\.\.3"):
        part_mads(x, [np.array([0, 4])])
