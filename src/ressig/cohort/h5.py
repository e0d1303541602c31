"""Backed, chunked access to the matrix of an ``.h5ad`` file (never loaded whole)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._log import logger
from ..errors import FILE_ERRORS, input_error

# ---------------------------------------------------------------------------------------------
# .h5ad, backed and chunked
# ---------------------------------------------------------------------------------------------


def h5_open(path: Path):
    """Open an ``.h5ad`` file read-only with h5py, turning a missing or unreadable file into one input error."""
    import h5py

    if not path.exists():
        raise input_error(path, "file not found", "Check the --input path")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise input_error(path, f"corrupt or not an .h5ad (HDF5) file ({str(exc).splitlines()[0][:160]})",
                          "Re-create or re-copy the file") from None
    for key in ("obs", "var", "X"):
        if key not in f:
            f.close()
            raise input_error(path, f"not a valid .h5ad: no '{key}' element", "Write the file with anndata")
    return f


class BackedMatrix:
    """Row-sliceable handle on X or a layer of an open .h5ad (dense or sparse)."""

    def __init__(self, f, key: str, path: Path):
        import h5py
        from anndata.io import sparse_dataset

        if key not in f:
            raise input_error(path, f"layer {key.split('/')[-1]!r} not found "
                              f"(layers: {', '.join(f['layers'].keys()) if 'layers' in f else 'none'})",
                              "Check --layer")
        node = f[key]
        try:
            if isinstance(node, h5py.Group):
                self.ds = sparse_dataset(node)
                self.format = self.ds.format
                self.dtype = node["data"].dtype
            else:
                self.ds = node
                self.format = "dense"
                self.dtype = node.dtype
            self.shape = tuple(self.ds.shape)
        except (*FILE_ERRORS, TypeError) as exc:  # malformed sparse groups: h5py/anndata Key/Type/OSError
            raise input_error(path, f"cannot read {key} ({type(exc).__name__}: {str(exc)[:160]})",
                              "Check the file is a complete AnnData .h5ad") from None
        if not np.issubdtype(self.dtype, np.number) or np.issubdtype(self.dtype, np.complexfloating):
            raise input_error(path, f"{key} holds non-numeric values (dtype {self.dtype})",
                              "Expression values must be numbers")
        if self.format == "csc":
            logger.warning("%s: %s is CSC; every chunk of cells scans the whole matrix column block by column "
                           "block (memory stays bounded, time grows with the number of chunks: store CSR for "
                           "large files)", path, key)
            self.group = node
        self.path = path

    def _csc_rows(self, start: int, stop: int, block_nnz: int = 4_000_000) -> sp.csr_matrix:
        """Rows ``start:stop`` of a CSC matrix on disk, reading ``block_nnz`` stored values at a time
        (anndata would load the whole matrix for a row slice of CSC)."""
        indptr = self.group["indptr"][...]
        n_genes = self.shape[1]
        rows, cols, vals = [], [], []
        lo_col = 0
        while lo_col < n_genes:
            hi_col = int(np.searchsorted(indptr, indptr[lo_col] + block_nnz, side="right")) - 1
            hi_col = min(n_genes, max(hi_col, lo_col + 1))
            a, b = int(indptr[lo_col]), int(indptr[hi_col])
            idx = self.group["indices"][a:b]
            keep = (idx >= start) & (idx < stop)
            if keep.any():
                col = np.repeat(np.arange(lo_col, hi_col), np.diff(indptr[lo_col:hi_col + 1]))
                rows.append(idx[keep] - start)
                cols.append(col[keep])
                vals.append(self.group["data"][a:b][keep])
            lo_col = hi_col
        if not rows:
            return sp.csr_matrix((stop - start, n_genes))
        return sp.csr_matrix((np.concatenate(vals).astype(float), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(stop - start, n_genes))

    def rows(self, start: int, stop: int):
        try:
            block = self._csc_rows(start, stop) if self.format == "csc" else self.ds[start:stop]
        except FILE_ERRORS as exc:  # truncated/corrupt datasets: h5py OSError/KeyError/ValueError
            raise input_error(self.path, f"cannot read cells {start}-{stop} ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:160]})", "The file is corrupt or truncated") from None
        if sp.issparse(block):
            return sp.csr_matrix(block, dtype=float)
        return np.asarray(block, dtype=float)


def read_h5_elem(f, key: str, path: Path) -> pd.DataFrame:
    """Read the AnnData element ``key`` (``obs``/``var``) of an open ``.h5ad`` with a clear error."""
    from anndata.io import read_elem

    try:
        return read_elem(f[key])
    except (*FILE_ERRORS, TypeError, NotImplementedError) as exc:  # anndata: unknown/garbled encodings
        raise input_error(path, f"cannot read {key} ({type(exc).__name__}: {str(exc)[:160]})",
                          "Check the file is a complete AnnData .h5ad") from None
