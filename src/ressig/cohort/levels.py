"""Cohort gene levels of the matched null, computed once per cohort (``ressig null-levels``).

A signature without frozen levels (a GMT set, an artefact without ``reference.gene_levels``)
gets the matched null of the cohort's own gene levels (:mod:`ressig.scoring.nullbins`:
``matched:cohort-mean`` for cells, ``matched:cohort-rank`` for bulk samples). Without help,
every shard job of a sharded run makes the same first pass over the whole cohort to compute
them. ``ressig null-levels`` makes that pass once and writes the levels to a small JSON file;
``ressig score --null-levels FILE`` (:attr:`ressig.cohort.CohortOptions.null_levels`) then takes
them from the file: the same numbers, so the same bytes, without the pass.

The file (:data:`FORMAT`, version :data:`VERSION`)::

    {"format": "ressig-null-levels", "version": 1,
     "method": "matched:cohort-mean",        # "" when no signature needs cohort levels
     "unit": "cells", "n_obs": 300, "n_genes": 2000,
     "cohort_digest": "<sha256>",            # of "cohort" below
     "cohort": {"unit": ..., "n_obs": ..., "n_genes": ..., "genes_sha256": ..., "samples_sha256": ...,
                "options": {"layer": ..., "collapse": ...}},
     "signatures": ["SIG_A", ...],           # the signatures that use the levels
     "note": "...",                          # why the levels are empty, if they are
     "levels": {"GENE": level, ...}}

The digest identifies the cohort as scored: its gene ids after id mapping and collapse, its
cell/sample names and count, and the options that change the levels (the ``.h5ad`` layer, the
collapse rule of duplicated ids). A file made from another cohort or with other options is
refused, naming what differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .._atomic import write_text
from .._log import logger
from ..errors import RessigError, input_error
from ..scoring.nullbins import ARTEFACT, COHORT_MEAN, COHORT_RANK, REFERENCE, UNIFORM, NullPlan
from ..signature.artefact import content_checksum
from .options import CohortOptions

#: ``format`` of a null-levels file.
FORMAT = "ressig-null-levels"
#: ``version`` of the format this code writes and reads.
VERSION = 1
_FIX = "re-run ressig null-levels with this cohort and the options it is scored with"


def _sha256(items: Sequence[str]) -> str:
    return hashlib.sha256("".join(f"{x}\n" for x in items).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CohortIdentity:
    """What a cohort's own gene levels are computed from.

    Attributes
    ----------
    unit
        ``cells`` (levels: mean expression) or ``samples`` (levels: mean rank fraction).
    n_obs
        Number of cells/samples.
    n_genes
        Number of gene ids after id mapping and collapse.
    genes_sha256, samples_sha256
        SHA-256 of the gene ids (in column order) and of the cell/sample names (in file order).
    options
        The options that change the levels (``layer``, ``collapse`` when ids were collapsed).
    """

    unit: str
    n_obs: int
    n_genes: int
    genes_sha256: str
    samples_sha256: str
    options: dict[str, str | None] = field(default_factory=dict)

    @property
    def method(self) -> str:
        """The ``null_method`` label of levels of this cohort."""
        return COHORT_MEAN if self.unit == "cells" else COHORT_RANK

    @property
    def digest(self) -> str:
        """SHA-256 of every field (canonical JSON, as the artefact checksum)."""
        return content_checksum(asdict(self))

    def differences(self, other: CohortIdentity) -> list[str]:
        """What differs between ``self`` (a file's cohort) and ``other`` (the one scored), in words."""
        out = []
        if self.unit != other.unit:
            out.append(f"{self.unit} there, {other.unit} here")
        if self.n_obs != other.n_obs:
            out.append(f"{self.n_obs} {self.unit} there, {other.n_obs} here")
        elif self.samples_sha256 != other.samples_sha256:
            out.append(f"other {self.unit} names")
        if self.n_genes != other.n_genes:
            out.append(f"{self.n_genes} genes there, {other.n_genes} here")
        elif self.genes_sha256 != other.genes_sha256:
            out.append("other gene ids")
        for k in sorted(set(self.options) | set(other.options)):
            a, b = self.options.get(k), other.options.get(k)
            if a != b:
                out.append(f"{k} {a or 'none'} there, {b or 'none'} here")
        return out or ["other cohort digest"]


def cohort_identity(genes: Sequence[str], samples: Sequence[str], unit: str, *, layer: str | None = None,
                    collapse: str | None = None) -> CohortIdentity:
    """The :class:`CohortIdentity` of ``genes`` (after id mapping and collapse) × ``samples``.

    Parameters
    ----------
    genes
        Gene ids as scored (mapped, duplicates collapsed), in column order.
    samples
        Cell or sample names, in file order.
    unit
        ``cells`` or ``samples``.
    layer
        ``.h5ad`` layer read (``None``: ``X``).
    collapse
        Collapse rule of duplicated ids, ``None`` when no id was duplicated.
    """
    if unit not in ("cells", "samples"):
        raise RessigError(f"internal: unknown unit {unit!r}")
    options = {"collapse": collapse}
    if unit == "cells":
        options["layer"] = "X" if layer is None else f"layers/{layer}"
    return CohortIdentity(unit, len(samples), len(genes), _sha256(genes), _sha256(samples), options)


@dataclass(frozen=True)
class CohortLevels:
    """A cohort's own gene levels, as written by ``ressig null-levels``.

    Attributes
    ----------
    identity
        The cohort they were computed from.
    levels
        ``{gene: level}``; empty when no signature needs them (``signatures`` empty).
    signatures
        The signatures whose matched null uses them.
    note
        Why ``levels`` is empty, if it is.
    """

    identity: CohortIdentity
    levels: dict[str, float]
    signatures: tuple[str, ...] = ()
    note: str = ""

    @property
    def method(self) -> str:
        """``null_method`` label of the levels, ``""`` when there are none."""
        return self.identity.method if self.signatures else ""

    def to_json(self) -> dict:
        """The file's content (:data:`FORMAT`)."""
        ident = self.identity
        return {"format": FORMAT, "version": VERSION, "method": self.method, "unit": ident.unit,
                "n_obs": ident.n_obs, "n_genes": ident.n_genes, "cohort_digest": ident.digest,
                "cohort": asdict(ident), "signatures": list(self.signatures), "note": self.note,
                "levels": dict(self.levels)}


def write_levels(rec: CohortLevels, path: str | Path) -> Path:
    """Write ``rec`` to ``path`` atomically (JSON; levels in the cohort's gene order)."""
    return write_text(json.dumps(rec.to_json(), indent=1) + "\n", path)


def read_levels(path: str | Path) -> CohortLevels:
    """Read and validate a file written by :func:`write_levels`."""
    path = Path(path)
    fix = "Make it with ressig null-levels"
    if not path.exists():
        raise input_error(path, "null levels file not found", "Check the --null-levels path, or " + _FIX)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise input_error(path, f"not a null levels file ({type(exc).__name__})", fix) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise input_error(path, f"not a null levels file (format is not {FORMAT!r})", fix)
    if doc.get("version") != VERSION:
        raise input_error(path, f"null levels format version {doc.get('version')!r}, this ressig reads {VERSION}",
                          "Re-run ressig null-levels with this ressig")
    try:
        ident = CohortIdentity(**doc["cohort"])
        levels = {str(g): float(v) for g, v in doc["levels"].items()}
        rec = CohortLevels(ident, levels, tuple(map(str, doc["signatures"])), str(doc.get("note", "")))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise input_error(path, f"malformed null levels file ({type(exc).__name__}: {exc})", fix) from None
    if ident.digest != doc.get("cohort_digest") or rec.method != doc.get("method"):
        raise input_error(path, "null levels file was edited (its cohort digest or method does not match its "
                          "content)", "Re-make it with ressig null-levels")
    return rec


def levels_record(nulls: NullPlan, identity: CohortIdentity,
                  compute: Callable[[], Mapping[str, float]]) -> CohortLevels:
    """The :class:`CohortLevels` of a cohort whose null plan is ``nulls`` (before resolution):
    ``compute()`` for its ``pending`` signatures, or no levels (``compute`` not called) and a note
    saying why none is needed."""
    if nulls.pending:
        return CohortLevels(identity, dict(compute()), tuple(nulls.pending))
    methods = set(nulls.method.values())
    why = {"": "no random gene sets are drawn (--null-draws 0 or no p-value column)",
           UNIFORM: "--null uniform", REFERENCE: "--null-reference gives the levels of every signature",
           ARTEFACT: "the levels are frozen in the signature artefact"}
    note = "no signature needs the cohort's own levels: " + "; ".join(why.get(m, m) for m in sorted(methods))
    logger.info("%s", note)
    return CohortLevels(identity, {}, (), note)


def resolve_cohort_null(nulls: NullPlan, opts: CohortOptions, identity: CohortIdentity,
                        compute: Callable[[], Mapping[str, float]]) -> NullPlan:
    """``nulls`` with its ``pending`` signatures matched to the cohort's own levels.

    The levels come from ``opts.null_levels`` (checked against ``identity``: a file of another
    cohort or options is refused) or, without it, from ``compute()`` (the first pass over the
    cohort). The log says which.
    """
    path = opts.null_levels
    if path is None:
        if not nulls.pending:
            return nulls
        logger.info("cohort levels from a first pass over all %d %s (cohort %s; ressig null-levels makes it once "
                    "for every shard)", identity.n_obs, identity.unit, identity.digest[:12])
        return nulls.resolve(compute(), identity.method, identity.n_obs)
    rec = read_levels(path)
    if rec.identity != identity:
        raise RessigError(f"{path}: made from a different cohort: {'; '.join(rec.identity.differences(identity))}; "
                          f"{_FIX}")
    if not nulls.pending:
        logger.info("%s: cohort levels not used (no signature needs the cohort's own levels)", path)
        return nulls
    if not rec.signatures:
        raise RessigError(f"{path}: holds no cohort levels ({rec.note or 'none were needed when it was made'}) but "
                          f"{', '.join(nulls.pending[:3])} need them; {_FIX}")
    logger.info("%s: cohort levels of %d genes over %d %s read (%s; cohort %s), no first pass over the cohort",
                path, len(rec.levels), identity.n_obs, identity.unit, rec.method, identity.digest[:12])
    return nulls.resolve(rec.levels, identity.method, identity.n_obs)
