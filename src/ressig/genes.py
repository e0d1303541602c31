"""Gene identifiers: Ensembl version suffixes, aliases and duplicate ids.

Rules (documented in ``config/README.md``):

* Ensembl ids are compared **without** their version suffix (``ENSG00000185499.17`` →
  ``ENSG00000185499``). Stripping is logged with the number of ids changed.
* Aliases of the genes this project cares about are mapped to HGNC symbols
  (``CD123`` → ``IL3RA``, ``MDR1``/``PGP`` → ``ABCB1``, ...). Mapping is logged.
* Duplicate ids (present in the file, or created by the two rules above) are an error by
  default; with ``duplicates="sum"`` their counts are summed and the ids are logged.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ._log import logger
from .errors import input_error

_ENSEMBL_VERSIONED = re.compile(r"^(ENS[A-Z]*[GTP]\d{11})\.\d+(_PAR_Y)?$")

#: Aliases of the named genes of interest → approved HGNC symbol.
ALIASES: dict[str, str] = {
    "CD123": "IL3RA",
    "IL3R": "IL3RA",
    "IL3RAY": "IL3RA",
    "MDR1": "ABCB1",
    "PGP": "ABCB1",
    "P-GP": "ABCB1",
    "CD243": "ABCB1",
    "MRP1": "ABCC1",
    "BCRP": "ABCG2",
    "MXR": "ABCG2",
    "CD131": "CSF2RB",
    "BDCA2": "CLEC4C",
    "CD303": "CLEC4C",
    "ILT7": "LILRA4",
    "CD85G": "LILRA4",
    "E2-2": "TCF4",
    "CD304": "NRP1",
    "FX": "GFUS",
    "TSTA3": "GFUS",
}


def strip_ensembl_version(ids: pd.Index) -> tuple[pd.Index, int]:
    """Remove Ensembl version suffixes; return the new ids and how many changed."""
    new = pd.Index([_ENSEMBL_VERSIONED.sub(r"\1\2", str(g)) for g in ids], name=ids.name)
    return new, int((new != ids.astype(str)).sum())


def map_aliases(ids: pd.Index) -> tuple[pd.Index, int]:
    """Map known aliases to HGNC symbols (case-insensitive); return new ids and count changed."""
    new = pd.Index([ALIASES.get(str(g).upper(), str(g)) for g in ids], name=ids.name)
    return new, int((new != ids.astype(str)).sum())


def harmonise_gene_ids(
    counts: pd.DataFrame,
    source: str | Path | None = None,
    duplicates: str = "error",
) -> pd.DataFrame:
    """Apply the documented gene-id rules to a genes × samples table.

    Parameters
    ----------
    counts
        Genes × samples table indexed by gene id.
    source
        File the table came from (for messages).
    duplicates
        ``"error"`` (default) or ``"sum"``: what to do with ids that occur more than once.

    Returns
    -------
    pandas.DataFrame
        The table with harmonised, unique ids (original row order of first occurrence).
    """
    ids, n_version = strip_ensembl_version(counts.index)
    if n_version:
        logger.info("%s: stripped Ensembl version suffix from %d gene ids", source, n_version)
    ids, n_alias = map_aliases(ids)
    if n_alias:
        logger.info("%s: mapped %d gene aliases to HGNC symbols (e.g. CD123->IL3RA)", source, n_alias)
    out = counts.set_axis(ids, axis=0)
    dup = out.index[out.index.duplicated()].unique()
    if len(dup):
        examples = ", ".join(map(str, dup[:5]))
        if duplicates != "sum":
            raise input_error(
                source,
                f"{len(dup)} duplicated gene id(s) after version stripping/alias mapping (e.g. {examples})",
                "Make gene ids unique, or set counts.duplicates: sum to add their counts",
            )
        logger.info("%s: summed %d duplicated gene ids (e.g. %s)", source, len(dup), examples)
        out = out.groupby(level=0, sort=False).sum()
    out.index.name = "gene_id"
    return out
