"""Write scores into the ``obs`` of a byte-for-byte copy of an ``.h5ad`` file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from .._atomic import atomic_path
from .._log import logger
from .sinks import to_wide


def annotate_h5ad(input_path: str | Path, scores: pd.DataFrame, out_path: str | Path,
                  pseudobulk: str | None = None) -> Path:
    """Copy ``input_path`` to ``out_path`` and add the score columns to its ``obs``.

    The copy is byte for byte (``X``, layers, ``uns`` untouched, nothing loaded into memory);
    then only the ``obs`` group is replaced. ``obs`` gains the columns of the wide score table
    (:func:`obs_columns`): one per signature (its score) and ``<signature>_<column>`` for the
    other columns of the table. With ``pseudobulk``, each cell gets its group's scores (cells
    without a group label get NaN).
    """
    import h5py
    from anndata.io import read_elem, write_elem

    input_path, out_path = Path(input_path), Path(out_path)
    wide = obs_columns(scores)
    with atomic_path(out_path) as tmp:
        shutil.copyfile(input_path, tmp)
        with h5py.File(tmp, "r+") as f:
            obs = read_elem(f["obs"])
            keys = obs[pseudobulk].astype(str).to_numpy() if pseudobulk else obs.index.astype(str).to_numpy()
            clash = [c for c in wide.columns if c in obs.columns]
            if clash:
                logger.warning("%s: obs column(s) %s replaced by scores", out_path, ", ".join(clash[:5]))
            for col in wide.columns:
                values = wide[col].reindex(keys)
                if values.dtype == object:  # text columns (call, reference): no NaN in HDF5 strings
                    values = values.fillna("").astype(str)
                obs[col] = values.to_numpy()
            del f["obs"]
            write_elem(f, "obs", obs)
    return out_path


def obs_columns(scores: pd.DataFrame) -> pd.DataFrame:
    """Score table (long or wide) → wide frame indexed by sample/cell: one column per signature
    (score), then ``<signature>_<column>`` for every other column of a long table."""
    if "signature" not in scores.columns:
        return scores.set_index(scores["sample"].astype(str)).drop(columns="sample")
    names = list(dict.fromkeys(scores["signature"]))
    extra = [c for c in scores.columns if c not in ("signature", "sample", "score")]
    wide = to_wide(scores, names, extra)
    return wide.set_index(wide["sample"].astype(str)).drop(columns="sample")
