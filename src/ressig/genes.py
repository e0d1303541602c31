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


# ---------------------------------------------------------------------------------------------
# Offline gene table (packaged: ressig/data/genes/hs_genes.tsv.gz, see its PROVENANCE.md)
# ---------------------------------------------------------------------------------------------

#: Environment variable naming another gene table (same columns) to use instead of the shipped one.
GENE_TABLE_ENV = "RESSIG_GENE_TABLE"


def default_gene_table_path() -> Path:
    """Path of the gene table: ``$RESSIG_GENE_TABLE`` if set, else the one shipped in the package."""
    import os

    from ._data import data_path

    env = os.environ.get(GENE_TABLE_ENV)
    return Path(env) if env else data_path("genes", "hs_genes.tsv.gz")


class GeneTable:
    """Offline symbol / alias / Ensembl → official symbol mapper.

    Build it with :func:`load_gene_table`. Lookups are case-insensitive; Ensembl version
    suffixes are ignored. Precedence: curated :data:`ALIASES` > official symbol > Ensembl gene id
    > unambiguous alias. Ambiguous aliases (listed for several genes) are not mapped.
    """

    def __init__(self, table: pd.DataFrame, source: str | Path | None = None) -> None:
        self.source = source
        symbols = table["symbol"].astype(str)
        self.symbols: dict[str, str] = {s.upper(): s for s in symbols[::-1]}  # lowest entrez id wins
        self.ensembl: dict[str, str] = {}
        for sym, ens in zip(symbols[::-1], table["ensembl_ids"].fillna("").astype(str)[::-1], strict=True):
            for e in filter(None, ens.split(";")):
                self.ensembl[e.upper()] = sym
        alias_owner: dict[str, set[str]] = {}
        for sym, ali in zip(symbols, table["aliases"].fillna("").astype(str), strict=True):
            for a in filter(None, ali.split(";")):
                alias_owner.setdefault(a.upper(), set()).add(sym)
        self.aliases: dict[str, str] = {a: next(iter(s)) for a, s in alias_owner.items() if len(s) == 1}
        self.ambiguous: frozenset[str] = frozenset(a for a, s in alias_owner.items() if len(s) > 1)

    def __len__(self) -> int:
        return len(self.symbols)

    def lookup(self, gene_id: str) -> tuple[str, str]:
        """Map one id; return ``(symbol_or_original_id, how)``.

        ``how`` is one of ``symbol``, ``curated_alias``, ``ensembl``, ``alias``, ``ambiguous_alias``
        or ``unknown`` (the last two keep the original id).
        """
        raw = str(gene_id).strip()
        key = _ENSEMBL_VERSIONED.sub(r"\1\2", raw).upper()
        if key in ALIASES:
            return ALIASES[key], "curated_alias"
        if key in self.symbols:
            return self.symbols[key], "symbol"
        if key in self.ensembl:
            return self.ensembl[key], "ensembl"
        if key in self.aliases:
            return self.aliases[key], "alias"
        if key in self.ambiguous:
            return raw, "ambiguous_alias"
        return _ENSEMBL_VERSIONED.sub(r"\1\2", raw), "unknown"

    def map_ids(self, ids) -> tuple[pd.Index, pd.Series]:
        """Map many ids; return the mapped index and a per-id ``how`` Series (indexed by input id)."""
        pairs = [self.lookup(g) for g in ids]
        mapped = pd.Index([p[0] for p in pairs], name=getattr(ids, "name", None))
        how = pd.Series([p[1] for p in pairs], index=pd.Index([str(g) for g in ids]), name="how")
        return mapped, how


_TABLE_CACHE: dict[Path, GeneTable] = {}


def load_gene_table(path: str | Path | None = None) -> GeneTable:
    """Read a gene table (default: :func:`default_gene_table_path`), cached per path.

    The table is a (gzipped) TSV with columns ``symbol``, ``ensembl_ids``, ``aliases``
    (``;``-separated lists); lines starting with ``#`` are comments.
    """
    p = Path(path) if path is not None else default_gene_table_path()
    p = p.resolve()
    if p in _TABLE_CACHE:
        return _TABLE_CACHE[p]
    if not p.exists():
        raise input_error(p, "gene table not found",
                          f"Reinstall ressig, re-create it with resources/genes/make_gene_table.py or set ${GENE_TABLE_ENV}")
    try:
        table = pd.read_csv(p, sep="\t", comment="#", dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a user-facing problem
        raise input_error(p, f"cannot read gene table ({type(exc).__name__}: {exc})",
                          "Re-create it with resources/genes/make_gene_table.py") from None
    missing = {"symbol", "ensembl_ids", "aliases"} - set(table.columns)
    if missing:
        raise input_error(p, f"gene table lacks column(s) {', '.join(sorted(missing))}",
                          "Expected columns symbol, ensembl_ids, aliases")
    gt = GeneTable(table, p)
    logger.debug("loaded gene table %s (%d genes)", p, len(gt))
    _TABLE_CACHE[p] = gt
    return gt


def map_to_symbols(ids, table: GeneTable | str | Path | None = None) -> tuple[pd.Index, dict[str, int]]:
    """Map gene ids (symbols, aliases, Ensembl with/without version) to official symbols.

    Parameters
    ----------
    ids
        Gene ids in any supported form.
    table
        A :class:`GeneTable`, a path to one, or ``None`` for the shipped table.

    Returns
    -------
    (pandas.Index, dict)
        The mapped ids (unknown ids kept unchanged) and counts of how each id was mapped
        (``symbol``, ``curated_alias``, ``ensembl``, ``alias``, ``ambiguous_alias``, ``unknown``).
    """
    gt = table if isinstance(table, GeneTable) else load_gene_table(table)
    mapped, how = gt.map_ids(ids)
    counts = {k: int(v) for k, v in how.value_counts().sort_index().items()}
    return mapped, counts
