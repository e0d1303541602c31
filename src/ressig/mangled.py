"""Gene ids that a spreadsheet turned into dates (``MARCH1`` → ``1-Mar``, ``SEPT7`` → ``7-Sep``).

Ziemann et al. (2016, Genome Biology 17:177) found such ids in a fifth of papers' supplementary gene
lists. Four forms are recognised (case-insensitive):

* ``D-Mon`` (``1-Mar``, ``7-Sep``, ``1-Dec``) and ``Mon-D`` (``Sep-7``, ``Mar-01``): a month
  abbreviation and a number 1-31;
* ISO dates (``2016-09-07``, optionally with a ``00:00:00`` time): month and day;
* Excel date serials (``42620`` = 2016-09-07, 1900 date system) in a column of gene names: only
  when fewer than half of the ids are plain numbers (a column of Entrez ids is not a spreadsheet
  accident) and the date's month and day give candidate genes.

The candidates of month ``M`` and day ``D`` are the genes of the offline gene table
(:mod:`ressig.genes`) whose symbol or alias is the month's abbreviation, four-letter form or full
name followed by ``D`` (``MARCH1``, ``MARC1``, ``SEPT7``, ``DEC1``, ``OCT4``): the aliases keep the
former symbols (``MARCH1`` of MARCHF1, ``MARC1`` of MTARC1, ``SEPT7`` of SEPTIN7, ``DEC1`` of DELEC1
and BHLHE40). Such ids are never mapped to a gene, not even a single candidate: which gene stood
there is for the user to restore at the source. :func:`find_mangled` is the pure detector;
:func:`note_mangled` marks a gene mapping report and logs one line
(:func:`log_mangled`, :func:`mark_mangled`).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ._log import logger
from .genes import GeneTable, load_gene_table

_MONTHS = ("JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER",
           "OCTOBER", "NOVEMBER", "DECEMBER")
_ABBR = "|".join(m[:3] for m in _MONTHS)
_D_MON = re.compile(rf"^(\d{{1,2}})-({_ABBR})$", re.IGNORECASE)
_MON_D = re.compile(rf"^({_ABBR})-(\d{{1,2}})$", re.IGNORECASE)
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T]00:00(?::00)?)?$")
_SERIAL = re.compile(r"^\d{1,7}(?:\.0+)?$")
_EXCEL_EPOCH = _dt.date(1899, 12, 30)  # serial 1 = 1900-01-01 (serials after Excel's 1900-02-29 bug)
_EXCEL_MAX = 2958465  # 9999-12-31


@dataclass(frozen=True)
class MangledId:
    """An id that looks like a spreadsheet date, and the genes it may have been.

    Attributes
    ----------
    input_id
        The id as read.
    form
        ``"D-Mon"``, ``"Mon-D"``, ``"ISO date"`` or ``"date serial"``.
    month, day
        The date's month (1-12) and day.
    candidates
        Approved symbols whose symbol or alias is the month's name + ``day`` (``MARCHF1``,
        ``MTARC1`` for ``1-Mar``); empty if none.
    """

    input_id: str
    form: str
    month: int
    day: int
    candidates: tuple[str, ...]

    @property
    def date(self) -> str:
        """``Mon D`` (``Sep 7``)."""
        return f"{_MONTHS[self.month - 1][:3].title()} {self.day}"

    @property
    def note(self) -> str:
        """The mapping report's note: the form, the date and the candidate genes; not mapped."""
        what = f"looks like a spreadsheet-converted date ({self.form}, {self.date})"
        if not self.candidates:
            return f"{what}; no gene of the table was named so; not mapped"
        return f"{what}; candidate gene(s): {', '.join(self.candidates)}; not mapped (restore the name at the source)"


def candidates_for(month: int, day: int, table: GeneTable) -> tuple[str, ...]:
    """Approved symbols whose symbol or alias is month ``month``'s name (3 or 4 letters, or full) + ``day``.

    Order: genes named by the longer forms (``MARCH1``, ``SEPT2``: the former symbols) before those
    named by the three-letter form (``MAR1``), and within each the symbols ending in ``day`` first
    (``2-Sep``: SEPTIN2 before SEPTIN6, which lists ``SEPT2`` among its aliases), then alphabetical.
    """
    full = _MONTHS[month - 1]
    rank: dict[str, int] = {}
    for tier, prefix in enumerate(dict.fromkeys((full, full[:4], full[:3]))):
        key = f"{prefix}{day}"
        owners = set(table.alias_owners.get(key, ()))
        if key in table.symbols:
            owners.add(table.symbols[key])
        for sym in owners:
            rank.setdefault(sym, 2 * (tier == 2 or len(prefix) == 3) + (not sym.endswith(str(day))))
    return tuple(sorted(rank, key=lambda s: (rank[s], s)))


def _parse(gene_id: str) -> tuple[str, int, int] | None:
    s = gene_id.strip()
    m = _D_MON.match(s)
    if m:
        return "D-Mon", _month(m.group(2)), int(m.group(1))
    m = _MON_D.match(s)
    if m:
        return "Mon-D", _month(m.group(1)), int(m.group(2))
    m = _ISO.match(s)
    if m and 1 <= int(m.group(2)) <= 12 and 1 <= int(m.group(3)) <= 31:
        return "ISO date", int(m.group(2)), int(m.group(3))
    return None


def _month(abbr: str) -> int:
    return [m[:3] for m in _MONTHS].index(abbr.upper()) + 1


def find_mangled(ids: Iterable[object], table: GeneTable | None = None) -> list[MangledId]:
    """The ids of ``ids`` that look like spreadsheet dates, in input order (each id once).

    Parameters
    ----------
    ids
        Gene ids as read (strings; numbers are taken as text).
    table
        Gene table for the candidates (default: the shipped one).

    Returns
    -------
    list of MangledId
        Empty when nothing looks like a date. Ids that are approved symbols are never reported.
    """
    texts = list(dict.fromkeys(str(i).strip() for i in ids))
    numeric = sum(bool(_SERIAL.match(t)) for t in texts)
    serials_possible = numeric * 2 < len(texts)
    if not (numeric and serials_possible) and not any(_parse(t) for t in texts):
        return []  # the common case: no gene table needed
    gt = table if table is not None else load_gene_table()
    out: list[MangledId] = []
    for t in texts:
        if t in gt.exact:
            continue
        parsed = _parse(t)
        if parsed is not None:
            form, month, day = parsed
            if 1 <= day <= 31:
                out.append(MangledId(t, form, month, day, candidates_for(month, day, gt)))
            continue
        if serials_possible and _SERIAL.match(t) and 1 <= float(t) <= _EXCEL_MAX:
            date = _EXCEL_EPOCH + _dt.timedelta(days=int(float(t)))
            cands = candidates_for(date.month, date.day, gt)
            if cands:
                out.append(MangledId(t, f"date serial {date.isoformat()}", date.month, date.day, cands))
    return out


def describe(found: list[MangledId], limit: int = 6) -> str:
    """``1-Mar (MARCHF1 or MTARC1); 7-Sep (SEPTIN7); ...`` for a log line."""
    parts = [f"{m.input_id} ({' or '.join(m.candidates) or 'no candidate'})" for m in found[:limit]]
    more = f"; and {len(found) - limit} more" if len(found) > limit else ""
    return "; ".join(parts) + more


def log_mangled(found: list[MangledId], source: str | Path | None, where: str = "the gene mapping report") -> None:
    """One warning line naming the date-like ids (nothing when there are none)."""
    if found:
        logger.warning("%s: %d gene id(s) look like dates made by a spreadsheet (Excel), not mapped to any gene: "
                       "%s; see %s and restore the names at the source", source, len(found), describe(found), where)


def note_mangled(report: pd.DataFrame, source: str | Path | None = None,
                 table: GeneTable | None = None, id_column: str = "input_id") -> pd.DataFrame:
    """:func:`find_mangled` on a mapping report's ids, one log line (:func:`log_mangled`) and the
    report with their ``note`` set (:func:`mark_mangled`)."""
    found = find_mangled(report[id_column], table)
    log_mangled(found, source)
    return mark_mangled(report, found, id_column)


def mark_mangled(report: pd.DataFrame, found: list[MangledId], id_column: str = "input_id") -> pd.DataFrame:
    """A copy of a mapping report with the ``note`` of the ``found`` ids set (appended to any note);
    the report itself (same object) when ``found`` is empty."""
    if not found:
        return report
    notes = {m.input_id: m.note for m in found}
    out = report.copy()
    if "note" not in out.columns:
        out["note"] = ""
    col = out.columns.get_loc("note")
    for i, key in enumerate(out[id_column].astype(str).str.strip()):
        if key in notes:
            old = out.iat[i, col]
            out.iat[i, col] = f"{old}; {notes[key]}" if old else notes[key]
    return out
