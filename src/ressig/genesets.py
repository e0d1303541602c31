"""Gene sets: GMT read/write with line-numbered errors, and size/coverage checks.

A GMT file has one gene set per line, tab-separated::

    NAME <tab> description (or URL) <tab> GENE1 <tab> GENE2 ...

Blank lines and lines starting with ``#`` are skipped. Everything else that is not a valid gene
set (no genes, empty name, space- instead of tab-separated fields, a set name used twice in the
file or across files) is a :class:`~ressig.errors.RessigError` naming the file and line number.
Genes repeated within one set are kept once (logged).

The curated sets ship inside the package (:func:`curated_gmt_path`; in the repository
``resources/genesets/`` links to them); their provenance is documented in ``PROVENANCE.md`` beside them. Users add their own GMT files (e.g. MSigDB
downloads) through the ``genesets.files`` config key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ._log import logger
from .errors import RessigError, input_error

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def curated_dir() -> Path:
    """Folder of the curated gene sets shipped with ressig (GMT files, provenance, evidence)."""
    from ._data import data_path

    return data_path("genesets")


def curated_gmt_path() -> Path:
    """The curated GMT shipped with ressig (``ressig_curated.gmt``)."""
    return curated_dir() / "ressig_curated.gmt"


@dataclass(frozen=True)
class GeneSet:
    """One gene set.

    Attributes
    ----------
    name
        Unique set name (first GMT field).
    description
        Second GMT field (free text or URL; may be empty).
    genes
        Gene identifiers in file order, without duplicates.
    source
        File the set was read from (empty for in-memory sets).
    """

    name: str
    description: str
    genes: tuple[str, ...]
    source: str = ""

    def __len__(self) -> int:
        return len(self.genes)


def safe_name(name: str) -> str:
    """File-name-safe version of a gene-set name (runs of other characters become ``_``)."""
    return _SAFE.sub("_", name).strip("_") or "set"


def parse_gmt(text: str, source: str | Path | None = None) -> dict[str, GeneSet]:
    """Parse GMT text into ``{name: GeneSet}`` (file order).

    Parameters
    ----------
    text
        Content of a GMT file.
    source
        File name used in error messages and stored in :attr:`GeneSet.source`.

    Raises
    ------
    RessigError
        On the first malformed line, naming the line number and the fix.
    """
    sets: dict[str, GeneSet] = {}
    first_line: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        name = fields[0].strip()
        if len(fields) == 1:
            if len(line.split()) > 2:
                raise input_error(source, f"line {lineno} has no tab: GMT fields must be tab-separated "
                                  f"(got {line[:40]!r}...)", "Separate name, description and genes with tabs")
            raise input_error(source, f"line {lineno}: gene set {name!r} has no description field and no genes",
                              "Each line needs NAME<tab>DESCRIPTION<tab>GENE1<tab>GENE2...")
        if not name:
            raise input_error(source, f"line {lineno} has an empty gene-set name (first field)",
                              "Give every set a name")
        if any(c.isspace() for c in name):
            raise input_error(source, f"line {lineno}: gene-set name {name!r} contains whitespace",
                              "Use names without spaces (e.g. underscores), separated from the description by a tab")
        if name in sets:
            raise input_error(source, f"line {lineno}: gene set {name!r} is defined twice (first on line "
                              f"{first_line[name]})", "Rename or remove one of them")
        genes_raw = [g.strip() for g in fields[2:]]
        genes = [g for g in genes_raw if g]
        if not genes:
            raise input_error(source, f"line {lineno}: gene set {name!r} has no genes",
                              "Add genes after the description field (tab-separated) or remove the line")
        spaced = next((g for g in genes if any(c.isspace() for c in g)), None)
        if spaced is not None:
            raise input_error(source, f"line {lineno}: gene set {name!r} has a gene field with whitespace "
                              f"({spaced!r})", "Separate genes with tabs, not spaces")
        unique = tuple(dict.fromkeys(genes))
        if len(unique) < len(genes):
            logger.info("%s line %d: gene set %s lists %d gene(s) twice; kept once", source, lineno, name,
                        len(genes) - len(unique))
        sets[name] = GeneSet(name=name, description=fields[1].strip(), genes=unique,
                             source=str(source) if source is not None else "")
        first_line[name] = lineno
    if not sets:
        raise input_error(source, "contains no gene sets", "A GMT file needs at least one NAME<tab>DESC<tab>GENES line")
    _log_mangled_genes(sets, source)
    return sets


def _log_mangled_genes(sets: Mapping[str, GeneSet], source: str | Path | None) -> None:
    """One log line naming the genes that look like spreadsheet dates (``1-Mar``), with their sets."""
    from .mangled import find_mangled, log_mangled

    found = find_mangled(g for gs in sets.values() for g in gs.genes)
    if found:
        where = {m.input_id: [n for n, gs in sets.items() if m.input_id in gs.genes] for m in found}
        log_mangled(found, source, "gene set(s) " + ", ".join(dict.fromkeys(n for v in where.values() for n in v)))


def read_gmt(path: str | Path) -> dict[str, GeneSet]:
    """Read one GMT file (optionally gzip-compressed) into ``{name: GeneSet}``."""
    from .io import _read_text

    path = Path(path)
    return parse_gmt(_read_text(path), source=path)


def read_gmts(paths: Iterable[str | Path]) -> dict[str, GeneSet]:
    """Read several GMT files; a set name defined in two files is an error naming both."""
    merged: dict[str, GeneSet] = {}
    paths = list(paths)
    if not paths:
        raise RessigError("no gene-set (GMT) files given; set genesets.files in the config")
    for path in paths:
        for name, gs in read_gmt(path).items():
            if name in merged:
                raise input_error(path, f"gene set {name!r} is also defined in {merged[name].source}",
                                  "Set names must be unique across all GMT files; rename one of them")
            merged[name] = gs
    logger.info("read %d gene set(s) from %d GMT file(s)", len(merged), len(paths))
    return merged


def format_gmt(sets: Iterable[GeneSet]) -> str:
    """GMT text of ``sets`` (one line each, ``\\n`` line endings)."""
    lines = []
    for gs in sets:
        if not gs.genes:
            raise RessigError(f"gene set {gs.name!r} has no genes; cannot write it to GMT")
        bad = [x for x in (gs.name, gs.description, *gs.genes) if "\t" in x or "\n" in x]
        if bad:
            raise RessigError(f"gene set {gs.name!r}: field {bad[0]!r} contains a tab or newline")
        lines.append("\t".join([gs.name, gs.description, *gs.genes]))
    return "\n".join(lines) + "\n"


def write_gmt(sets: Iterable[GeneSet] | Mapping[str, GeneSet], path: str | Path) -> Path:
    """Write gene sets to a GMT file atomically."""
    from ._atomic import write_text

    values = list(sets.values()) if isinstance(sets, Mapping) else list(sets)
    return write_text(format_gmt(values), path)


def coverage(sets: Mapping[str, GeneSet] | Sequence[GeneSet], universe: Iterable[str]) -> pd.DataFrame:
    """How many genes of each set are in ``universe`` (e.g. the measured or ranked genes).

    Returns
    -------
    DataFrame
        Indexed by set name (input order): ``source``, ``n_genes``, ``n_found``, ``coverage``
        (``n_found / n_genes``), ``missing`` (``;``-joined genes not in the universe).
    """
    values = list(sets.values()) if isinstance(sets, Mapping) else list(sets)
    uni = set(map(str, universe))
    rows = []
    for gs in values:
        missing = [g for g in gs.genes if g not in uni]
        n_found = len(gs.genes) - len(missing)
        rows.append({"set": gs.name, "source": gs.source, "n_genes": len(gs.genes), "n_found": n_found,
                     "coverage": n_found / len(gs.genes) if gs.genes else float("nan"),
                     "missing": ";".join(missing)})
    cols = ["set", "source", "n_genes", "n_found", "coverage", "missing"]
    return pd.DataFrame(rows, columns=cols).set_index("set")


def size_filter(sets: Mapping[str, GeneSet] | Sequence[GeneSet], universe: Iterable[str], min_size: int,
                max_size: int) -> pd.DataFrame:
    """Coverage table plus a ``status`` column: ``kept`` or why the set is dropped.

    A set is kept when the number of its genes found in ``universe`` is within
    ``[min_size, max_size]`` (the same rule as GSEA's size filter). Every dropped set is logged.
    """
    if min_size < 1 or max_size < min_size:
        raise RessigError(f"gene-set size limits must satisfy 1 <= min_size <= max_size (got {min_size}, {max_size})")
    cov = coverage(sets, universe)
    status = []
    for name, row in cov.iterrows():
        n = int(row["n_found"])
        if n < min_size:
            why = f"dropped: {n} of {row['n_genes']} genes found < min_size {min_size}"
        elif n > max_size:
            why = f"dropped: {n} genes found > max_size {max_size}"
        else:
            why = "kept"
        if why != "kept":
            logger.warning("gene set %s %s", name, why)
        status.append(why)
    cov["status"] = status
    return cov


def match_ensembl_ids(sets: Mapping[str, GeneSet], ids: Iterable[str]) -> dict[str, GeneSet]:
    """Express the sets in the data's ids when the data use Ensembl gene ids.

    Each set gene that is not itself one of ``ids`` is replaced by the data's Ensembl id(s) of that
    symbol, if any (offline gene table, :func:`ressig.genes.load_gene_table`). Data ids that are not
    Ensembl ids are never translated, so symbol-keyed data give the sets back unchanged. The
    number of Ensembl ids matched is logged.
    """
    from .genes import load_gene_table

    ids = [str(i) for i in ids]
    present = set(ids)
    table = load_gene_table()
    by_symbol: dict[str, list[str]] = {}
    for gene_id in ids:
        symbol, how = table.lookup(gene_id)
        if how == "ensembl":
            by_symbol.setdefault(symbol, []).append(gene_id)
    if not by_symbol:
        return dict(sets)
    out: dict[str, GeneSet] = {}
    n_matched = 0
    for name, gs in sets.items():
        genes: list[str] = []
        for g in gs.genes:
            ens = [] if g in present else by_symbol.get(table.lookup(g)[0], [])
            n_matched += len(ens)
            genes.extend(ens or [g])  # unmatched genes stay, reported as missing
        out[name] = GeneSet(gs.name, gs.description, tuple(dict.fromkeys(genes)), gs.source)
    logger.info("gene sets matched to Ensembl gene ids of the data through the gene table: %d set genes found "
                "as Ensembl ids (%d of %d data ids are Ensembl)", n_matched, sum(map(len, by_symbol.values())),
                len(ids))
    return out
