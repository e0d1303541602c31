"""Write scores into the ``obs`` of a byte-for-byte copy of an ``.h5ad`` file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from .._atomic import atomic_path
from .options import OBS_COLUMNS


def annotate_h5ad(input_path: str | Path, scores: pd.DataFrame, out_path: str | Path,
                  pseudobulk: str | None = None) -> Path:
    """Copy ``input_path`` to ``out_path`` and add the score columns to its ``obs``.

    The copy is byte for byte (``X``, layers, ``uns`` untouched, nothing loaded into memory);
    then only the ``obs`` group is replaced, with ``ressig_<signature>_<column>`` columns.
    With ``pseudobulk``, each cell gets its group's scores.
    """
    import h5py
    from anndata.io import read_elem, write_elem

    input_path, out_path = Path(input_path), Path(out_path)
    with atomic_path(out_path) as tmp:
        shutil.copyfile(input_path, tmp)
        with h5py.File(tmp, "r+") as f:
            obs = read_elem(f["obs"])
            keys = obs[pseudobulk].astype(str).to_numpy() if pseudobulk else obs.index.astype(str).to_numpy()
            for sig, sub in scores.groupby("signature", sort=False):
                sub = sub.set_index(sub["sample"].astype(str))
                for col in OBS_COLUMNS:
                    obs[f"ressig_{sig}_{col}"] = sub[col].reindex(keys).to_numpy()
            del f["obs"]
            write_elem(f, "obs", obs)
    return out_path
