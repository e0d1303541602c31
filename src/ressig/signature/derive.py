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
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .._log import logger
from ..errors import RessigError, input_error
from ..stats import independent_filtering
from .artefact import FrozenSignature, check_name_version, finite_or_none, gene_levels_block

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


def _is_tested(de: pd.DataFrame) -> pd.Series:
    if "tested" not in de.columns:
        return pd.Series(True, index=de.index)
    return de["tested"].astype(str).str.lower().isin(["true", "1"])


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
                target[g] = finite_or_none(lfc_by_gene.get(g))
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


def reference_scores(sig: FrozenSignature, normalized: pd.DataFrame, groups: Mapping[str, str]) -> list[dict]:
    """Score the training samples (genes × samples normalised counts) with the signature."""
    from ..scoring.singscore import score_frame

    res = score_frame(normalized, [sig.gene_signature()])
    rows = []
    for r in res.itertuples(index=False):
        rows.append({"sample": str(r.sample), "group": str(groups.get(str(r.sample), "unknown")),
                     "score": finite_or_none(r.score), "up_score": finite_or_none(r.up_score),
                     "down_score": finite_or_none(r.down_score)})
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
    from ..scoring.singscore import reference_levels

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


def write_gene_table(sig: FrozenSignature, de: pd.DataFrame, path: str | Path) -> Path:
    """Signature genes with direction, weight and their DE statistics (TSV).

    With the ``threshold_test`` rule (recorded in ``sig.derivation``) the threshold-test columns
    ``pvalue_lfc``/``padj_lfc`` of :func:`threshold_test` are added.
    """
    from .._atomic import write_table

    rows = [{"gene": g, "direction": d, "weight": w} for d, genes in (("up", sig.up), ("down", sig.down))
            for g, w in genes.items()]
    df = pd.DataFrame(rows, columns=["gene", "direction", "weight"])
    rules = sig.derivation.get("rules", {})
    if rules.get("rule") == "threshold_test" and {"lfcSE", "pvalue"} <= set(de.columns):
        de = de.join(threshold_test(de, float(rules["min_abs_lfc"]), float(rules["padj"])))
    cols = [c for c in ("baseMean", "log2FoldChange", "padj", *THRESHOLD_COLUMNS) if c in de.columns]
    stats = de.reindex(df["gene"])[cols].reset_index(drop=True)
    return write_table(pd.concat([df, stats], axis=1), path, index=False)
