"""The frozen signature artefact: freeze, load, validate, checksum, GMT export.

Artefact (:func:`freeze_signature`, :func:`load_signature`)
    ``<name>.ressig.json`` — indented, key-sorted JSON::

        format            "ressig-signature"
        schema_version    2 (this ressig reads schema versions in SUPPORTED_SCHEMA_VERSIONS;
                          version 1 = the same without reference.cohort)
        name, version     signature name and semantic version (MAJOR.MINOR.PATCH)
        created           creation time, UTC ISO-8601 ($SOURCE_DATE_EPOCH honoured)
        ressig_version    version of ressig that wrote it
        id_type           "symbol" (HGNC/NCBI symbols; see resources/genes/PROVENANCE.md)
        genes             {"up": [{"gene", "weight"}...], "down": [...]}
        derivation        DE table, contrast, rule and thresholds (``rules.rule``), a plain-text
                          ``selection`` sentence, curated genes
        scoring           method and default minimum coverage
        reference         training samples' scores (sample, group, score, up_score, down_score)
                          and, optionally (``ressig signature --reference-cohort``), ``cohort``:
                          a reference population's score distribution ``{"source": {"file",
                          "sha256", "n_samples", "n_scored", "kind", "pseudobulk"}, "scores":
                          [sorted scores]}``; patients then get their ``percentile``/``zscore``
                          against it instead of against the training samples; and, optionally,
                          ``gene_levels``: ``{"source", "n_samples", "statistic", "levels":
                          {gene: level}}``, every gene's mean within-sample rank fraction in the
                          parental training samples or in a bulk reference cohort (written by
                          ``ressig signature``; older artefacts lack it): per-sample p-values then
                          use random gene sets **matched** to the signature genes' levels
        checksum          {"algorithm": "sha256", "value": sha256 of the canonical JSON of all
                          other fields (sorted keys, compact separators, ASCII)}

    and ``<name>.gmt`` with ``<name>_UP`` / ``<name>_DN`` sets (MSigDB naming), so that plain
    GMT consumers — and ``ressig score`` itself — can use it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from .._atomic import write_json, write_text
from .._log import logger
from ..errors import RessigError, input_error

FORMAT = "ressig-signature"
SCHEMA_VERSION = 2
SUPPORTED_SCHEMA_VERSIONS = (1, 2)
ARTEFACT_SUFFIX = ".ressig.json"
#: Largest artefact accepted (a 20,000-gene signature with 10,000 reference samples is ~5 MiB).
MAX_ARTEFACT_BYTES = 64 * 2**20
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_REQUIRED = ("format", "schema_version", "name", "version", "created", "ressig_version", "id_type",
             "genes", "derivation", "scoring", "reference", "checksum")


@dataclass
class FrozenSignature:
    """A frozen signature: genes with weights, provenance and the training reference scores."""

    name: str
    version: str
    up: dict[str, float | None]
    down: dict[str, float | None] = field(default_factory=dict)
    id_type: str = "symbol"
    created: str = ""
    ressig_version: str = __version__
    derivation: dict[str, Any] = field(default_factory=dict)
    scoring: dict[str, Any] = field(default_factory=lambda: {"method": "singscore", "min_coverage": 0.5})
    reference: list[dict[str, Any]] = field(default_factory=list)
    source: str | None = None
    reference_cohort: dict[str, Any] | None = None
    #: ``{"source", "n_samples", "statistic", "levels": {gene: level}}``: reference levels that the
    #: matched null of per-sample p-values is stratified by (:func:`ressig.scoring.reference_levels`).
    gene_levels: dict[str, Any] | None = None

    def gene_signature(self):
        """The :class:`ressig.scoring.GeneSignature` to score with."""
        from ..scoring.types import GeneSignature

        return GeneSignature(name=self.name, up=tuple(self.up), down=tuple(self.down))

    def reference_frame(self) -> pd.DataFrame:
        """Training samples' scores as a DataFrame (columns sample, group, score, ...)."""
        return pd.DataFrame(self.reference, columns=["sample", "group", "score", "up_score", "down_score"])

    def reference_distribution(self) -> tuple[np.ndarray, str]:
        """Sorted scores that patients are compared with, and their label.

        The frozen reference cohort when there is one (label ``cohort:<file>``), else the training
        samples (``training``); an empty array and ``""`` for plain GMT signatures.
        """
        if self.reference_cohort:
            return (np.sort(np.asarray(self.reference_cohort["scores"], dtype=float)),
                    f"cohort:{self.reference_cohort['source']['file']}")
        ref = np.sort(np.array([r.get("score") for r in self.reference if r.get("score") is not None], dtype=float))
        return ref, ("training" if ref.size else "")

    def content(self) -> dict[str, Any]:
        """Every artefact field except the checksum (the checksummed content)."""
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "version": self.version,
            "created": self.created,
            "ressig_version": self.ressig_version,
            "id_type": self.id_type,
            "genes": {
                "up": [{"gene": g, "weight": w} for g, w in self.up.items()],
                "down": [{"gene": g, "weight": w} for g, w in self.down.items()],
            },
            "derivation": self.derivation,
            "scoring": self.scoring,
            "reference": {"samples": self.reference,
                          **({"cohort": self.reference_cohort} if self.reference_cohort else {}),
                          **({"gene_levels": self.gene_levels} if self.gene_levels else {})},
        }


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def content_checksum(content: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``content`` (the artefact without its checksum)."""
    return hashlib.sha256(_canonical(dict(content))).hexdigest()


def finite_or_none(x: Any) -> float | None:
    """``float(x)`` when finite, else ``None`` (JSON has no NaN)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def check_name_version(name: str, version: str) -> None:
    """Refuse signature names that are unsafe as file names and non-semantic versions."""
    if not _NAME.match(name):
        raise RessigError(f"signature name {name!r} is not allowed; use letters, digits, '.', '_' and '-'")
    if not _SEMVER.match(version):
        raise RessigError(f"signature version {version!r} is not a semantic version; use MAJOR.MINOR.PATCH, e.g. 1.0.0")


def gene_levels_block(levels: dict[str, float], source: str, n_samples: int) -> dict[str, Any]:
    """The artefact's ``reference.gene_levels`` block (:func:`ressig.scoring.reference_levels`).

    :func:`build_signature` takes the levels from the training samples of the reference
    condition (parental): the matched null then asks "are the signature genes higher (up) / lower
    (down) than genes of their parental level?", which is ~uniform for a parental-like sample.
    """
    return {"source": source, "n_samples": int(n_samples), "statistic": "mean within-sample rank fraction",
            "levels": levels}


def signature_to_dict(sig: FrozenSignature) -> dict[str, Any]:
    """The artefact as a JSON-ready dict, checksum included."""
    content = sig.content()
    try:
        checksum = content_checksum(content)
    except ValueError as exc:  # NaN/inf in weights or scores
        raise RessigError(f"signature {sig.name!r} holds a non-finite number ({exc})") from None
    return {**content, "checksum": {"algorithm": "sha256", "value": checksum}}


def gmt_text(sig: FrozenSignature) -> str:
    """GMT export: ``<name>_UP`` and ``<name>_DN`` (MSigDB naming); empty directions are omitted."""
    lines = []
    for suffix, genes in (("UP", sig.up), ("DN", sig.down)):
        if genes:
            desc = f"ressig signature {sig.name} v{sig.version} ({'up' if suffix == 'UP' else 'down'}-regulated)"
            lines.append("\t".join([f"{sig.name}_{suffix}", desc, *genes]))
    return "\n".join(lines) + "\n"


def freeze_signature(sig: FrozenSignature, out_json: str | Path, out_gmt: str | Path | None = None) -> list[Path]:
    """Write ``*.ressig.json`` (and the ``.gmt`` export) atomically; return the written paths."""
    out_json = Path(out_json)
    if not out_json.name.endswith(ARTEFACT_SUFFIX):
        raise RessigError(f"{out_json}: signature artefacts are named *{ARTEFACT_SUFFIX}")
    artefact = signature_to_dict(sig)
    written = [write_json(artefact, out_json)]
    if out_gmt is not None:
        written.append(write_text(gmt_text(sig), out_gmt))
    logger.info("froze signature %s v%s (%d up, %d down, checksum %s...) to %s", sig.name, sig.version,
                len(sig.up), len(sig.down), artefact["checksum"]["value"][:12], out_json)
    return written


def _version_tuple(v: str) -> tuple[int, int, int]:
    m = _SEMVER.match(v)
    if not m:
        raise ValueError(v)
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def _genes_from(block: Any, path: Path, key: str) -> dict[str, float | None]:
    if not isinstance(block, list):
        raise input_error(path, f"genes.{key} is not a list", "Re-freeze the signature with 'ressig signature'")
    out: dict[str, float | None] = {}
    for i, item in enumerate(block):
        if not isinstance(item, dict) or not isinstance(item.get("gene"), str):
            raise input_error(path, f"genes.{key}[{i}] is not a {{gene, weight}} object",
                              "Re-freeze the signature with 'ressig signature'")
        out[item["gene"]] = finite_or_none(item.get("weight"))
    return out


def load_signature(path: str | Path) -> FrozenSignature:
    """Load and validate a ``*.ressig.json`` artefact.

    Checks, each failing with a one-line :class:`~ressig.errors.RessigError`: valid JSON (a
    truncated file is not), format marker, all fields present, supported schema version,
    semantic versions, and the content checksum (any edit of the content is detected).
    """
    path = Path(path)
    if not path.exists():
        raise input_error(path, "signature file not found", "Check the --signature path")
    size = path.stat().st_size
    if size > MAX_ARTEFACT_BYTES:
        raise input_error(path, f"signature artefact is {size / 2**20:.0f} MiB, above the {MAX_ARTEFACT_BYTES // 2**20} MiB "
                          "limit of a real signature", "Check this is a ressig signature file")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except RecursionError:
        raise input_error(path, "signature artefact is nested too deeply to be a ressig signature",
                          "Check this is a ressig signature file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise input_error(path, f"signature artefact is not valid JSON (truncated or corrupt: {exc})",
                          "Re-copy the file or re-freeze it with 'ressig signature'") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise input_error(path, f"not a ressig signature artefact (format != {FORMAT!r})",
                          "Pass a *.ressig.json written by 'ressig signature', or a .gmt file")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise input_error(path, f"signature artefact lacks field(s) {', '.join(missing)}",
                          "Re-freeze the signature with 'ressig signature'")
    schema = data["schema_version"]
    if schema not in SUPPORTED_SCHEMA_VERSIONS:
        raise input_error(path, f"signature artefact schema version {schema!r} (written by ressig "
                          f"{data.get('ressig_version')}) is not supported by ressig {__version__}, which reads "
                          f"schema version(s) {', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))}",
                          "Use a ressig release that supports it, or re-freeze the signature with this one")
    for key in ("version", "ressig_version"):
        try:
            _version_tuple(str(data[key]).split("+")[0] if key == "ressig_version" else str(data[key]))
        except ValueError:
            raise input_error(path, f"{key} {data[key]!r} is not a semantic version",
                              "Re-freeze the signature with 'ressig signature'") from None
    checksum = data["checksum"]
    if not isinstance(checksum, dict) or checksum.get("algorithm") != "sha256":
        raise input_error(path, "checksum field is malformed (expected algorithm sha256)",
                          "Re-freeze the signature with 'ressig signature'")
    content = {k: v for k, v in data.items() if k != "checksum"}
    try:
        actual = content_checksum(content)
    except ValueError:
        actual = "non-finite"
    if actual != checksum.get("value"):
        raise input_error(path, "signature checksum mismatch: the content was modified after freezing",
                          "Use the original artefact, or re-freeze the signature with 'ressig signature'")
    if data["id_type"] != "symbol":
        raise input_error(path, f"unsupported id_type {data['id_type']!r}", "Signatures use gene symbols")
    genes = data["genes"]
    up = _genes_from(genes.get("up"), path, "up")
    down = _genes_from(genes.get("down"), path, "down")
    if not up and not down:
        raise input_error(path, "signature has no genes")
    ref = data["reference"].get("samples", []) if isinstance(data["reference"], dict) else []
    ref_cohort = data["reference"].get("cohort") if isinstance(data["reference"], dict) else None
    if ref_cohort is not None:
        ok = (isinstance(ref_cohort, dict) and isinstance(ref_cohort.get("source"), dict)
              and isinstance(ref_cohort["source"].get("file"), str) and isinstance(ref_cohort.get("scores"), list)
              and len(ref_cohort["scores"]) >= 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in ref_cohort["scores"]))
        if not ok:
            raise input_error(path, "reference.cohort is malformed (expected source.file and >= 2 numeric scores)",
                              "Re-freeze the signature with 'ressig signature --reference-cohort'")
    levels = data["reference"].get("gene_levels") if isinstance(data["reference"], dict) else None
    if levels is not None:
        ok = (isinstance(levels, dict) and isinstance(levels.get("levels"), dict)
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in levels["levels"].values()))
        if not ok:
            raise input_error(path, "reference.gene_levels is malformed (expected levels: {gene: number})",
                              "Re-freeze the signature with 'ressig signature'")
    return FrozenSignature(
        name=str(data["name"]), version=str(data["version"]), up=up, down=down, id_type=data["id_type"],
        created=str(data["created"]), ressig_version=str(data["ressig_version"]),
        derivation=data["derivation"], scoring=data["scoring"], reference=list(ref), source=str(path),
        reference_cohort=ref_cohort, gene_levels=levels,
    )


# ---------------------------------------------------------------------------------------------
# Plain GMT signatures
# ---------------------------------------------------------------------------------------------

_DIRECTION = re.compile(r"^(?P<base>.+)_(?P<dir>UP|DN|DOWN)$", re.IGNORECASE)


def _read_gmt_sets(path: Path) -> dict[str, list[str]]:
    """GMT → {set name: genes}, through :func:`ressig.genesets.read_gmt`."""
    from ..genesets import read_gmt

    return {name: list(gs.genes) for name, gs in read_gmt(path).items()}


def signatures_from_gmt(path: str | Path) -> list[FrozenSignature]:
    """Plain GMT → signatures: each set is an up-set; ``NAME_UP``/``NAME_DN`` pairs become one
    signed signature ``NAME`` (``_DOWN`` is accepted for ``_DN``). No reference distribution."""
    path = Path(path)
    sets = _read_gmt_sets(path)
    by_base: dict[str, dict[str, str]] = {}
    for name in sets:
        m = _DIRECTION.match(name)
        if m:
            d = "up" if m.group("dir").upper() == "UP" else "down"
            by_base.setdefault(m.group("base"), {})[d] = name
    paired = {b: d for b, d in by_base.items() if "up" in d and "down" in d}
    used = {n for d in paired.values() for n in d.values()}
    out: list[FrozenSignature] = []
    emitted: set[str] = set()
    for name in sets:
        if name in used:
            m = _DIRECTION.match(name)
            base = m.group("base") if m else name
            if base in emitted:
                continue
            emitted.add(base)
            pair = paired[base]
            up = dict.fromkeys(sets[pair["up"]])
            down = dict.fromkeys(g for g in sets[pair["down"]] if g not in up)
            out.append(FrozenSignature(name=base, version="0.0.0", up=up, down=down, source=str(path),
                                       scoring={"method": "singscore", "min_coverage": 0.5}))
        else:
            out.append(FrozenSignature(name=name, version="0.0.0", up=dict.fromkeys(sets[name]), source=str(path),
                                       scoring={"method": "singscore", "min_coverage": 0.5}))
    logger.info("%s: %d signature(s) from %d gene set(s) (%d signed UP/DN pairs)", path, len(out), len(sets),
                len(paired))
    return out


def load_signatures(path: str | Path) -> list[FrozenSignature]:
    """Load a frozen ``*.ressig.json`` artefact (one signature) or a plain ``.gmt`` (many)."""
    path = Path(path)
    if path.name.endswith(".gmt") or path.name.endswith(".gmt.txt"):
        return signatures_from_gmt(path)
    if path.exists() and path.is_file():
        head = path.read_bytes()[:1].strip()
        if head and head != b"{" and not path.name.endswith(".json"):
            return signatures_from_gmt(path)
    return [load_signature(path)]


