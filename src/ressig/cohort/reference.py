"""Reference cohorts: score a population with a signature and freeze its score distribution (and, for a bulk
matrix, its gene levels) into the artefact (``ressig signature --reference-cohort``)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from .._log import logger
from ..errors import input_error
from ..signature.artefact import FrozenSignature, gene_levels_block
from .engine import read_and_score, read_dense, score_dense
from .idmap import gene_table_for, matrix_levels
from .options import CohortOptions
from .plan import resolve_kind

#: Largest reference cohort frozen into an artefact (pseudobulk a bigger single-cell cohort).
MAX_REFERENCE_SAMPLES = 20_000


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def attach_reference_cohort(sig: FrozenSignature, path: str | Path, opts=None) -> FrozenSignature:
    """Score a reference cohort with ``sig`` and freeze its score distribution into ``sig``.

    Parameters
    ----------
    sig
        The signature (modified in place and returned).
    path
        Any cohort input ``ressig score`` reads (bulk/microarray matrix, ``.h5ad``, optionally
        pseudobulked through ``opts``); gene ids are mapped as when scoring patients.
    opts
        :class:`ressig.cohort.CohortOptions` (no p-values are computed for the reference).

    The artefact records the file name, its SHA-256, the number of samples and of finite scores.
    A bulk (gene-level matrix) reference cohort also replaces the training levels of the matched
    null (``reference.gene_levels``) with its own: patients are then compared with random genes of
    the same level in a real population, free of the selection bias of levels estimated on the
    few training samples the signature was selected from.
    """
    path = Path(path)
    opts = replace(opts or CohortOptions(progress=False), null_draws=0, shard=(0, 1))
    kind = resolve_kind(path, opts)
    data = None
    if kind == "bulk":  # read once: scored here, its gene levels below
        data, _ = read_dense(path, kind, opts)
        scores = score_dense(data, [sig], opts, source=path).scores
    else:
        scores = read_and_score(path, [sig], opts, kind=kind).scores
    values = scores["score"].to_numpy(dtype=float)
    finite = np.sort(values[np.isfinite(values)])
    if finite.size < 2:
        raise input_error(path, f"reference cohort gives {finite.size} finite score(s); at least 2 are needed",
                          "Use a cohort with more samples (or more signature genes measured)")
    if finite.size > MAX_REFERENCE_SAMPLES:
        raise input_error(path, f"reference cohort has {finite.size} samples, above the {MAX_REFERENCE_SAMPLES} "
                          "frozen into an artefact", "Pseudobulk a single-cell reference (--reference-pseudobulk)")
    sig.reference_cohort = {
        "source": {"file": path.name, "sha256": _sha256_file(path), "n_samples": int(values.size),
                   "n_scored": int(finite.size), "kind": opts.kind, "pseudobulk": opts.pseudobulk},
        "scores": [float(v) for v in finite],
    }
    logger.info("signature %s: froze the score distribution of reference cohort %s (%d samples, median %.4f)",
                sig.name, path.name, finite.size, float(np.median(finite)))
    if data is not None:  # a gene-level matrix: its levels stratify the matched null
        sig.gene_levels = gene_levels_block(matrix_levels(data, gene_table_for(opts), opts, path),
                                            f"cohort:{path.name}", values.size)
    else:
        logger.info("signature %s: the matched null keeps the training levels (%s reference cohorts give no "
                    "gene levels)", sig.name, kind)
    return sig
