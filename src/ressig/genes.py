"""Gene identifiers: Ensembl version suffixes, aliases and duplicate ids.

Rules (documented in ``config/README.md``), one implementation (:meth:`GeneTable.lookup`) for the
counts of ``prepare`` and for cohort scoring:

* Ensembl ids are compared **without** their version suffix (``ENSG00000185499.17`` →
  ``ENSG00000185499``). Stripping is logged with the number of ids changed.
* An approved symbol of the offline gene table always stays itself (``PGP``, phosphoglycolate
  phosphatase, is never taken for P-glycoprotein).
* Curated aliases of the genes this project cares about (:data:`ALIASES`: ``CD123`` → ``IL3RA``,
  ``MDR1`` → ``ABCB1``, ...) apply to ids that are not approved symbols. Two of them (``MDR1``,
  ``MRP1``) are listed for several genes in the gene table and are resolved on purpose; the log
  and the mapping report say so.
* Other aliases are mapped only when unambiguous (cohort scoring; ``prepare`` keeps them as they
  are); an alias of several genes (``FX``: F10, GFUS, TMSB4X) is never mapped and is counted.
* Duplicate ids (present in the file, or created by the rules above) are an error by
  default; with ``duplicates="sum"`` their counts are summed and the ids are logged.

The per-id outcome (``input_id, mapped_id, how, note``; ``how`` one of :data:`HOW`) is the
*mapping report*, written by :func:`write_mapping_report`.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd

from ._files import read_text
from ._log import logger
from .errors import FILE_ERRORS, input_error

_ENSEMBL_VERSIONED = re.compile(r"^(ENS[A-Z]*[GTP]\d{11})\.\d+(_PAR_Y)?$")

#: Aliases of the named genes of interest → approved HGNC symbol. Applied only to ids that are
#: not an approved symbol (a test walks the shipped gene table to keep every key off the list of
#: approved symbols). ``MDR1`` and ``MRP1`` are aliases of several genes in the gene table; this
#: table resolves them on purpose to the transporters.
ALIASES: dict[str, str] = {
    "CD123": "IL3RA",
    "IL3R": "IL3RA",
    "IL3RAY": "IL3RA",
    "MDR1": "ABCB1",
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
    "TSTA3": "GFUS",
}

#: How an id was mapped (the ``how`` column of the mapping report).
HOW = ("symbol", "curated_alias", "ensembl", "alias", "ambiguous", "unknown")
MAPPING_COLUMNS = ["input_id", "mapped_id", "how", "note"]


def strip_ensembl_version(ids: pd.Index) -> tuple[pd.Index, int]:
    """Remove Ensembl version suffixes; return the new ids and how many changed."""
    new = pd.Index([_ENSEMBL_VERSIONED.sub(r"\1\2", str(g)) for g in ids], name=ids.name)
    return new, int((new != ids.astype(str)).sum())


def harmonise_gene_ids(
    counts: pd.DataFrame,
    source: str | Path | None = None,
    duplicates: str = "error",
    table: GeneTable | str | Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the documented gene-id rules to a genes × samples table of counts.

    Ensembl version suffixes are stripped and curated aliases mapped (:meth:`GeneTable.lookup`
    with ``translate=False``: approved symbols, Ensembl ids and other aliases keep their id).

    Parameters
    ----------
    counts
        Genes × samples table indexed by gene id.
    source
        File the table came from (for messages).
    duplicates
        ``"error"`` (default) or ``"sum"``: what to do with ids that occur more than once.
    table
        Gene table (default: the shipped one, or ``$RESSIG_GENE_TABLE``).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The table with harmonised, unique ids (original row order of first occurrence), and the
        mapping report (one row per input row, :data:`MAPPING_COLUMNS`).
    """
    gt = table if isinstance(table, GeneTable) else load_gene_table(table)
    _, n_version = strip_ensembl_version(counts.index)
    if n_version:
        logger.info("%s: stripped Ensembl version suffix from %d gene ids", source, n_version)
    report = gt.mapping_report(counts.index, translate=False)
    log_mapping(report, source)
    ids = pd.Index(report["mapped_id"], name=counts.index.name)
    out = counts.set_axis(ids, axis=0)
    dup = out.index[out.index.duplicated()].unique()
    if len(dup):
        dup_rows = report["mapped_id"].isin(dup)
        report.loc[dup_rows, "note"] = report.loc[dup_rows, "note"].where(
            report.loc[dup_rows, "note"] == "", report.loc[dup_rows, "note"] + "; ")
        report.loc[dup_rows, "note"] += "duplicated " + ("(counts summed)" if duplicates == "sum" else "(refused)")
        origin = report[dup_rows].groupby("mapped_id", sort=False)["input_id"].agg(", ".join)
        examples = "; ".join(f"{g} from {origin[g]}" for g in map(str, dup[:5]))
        if duplicates != "sum":
            raise input_error(
                source,
                f"{len(dup)} duplicated gene id(s) after version stripping/alias mapping (e.g. {examples})",
                "Make gene ids unique, or set counts.duplicates: sum to add their counts",
            )
        logger.info("%s: summed %d duplicated gene ids (e.g. %s)", source, len(dup), examples)
        out = out.groupby(level=0, sort=False).sum()
    out.index.name = "gene_id"
    return out, report


def log_mapping(report: pd.DataFrame, source: str | Path | None = None) -> None:
    """Log a mapping report: ids per ``how``, the ids changed, and the ambiguous aliases."""
    counts = report["how"].value_counts()
    logger.info("%s: gene ids: %s", source, ", ".join(f"{h} {int(counts[h])}" for h in HOW if h in counts))
    changed = report[report["input_id"] != report["mapped_id"]]
    versioned = changed["input_id"].str.match(_ENSEMBL_VERSIONED.pattern)
    renamed = changed[~versioned.to_numpy(dtype=bool)]
    if len(renamed):
        logger.info("%s: mapped %d gene id(s) to another name (e.g. %s); see the gene mapping report", source,
                    len(renamed), ", ".join(f"{a}->{b}" for a, b in zip(renamed["input_id"][:5],
                                                                        renamed["mapped_id"][:5], strict=True)))
    on_purpose = report[(report["how"] == "curated_alias") & (report["note"] != "")]
    if len(on_purpose):
        logger.info("%s: %d ambiguous alias(es) resolved by the curated table: %s", source, len(on_purpose),
                    "; ".join(f"{a}->{b} ({n})" for a, b, n in zip(on_purpose["input_id"][:5],
                                                                   on_purpose["mapped_id"][:5],
                                                                   on_purpose["note"][:5], strict=True)))
    ambiguous = report[report["how"] == "ambiguous"]
    if len(ambiguous):
        logger.info("%s: %d ambiguous alias(es) left unmapped: %s", source, len(ambiguous),
                    "; ".join(f"{a} ({n})" for a, n in zip(ambiguous["input_id"][:5], ambiguous["note"][:5],
                                                          strict=True)))


def write_mapping_report(report: pd.DataFrame, path: str | Path) -> Path:
    """Write a mapping report (:data:`MAPPING_COLUMNS`) as TSV, atomically."""
    from ._atomic import write_table

    return write_table(report.loc[:, MAPPING_COLUMNS], path, index=False)


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

    Build it with :func:`load_gene_table`. Lookups are case-insensitive (an exact-case symbol
    wins); Ensembl version suffixes are ignored. Precedence: approved symbol > curated
    :data:`ALIASES` > Ensembl gene id > unambiguous alias. Ambiguous aliases (listed for several
    genes) are not mapped.
    """

    def __init__(self, table: pd.DataFrame, source: str | Path | None = None) -> None:
        self.source = source
        symbols = table["symbol"].astype(str).tolist()  # plain lists: iterating Series costs ~3x more
        self.exact: frozenset[str] = frozenset(symbols)
        self.symbols: dict[str, str] = {s.upper(): s for s in reversed(symbols)}  # lowest entrez id wins
        self.ensembl: dict[str, str] = {}
        for sym, ens in zip(reversed(symbols), reversed(table["ensembl_ids"].fillna("").astype(str).tolist()),
                            strict=True):
            if ens:
                for e in ens.upper().split(";"):
                    if e:
                        self.ensembl[e] = sym
        owner: dict[str, str] = {}  # alias -> its first gene; several genes -> also in ``shared``
        shared: dict[str, set[str]] = {}
        for sym, ali in zip(symbols, table["aliases"].fillna("").astype(str).tolist(), strict=True):
            if ali:
                for a in ali.upper().split(";"):
                    if a:
                        first = owner.setdefault(a, sym)
                        if first != sym:
                            shared.setdefault(a, {first}).add(sym)
        self.alias_owners: dict[str, tuple[str, ...]] = {a: (s,) for a, s in owner.items()}
        self.alias_owners.update({a: tuple(sorted(s)) for a, s in shared.items()})
        self.aliases: dict[str, str] = {a: s for a, s in owner.items() if a not in shared}
        self.ambiguous: frozenset[str] = frozenset(shared)

    def __len__(self) -> int:
        return len(self.symbols)

    def lookup(self, gene_id: str, translate: bool = True) -> tuple[str, str]:
        """Map one id; return ``(id, how)`` with ``how`` one of :data:`HOW`.

        Parameters
        ----------
        gene_id
            A symbol, alias or Ensembl gene id (with or without version).
        translate
            ``True`` (cohort scoring): symbols in another case, Ensembl ids and unambiguous aliases
            become the official symbol. ``False`` (counts for DE): only curated aliases change the
            id; the rest keep it (Ensembl ids without their version suffix).

        ``ambiguous`` and ``unknown`` ids are kept (Ensembl ids without their version suffix).
        Curated aliases apply only to ids that are not approved symbols.
        """
        kept = str(gene_id).strip()
        if "." in kept:  # an Ensembl id with its version suffix
            kept = _ENSEMBL_VERSIONED.sub(r"\1\2", kept)
        key = kept.upper()
        if kept in self.exact:
            return kept, "symbol"
        if key in self.symbols:
            return (self.symbols[key] if translate else kept), "symbol"
        if key in ALIASES:
            return ALIASES[key], "curated_alias"
        if key in self.ensembl:
            return (self.ensembl[key] if translate else kept), "ensembl"
        if key in self.aliases:
            return (self.aliases[key] if translate else kept), "alias"
        if key in self.ambiguous:
            return kept, "ambiguous"
        return kept, "unknown"

    def map_ids(self, ids, translate: bool = True) -> tuple[pd.Index, pd.Series]:
        """Map many ids; return the mapped index and a per-id ``how`` Series (indexed by input id)."""
        pairs = [self.lookup(g, translate) for g in ids]
        mapped = pd.Index([p[0] for p in pairs], name=getattr(ids, "name", None))
        how = pd.Series([p[1] for p in pairs], index=pd.Index([str(g) for g in ids]), name="how")
        return mapped, how

    def _note(self, gene_id: str, how: str) -> str:
        owners = self.alias_owners.get(_ENSEMBL_VERSIONED.sub(r"\1\2", gene_id.strip()).upper(), ())
        if how == "ambiguous":
            return f"alias of {len(owners)} genes: {', '.join(owners)}; not mapped"
        if how == "curated_alias" and len(owners) > 1:
            return f"alias of {len(owners)} genes: {', '.join(owners)}; resolved on purpose by the curated table"
        return ""

    def mapping_report(self, ids, translate: bool = True) -> pd.DataFrame:
        """One row per id: ``input_id``, ``mapped_id``, ``how`` and a ``note`` on ambiguous aliases.

        The table behind ``prepare``'s ``gene_mapping.tsv`` (``translate=False``) and the score
        step's mapping report (``translate=True``); write it with :func:`write_mapping_report`.
        """
        inputs = [str(g) for g in ids]
        mapped, how = self.map_ids(inputs, translate)
        return pd.DataFrame({"input_id": inputs, "mapped_id": list(mapped), "how": how.to_numpy(),
                             "note": [self._note(g, h) for g, h in zip(inputs, how, strict=True)]})


_TABLE_CACHE: dict[Path, GeneTable] = {}


def load_gene_table(path: str | Path | None = None) -> GeneTable:
    """Read a gene table (default: :func:`default_gene_table_path`), cached per path.

    The table is a (gzipped) TSV with columns ``symbol``, ``ensembl_ids``, ``aliases``
    (``;``-separated lists); lines whose first character is ``#`` are comments (a ``#`` anywhere
    else is data).
    """
    p = Path(path) if path is not None else default_gene_table_path()
    p = p.resolve()
    if p in _TABLE_CACHE:
        return _TABLE_CACHE[p]
    if not p.exists():
        raise input_error(p, "gene table not found",
                          f"Reinstall ressig, re-create it with resources/genes/make_gene_table.py or set ${GENE_TABLE_ENV}")
    text = read_text(p)
    body = "".join(ln for ln in text.splitlines(keepends=True) if not ln.startswith("#"))
    try:
        table = pd.read_csv(io.StringIO(body), sep="\t", dtype=str, keep_default_na=False)
    except FILE_ERRORS as exc:  # pandas parse errors are ValueErrors
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
        (:data:`HOW`).
    """
    gt = table if isinstance(table, GeneTable) else load_gene_table(table)
    mapped, how = gt.map_ids(ids)
    counts = {k: int(v) for k, v in how.value_counts().sort_index().items()}
    return mapped, counts
