"""Derive a resistance signature from the DE table and freeze it as a versioned artefact.

Derivation (:func:`derive_signature`), rule ``threshold_test`` (default)
    Genes are **tested against the threshold they are selected by**, as DESeq2's
    ``results(lfcThreshold = T, altHypothesis = "greaterAbs")`` / pydeseq2's
    ``DeseqStats(lfc_null=T, alt_hypothesis="greaterAbs")`` with ``T = min_abs_lfc``: from the
    unshrunk MLE ``log2FoldChange`` and its ``lfcSE``, ``stat = sign(lfc) · max((|lfc| − T)/se, 0)``,
    ``pvalue_lfc = 2 · Φ(−|stat|)`` (NaN where the DE ``pvalue`` is NaN, i.e. Cook's outliers;
    1 where ``lfcSE`` is 0), and ``padj_lfc`` by Benjamini–Hochberg with DESeq2's independent
    filtering on ``baseMean`` at FDR ``padj`` over the tested genes (:func:`threshold_test`). A gene
    enters the **up** (down) set when it was tested, ``padj_lfc <= padj``, ``baseMean >=
    min_base_mean`` and its log2 fold change is positive (negative): the selection controls the
    FDR of "|log2FC| > T", not of "log2FC ≠ 0".

Rule ``filter`` (the rule of ressig ≤ 0.x, kept as an option)
    A gene enters the up (down) set when it was tested, the DE ``padj <= padj`` (test against
    log2FC = 0), ``baseMean >= min_base_mean`` and its shrunken log2 fold change is
    ``>= min_abs_lfc`` (``<= -min_abs_lfc``).

Both rules: each direction keeps at most ``max_genes`` genes, the largest
    ``|log2FoldChange_shrunk|`` first (ties broken by gene id). Optional curated genes are added
    to the direction they are given for, whatever their DE result (logged). Weights are the
    shrunken log2 fold changes (``null`` for curated genes absent from the DE table); the score
    itself is the unweighted rank-based single-sample score of :mod:`ressig.scoring`.

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

import datetime as _dt
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from ._atomic import write_json, write_text
from ._log import logger
from .errors import RessigError, input_error

FORMAT = "ressig-signature"
SCHEMA_VERSION = 2
SUPPORTED_SCHEMA_VERSIONS = (1, 2)
#: Largest reference cohort frozen into an artefact (pseudobulk a bigger single-cell cohort).
MAX_REFERENCE_SAMPLES = 20_000
ARTEFACT_SUFFIX = ".ressig.json"
#: Largest artefact accepted (a 20,000-gene signature with 10,000 reference samples is ~5 MiB).
MAX_ARTEFACT_BYTES = 64 * 2**20
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_REQUIRED = ("format", "schema_version", "name", "version", "created", "ressig_version", "id_type",
             "genes", "derivation", "scoring", "reference", "checksum")


#: Gene-selection rules (see the module docstring); the first is the default.
SELECTION_RULES = ("threshold_test", "filter")
THRESHOLD_COLUMNS = ["pvalue_lfc", "padj_lfc"]


@dataclass(frozen=True)
class DerivationRules:
    """Rule and thresholds that select signature genes from a DE table (see module docstring)."""

    padj: float = 0.05
    min_abs_lfc: float = 1.0
    min_base_mean: float = 10.0
    max_genes: int = 200
    lfc_column: str = "log2FoldChange_shrunk"
    rule: str = "threshold_test"

    def describe(self) -> str:
        """One sentence stating the selection rule with its numbers (recorded in the artefact)."""
        if self.rule == "threshold_test":
            return (f"tested genes with padj_lfc <= {self.padj:g} for |log2FoldChange| > {self.min_abs_lfc:g} "
                    f"(Wald test against the threshold, DESeq2 lfcThreshold/altHypothesis=greaterAbs, BH with "
                    f"independent filtering), baseMean >= {self.min_base_mean:g}; direction = sign of "
                    f"log2FoldChange; at most {self.max_genes} per direction by |{self.lfc_column}|")
        return (f"tested genes with padj <= {self.padj:g} (test against log2FC = 0) and |{self.lfc_column}| >= "
                f"{self.min_abs_lfc:g}, baseMean >= {self.min_base_mean:g}; at most {self.max_genes} per "
                f"direction by |{self.lfc_column}|")

    def __post_init__(self) -> None:
        if self.rule not in SELECTION_RULES:
            raise RessigError(f"signature rule must be one of {', '.join(SELECTION_RULES)}, not {self.rule!r}")
        if not 0 < self.padj <= 1:
            raise RessigError(f"signature padj threshold must be in (0, 1], got {self.padj}")
        if self.min_abs_lfc < 0 or self.min_base_mean < 0:
            raise RessigError("signature min_abs_lfc and min_base_mean must be >= 0")
        if self.max_genes < 1:
            raise RessigError(f"signature max_genes must be >= 1, got {self.max_genes}")


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
        from .scoring import GeneSignature

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


def _finite_or_none(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _is_tested(de: pd.DataFrame) -> pd.Series:
    if "tested" not in de.columns:
        return pd.Series(True, index=de.index)
    return de["tested"].astype(str).str.lower().isin(["true", "1"])


def independent_filtering(pvalues: pd.Series, base_mean: pd.Series, alpha: float) -> pd.Series:
    """Benjamini–Hochberg adjusted p-values with DESeq2's independent filtering on ``base_mean``.

    As DESeq2 (Love et al. 2014) and pydeseq2's ``DeseqStats``: for 50 ``base_mean`` quantile
    cut-offs (from the fraction of zero means to 0.95) the BH-adjusted p-values of the genes above
    the cut-off are computed and their rejections at ``alpha`` counted; the first cut-off whose
    count exceeds the lowess fit's maximum minus the residual RMS is used (the lowest one when at
    most 10 genes are ever rejected). Genes below the cut-off, or with a NaN p-value, get NaN.
    """
    from pydeseq2.utils import lowess
    from scipy.stats import false_discovery_control

    p = pd.to_numeric(pvalues, errors="coerce")
    bm = pd.to_numeric(base_mean, errors="coerce").reindex(p.index)
    lower = float(np.mean(bm.to_numpy() == 0))
    theta = np.linspace(lower, 0.95 if lower < 0.95 else 1.0, 50)
    cutoffs = np.quantile(bm.to_numpy(dtype=float), theta)
    adjusted = []
    for cut in cutoffs:
        use = (bm >= cut) & p.notna()
        adj = pd.Series(np.nan, index=p.index)
        if use.any():
            adj[use] = false_discovery_control(p[use].to_numpy(dtype=float), method="bh")
        adjusted.append(adj)
    rejections = np.array([int((a < alpha).sum()) for a in adjusted])
    fit = lowess(theta, rejections, frac=1 / 5)
    j = 0
    if rejections.max() > 10:
        resid = rejections[rejections > 0] - fit[rejections > 0]
        above = np.flatnonzero(rejections > fit.max() - np.sqrt(np.mean(resid ** 2)))
        j = int(above[0]) if above.size else 0
    return adjusted[j]


def threshold_test(de: pd.DataFrame, lfc_threshold: float, alpha: float = 0.05) -> pd.DataFrame:
    """Wald test of ``|log2FC| > lfc_threshold`` per gene (DESeq2 ``altHypothesis="greaterAbs"``).

    Parameters
    ----------
    de
        DE table (``log2FoldChange``, ``lfcSE``, ``pvalue``, ``baseMean``, optional ``tested``).
    lfc_threshold
        The threshold ``T`` (log2 units, ≥ 0).
    alpha
        FDR target of the independent filtering (as ``alpha`` of DESeq2's ``results``).

    Returns
    -------
    pandas.DataFrame
        Columns ``pvalue_lfc``, ``padj_lfc`` indexed like ``de`` (NaN for untested genes).
    """
    from scipy.stats import norm

    lfc = pd.to_numeric(de["log2FoldChange"], errors="coerce")
    se = pd.to_numeric(de["lfcSE"], errors="coerce")
    tested = _is_tested(de) & pd.to_numeric(de["pvalue"], errors="coerce").notna()
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.fmax((lfc.abs() - lfc_threshold) / se, 0.0)
    p = pd.Series(np.where(se == 0, 1.0, 2 * norm.sf(stat)), index=de.index).where(tested)
    in_model = _is_tested(de)  # the genes pydeseq2 saw: independent filtering runs over them
    padj = independent_filtering(p[in_model], de.loc[in_model, "baseMean"], alpha).reindex(de.index)
    return pd.DataFrame({"pvalue_lfc": p, "padj_lfc": padj}, index=de.index)


def derive_signature(
    de: pd.DataFrame,
    rules: DerivationRules | None = None,
    curated_up: Iterable[str] = (),
    curated_down: Iterable[str] = (),
    source: str | Path | None = None,
) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """Select up and down genes (with shrunken-log2FC weights) from a DE table.

    Parameters
    ----------
    de
        DE table indexed by gene id with ``baseMean``, ``padj``, the LFC column of ``rules``
        and optionally ``tested`` (see :func:`ressig.de.read_de`).
    rules
        Thresholds; defaults of :class:`DerivationRules`.
    curated_up, curated_down
        Genes added to the up/down set whatever their DE result.
    source
        Where ``de`` came from (for messages).

    Returns
    -------
    (dict, dict)
        Up and down genes → weight, strongest first.
    """
    rules = rules or DerivationRules()
    need = ["baseMean", rules.lfc_column] + (["padj"] if rules.rule == "filter" else
                                             ["log2FoldChange", "lfcSE", "pvalue"])
    missing = [c for c in need if c not in de.columns]
    if missing:
        raise input_error(source, f"DE table lacks column(s) {', '.join(missing)}",
                          "Use the table written by 'ressig de' (or set signature.lfc_column)")
    lfc = pd.to_numeric(de[rules.lfc_column], errors="coerce")
    base = pd.to_numeric(de["baseMean"], errors="coerce")
    if rules.rule == "threshold_test":
        padj = threshold_test(de, rules.min_abs_lfc, rules.padj)["padj_lfc"]
        sign = pd.to_numeric(de["log2FoldChange"], errors="coerce")
        up_mask, down_mask = sign.gt(0), sign.lt(0)
    else:
        padj = pd.to_numeric(de["padj"], errors="coerce")
        up_mask, down_mask = lfc.ge(rules.min_abs_lfc), lfc.le(-rules.min_abs_lfc)
    ok = padj.le(rules.padj) & base.ge(rules.min_base_mean) & lfc.notna() & _is_tested(de)

    def pick(mask: pd.Series) -> dict[str, float | None]:
        sel = pd.DataFrame({"gene": de.index[mask].astype(str), "abs": lfc[mask].abs().to_numpy(),
                            "lfc": lfc[mask].to_numpy()})
        sel = sel.sort_values(["abs", "gene"], ascending=[False, True], kind="mergesort").head(rules.max_genes)
        return {g: float(v) for g, v in zip(sel["gene"], sel["lfc"], strict=True)}

    up = pick(ok & up_mask)
    down = pick(ok & down_mask)
    lfc_by_gene = dict(zip(de.index.astype(str), lfc, strict=True))
    for genes, target, other, label in ((curated_up, up, down, "up"), (curated_down, down, up, "down")):
        added = []
        for g in genes:
            if g in other:
                raise RessigError(f"curated {label} gene {g!r} is in the opposite direction of the derived "
                                  "signature; remove it from the curated list")
            if g not in target:
                target[g] = _finite_or_none(lfc_by_gene.get(g))
                added.append(g)
        if added:
            logger.info("signature: added %d curated %s gene(s): %s", len(added), label, ", ".join(added[:10]))
    if not up and not down:
        raise input_error(source, f"no gene passes the signature rules ({rules.describe()})",
                          "Relax signature.padj / signature.min_abs_lfc, or use signature.rule: filter, "
                          "or check the DE table")
    logger.info("signature (rule %s): %d up and %d down genes", rules.rule, len(up), len(down))
    return up, down


def _created_now() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (_dt.datetime.fromtimestamp(int(epoch), _dt.UTC) if epoch and epoch.isdigit()
            else _dt.datetime.now(_dt.UTC).replace(microsecond=0))
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def check_name_version(name: str, version: str) -> None:
    """Refuse signature names that are unsafe as file names and non-semantic versions."""
    if not _NAME.match(name):
        raise RessigError(f"signature name {name!r} is not allowed; use letters, digits, '.', '_' and '-'")
    if not _SEMVER.match(version):
        raise RessigError(f"signature version {version!r} is not a semantic version; use MAJOR.MINOR.PATCH, e.g. 1.0.0")


def reference_scores(sig: FrozenSignature, normalized: pd.DataFrame, groups: Mapping[str, str]) -> list[dict]:
    """Score the training samples (genes × samples normalised counts) with the signature."""
    from .scoring import score_frame

    res = score_frame(normalized, [sig.gene_signature()])
    rows = []
    for r in res.itertuples(index=False):
        rows.append({"sample": str(r.sample), "group": str(groups.get(str(r.sample), "unknown")),
                     "score": _finite_or_none(r.score), "up_score": _finite_or_none(r.up_score),
                     "down_score": _finite_or_none(r.down_score)})
    return rows


def build_signature(
    de: pd.DataFrame,
    normalized: pd.DataFrame,
    samples: pd.DataFrame,
    *,
    name: str,
    version: str = "1.0.0",
    rules: DerivationRules | None = None,
    condition: str = "condition",
    reference: str = "parental",
    treatment: str = "resistant",
    curated_up: Sequence[str] = (),
    curated_down: Sequence[str] = (),
    min_coverage: float = 0.5,
    de_source: str | Path | None = None,
    created: str | None = None,
) -> FrozenSignature:
    """Derive a signature from DE results and attach the training samples' reference scores.

    Parameters
    ----------
    de
        DE table (genes × statistics).
    normalized
        Genes × samples normalised counts of the training samples.
    samples
        Sample sheet indexed by sample, with the ``condition`` column.
    name, version
        Signature name (file-name safe) and semantic version.
    rules, curated_up, curated_down
        See :func:`derive_signature`.
    condition, reference, treatment
        The DE contrast (recorded; ``condition`` labels the reference samples' groups).
    min_coverage
        Default minimum fraction of signature genes a cohort must contain to be scored.
    de_source
        Path of the DE table (recorded by file name).
    created
        Creation time (ISO-8601); default now (UTC) or ``$SOURCE_DATE_EPOCH``.
    """
    from .scoring import reference_levels

    check_name_version(name, version)
    rules = rules or DerivationRules()
    if not 0 <= min_coverage <= 1:
        raise RessigError(f"min_coverage must be in [0, 1], got {min_coverage}")
    up, down = derive_signature(de, rules, curated_up, curated_down, source=de_source)
    sig = FrozenSignature(
        name=name, version=version, up=up, down=down, created=created or _created_now(),
        derivation={
            "de_table": Path(de_source).name if de_source else None,
            "contrast": {"condition": condition, "reference": reference, "treatment": treatment},
            "rules": asdict(rules),
            "selection": rules.describe(),
            "curated": {"up": list(curated_up), "down": list(curated_down)},
            "training_samples": [str(s) for s in normalized.columns],
        },
        scoring={"method": "singscore", "min_coverage": float(min_coverage)},
    )
    groups = samples[condition].astype(str).to_dict() if condition in samples.columns else {}
    sig.reference = reference_scores(sig, normalized, groups)
    base = [c for c in normalized.columns if groups.get(str(c)) == reference]
    train = normalized[base] if base else normalized
    sig.gene_levels = gene_levels_block(reference_levels(train), f"training:{condition}={reference}" if base
                                        else "training", train.shape[1])
    return sig


def gene_levels_block(levels: dict[str, float], source: str, n_samples: int) -> dict[str, Any]:
    """The artefact's ``reference.gene_levels`` block (:func:`ressig.scoring.reference_levels`).

    :func:`build_signature` takes the levels from the training samples of the reference
    condition (parental): the matched null then asks "are the signature genes higher (up) / lower
    (down) than genes of their parental level?", which is ~uniform for a parental-like sample.
    """
    return {"source": source, "n_samples": int(n_samples), "statistic": "mean within-sample rank fraction",
            "levels": levels}


def percentile_zscore(values: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mid-rank percentile (0-100) and z-score (mean / SD with ddof 1) of ``values`` in ``reference``.

    NaN where the value is NaN or there is no reference (z-score also when it has < 2 scores or
    no spread).
    """
    values = np.asarray(values, dtype=float)
    ref = np.sort(np.asarray(reference, dtype=float))
    ref = ref[np.isfinite(ref)]
    pct = np.full(values.shape, np.nan)
    z = np.full(values.shape, np.nan)
    if ref.size:
        below = np.searchsorted(ref, values, side="left")
        upto = np.searchsorted(ref, values, side="right")
        pct = np.where(np.isnan(values), np.nan, 100.0 * (below + 0.5 * (upto - below)) / ref.size)
    if ref.size >= 2 and np.std(ref) > 0:
        z = (values - ref.mean()) / ref.std(ddof=1)
    return pct, z


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
    from dataclasses import replace

    from .cohort import CohortOptions, read_and_score
    from .cohort.engine import resolve_kind

    path = Path(path)
    opts = replace(opts or CohortOptions(progress=False), null_draws=0, shard=(0, 1))
    scores = read_and_score(path, [sig], opts).scores
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
    kind = resolve_kind(path, opts)
    if kind == "bulk":  # a gene-level matrix: its levels stratify the matched null
        from .cohort.idmap import _gene_table, reference_file_levels

        sig.gene_levels = gene_levels_block(reference_file_levels(path, _gene_table(opts), opts),
                                            f"cohort:{path.name}", values.size)
    else:
        logger.info("signature %s: the matched null keeps the training levels (%s reference cohorts give no "
                    "gene levels)", sig.name, kind)
    return sig


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
        out[item["gene"]] = _finite_or_none(item.get("weight"))
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
    from .genesets import read_gmt

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


def write_gene_table(sig: FrozenSignature, de: pd.DataFrame, path: str | Path) -> Path:
    """Signature genes with direction, weight and their DE statistics (TSV).

    With the ``threshold_test`` rule (recorded in ``sig.derivation``) the threshold-test columns
    ``pvalue_lfc``/``padj_lfc`` of :func:`threshold_test` are added.
    """
    from ._atomic import write_table

    rows = [{"gene": g, "direction": d, "weight": w} for d, genes in (("up", sig.up), ("down", sig.down))
            for g, w in genes.items()]
    df = pd.DataFrame(rows, columns=["gene", "direction", "weight"])
    rules = sig.derivation.get("rules", {})
    if rules.get("rule") == "threshold_test" and {"lfcSE", "pvalue"} <= set(de.columns):
        de = de.join(threshold_test(de, float(rules["min_abs_lfc"]), float(rules["padj"])))
    cols = [c for c in ("baseMean", "log2FoldChange", "padj", *THRESHOLD_COLUMNS) if c in de.columns]
    stats = de.reindex(df["gene"])[cols].reset_index(drop=True)
    return write_table(pd.concat([df, stats], axis=1), path, index=False)
