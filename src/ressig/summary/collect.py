"""Read a results directory into a plain findings model (one function per finding).

Every collector takes the results directory and the run's config (a mapping; keys it leaves out
take the workflow's schema defaults) and returns a :class:`Finding`. A step that the config turns
off gives ``status = "not configured"``; a configured step whose table is absent gives
``status = "missing"`` naming the file; neither is an error, so the summary page always renders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..de.design import contrast_name

OK = "ok"
NOT_CONFIGURED = "not configured"
MISSING = "missing"
#: files of results/de/ that are not a contrast's table
DE_AUXILIARY = {"normalized_counts", "vst", "size_factors", "lrt"}
#: DE table rows listed in the page's top-genes table
TOP_DE_GENES = 200


@dataclass
class Finding:
    """One finding of the run: its numbers, the tables it came from and its figures.

    Attributes
    ----------
    key
        Section id (``qc``, ``de-<contrast>``, ``cohort-<name>``, ...).
    title
        Section heading.
    status
        ``ok``, ``not configured`` or ``missing``.
    facts
        The numbers the verdict sentence quotes.
    tables
        Named tables shown on the page (small, or the sortable top-genes / scores tables).
    figures
        PNG paths relative to the results directory, in display order.
    sources
        Result tables the section links to (relative to the results directory).
    note
        Why the section is empty (``missing``: the absent file).
    """

    key: str
    title: str
    status: str = OK
    facts: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    note: str = ""


def section(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``config[key]`` as a dict ({} when absent or null)."""
    value = config.get(key) if isinstance(config, Mapping) else None
    return dict(value) if isinstance(value, Mapping) else {}


def read_tsv(path: Path) -> pd.DataFrame:
    """A TSV as read by pandas (no index)."""
    return pd.read_csv(path, sep="\t")


def _missing(finding: Finding, results: Path, path: Path) -> Finding:
    finding.status = MISSING
    finding.note = f"{_rel(results, path)} was not found (the step is configured; has it run?)"
    return finding


def _rel(results: Path, path: Path) -> str:
    try:
        return str(path.relative_to(results))
    except ValueError:
        return str(path)


def _figures(results: Path, *paths: Path) -> list[str]:
    return [_rel(results, p) for p in paths if p.is_file()]


def contrasts(results: Path, config: Mapping[str, Any]) -> list[str]:
    """Contrast names: the configured ones (treatment vs reference first) that have a DE table,
    then any other DE table found in ``results/de``."""
    design = section(config, "design")
    names: list[str] = []
    if design.get("treatment") and design.get("reference"):
        names.append(contrast_name(design["treatment"], design["reference"]))
    for c in design.get("contrasts") or []:
        names.append(contrast_name(c["treatment"], c["reference"]))
    found = sorted(p.stem for p in (results / "de").glob("*.tsv") if p.stem not in DE_AUXILIARY)
    names = list(dict.fromkeys(names + found))
    return [n for n in names if (results / "de" / f"{n}.tsv").is_file()] or names[:1]


def step_dir(results: Path, step: str, contrast: str, table: str) -> Path:
    """``results/<step>/`` (one contrast) or ``results/<step>/<contrast>/`` (several)."""
    per = results / step / contrast
    return per if (per / table).is_file() else results / step


def collect_qc(results: Path, config: Mapping[str, Any]) -> Finding:
    """Samples flagged as outliers, PCA separation of the conditions."""
    f = Finding("qc", "Sample QC")
    path = results / "qc" / "qc.tsv"
    if not path.is_file():
        return _missing(f, results, path)
    qc = read_tsv(path)
    flagged = qc.loc[qc["outlier"].astype(str).str.lower() == "true", "sample"].astype(str).tolist()
    condition = section(config, "design").get("condition", "condition")
    f.facts = {"n_samples": len(qc), "flagged": flagged, "condition": condition}
    if condition in qc.columns and "PC1" in qc.columns:
        means = qc.groupby(condition)["PC1"].agg(["mean", "min", "max"])
        f.facts["pc1_by_group"] = means.to_dict("index")
        ranges = sorted(means.itertuples(), key=lambda r: r.mean)
        f.facts["pc1_separates"] = all(a.max < b.min for a, b in zip(ranges[:-1], ranges[1:], strict=True))
    cols = [c for c in ("sample", condition, "library_size", "detected_genes", "PC1", "PC2",
                        "median_correlation", "outlier") if c in qc.columns]
    f.tables["qc"] = qc[cols]
    f.figures = _figures(results, *(results / "qc" / n for n in ("pca.png", "library_sizes.png",
                                                                  "sample_correlation.png")))
    f.sources = ["qc/qc.tsv"]
    return f


def collect_de(results: Path, config: Mapping[str, Any], contrast: str) -> Finding:
    """Genes up/down at the configured padj (and |log2FC| of the signature), the label genes' rows."""
    f = Finding(f"de-{contrast}", f"Differential expression: {contrast.replace('_vs_', ' vs ')}")
    path = results / "de" / f"{contrast}.tsv"
    if not path.is_file():
        return _missing(f, results, path)
    de = read_tsv(path).rename(columns={"Unnamed: 0": "gene_id"})
    gene = de.columns[0]
    de_cfg, sig_cfg = section(config, "de"), section(config, "signature")
    alpha = float(de_cfg.get("alpha", 0.05))
    min_lfc = float(sig_cfg.get("min_abs_lfc", 1.0))
    lfc = de["log2FoldChange"]
    sig = de["padj"] < alpha
    f.facts = {
        "contrast": contrast, "alpha": alpha, "min_abs_lfc": min_lfc,
        "n_genes": len(de), "n_tested": int(de["tested"].astype(str).str.lower().eq("true").sum())
        if "tested" in de.columns else len(de),
        "up": int((sig & (lfc > 0)).sum()), "down": int((sig & (lfc < 0)).sum()),
        "up_lfc": int((sig & (lfc >= min_lfc)).sum()), "down_lfc": int((sig & (lfc <= -min_lfc)).sum()),
    }
    labels = [str(g) for g in de_cfg.get("label_genes", ["ABCB1", "IL3RA"])]
    cols = [c for c in (gene, "baseMean", "log2FoldChange", "lfcSE", "log2FoldChange_shrunk",
                        "stat", "pvalue", "padj") if c in de.columns]
    rows = de.loc[de[gene].astype(str).isin(labels), cols]
    f.facts["labelled"] = rows.set_index(gene).to_dict("index")
    f.facts["label_genes"] = labels
    f.tables["labelled"] = rows
    top = de[cols].dropna(subset=["padj"]).sort_values(["padj", "pvalue"], kind="mergesort")
    f.tables["top"] = top.head(TOP_DE_GENES)
    plots = results / "de" / "plots"
    f.figures = _figures(results, plots / f"{contrast}_volcano.png", plots / f"{contrast}_ma.png")
    f.sources = [f"de/{contrast}.tsv"]
    return f


def concordance_configured(config: Mapping[str, Any]) -> bool:
    conc = section(config, "concordance")
    return bool(conc.get("protein") or (conc.get("fcs") or {}).get("files"))


def collect_concordance(results: Path, config: Mapping[str, Any], contrast: str) -> Finding:
    """Each marker's call with mRNA, protein and Δ log2FC and their CIs."""
    f = Finding(f"concordance-{contrast}", f"mRNA vs protein: {contrast.replace('_vs_', ' vs ')}")
    if not concordance_configured(config):
        f.status = NOT_CONFIGURED
        return f
    d = step_dir(results, "concordance", contrast, "concordance.tsv")
    path = d / "concordance.tsv"
    if not path.is_file():
        return _missing(f, results, path)
    conc = read_tsv(path)
    f.facts = {"markers": conc.to_dict("records")}
    cols = [c for c in ("marker", "gene", "call", "mrna_log2fc", "mrna_ci_low", "mrna_ci_high",
                        "protein_log2fc", "protein_ci_low", "protein_ci_high", "delta_log2fc",
                        "delta_ci_low", "delta_ci_high", "delta_p", "delta_state") if c in conc.columns]
    f.tables["concordance"] = conc[cols]
    f.figures = _figures(results, d / "lfc_mrna_vs_protein.png", d / "per_sample.png")
    f.sources = [_rel(results, path)]
    return f


def collect_efflux(results: Path, config: Mapping[str, Any], contrast: str) -> Finding:
    """GSEA of the efflux gene sets: NES, FDR, leading edge."""
    f = Finding(f"efflux-{contrast}", f"Efflux gene sets: {contrast.replace('_vs_', ' vs ')}")
    d = step_dir(results, "efflux", contrast, "gsea.tsv")
    path = d / "gsea.tsv"
    if not path.is_file():
        return _missing(f, results, path)
    gsea = read_tsv(path)
    sets = [str(s) for s in section(config, "efflux").get("sets",
                                                          ["MULTIDRUG_EFFLUX_CORE", "HGNC_ABC_TRANSPORTERS"])]
    tested = gsea[gsea["status"] == "tested"] if "status" in gsea.columns else gsea
    f.facts = {"efflux_sets": sets, "n_tested": len(tested),
               "sets": tested[tested["set"].isin(sets)].to_dict("records")}
    cols = [c for c in ("set", "status", "n_in_ranking", "nes", "pval", "fdr", "leading_edge_size",
                        "leading_edge") if c in gsea.columns]
    f.tables["gsea"] = gsea[cols]
    enrich = [d / "enrichment" / f"{s}.png" for s in sets]
    f.figures = _figures(results, d / "gsea_nes.png", *enrich, d / "scores.png")
    f.sources = [_rel(results, path)] + [_rel(results, p) for p in (d / "scores.tsv",) if p.is_file()]
    return f


def collect_functional(results: Path, config: Mapping[str, Any]) -> Finding:
    """Fold resistance and reversal with CIs (shift.tsv), dye retention (dye.tsv)."""
    f = Finding("functional", "Functional evidence")
    if not section(config, "functional").get("plate"):
        f.status = NOT_CONFIGURED
        return f
    d = results / "functional"
    path = d / "shift.tsv"
    if not path.is_file():
        return _missing(f, results, path)
    shift = read_tsv(path)
    f.facts = {"shift": shift.to_dict("records")}
    cols = [c for c in ("effect", "drug", "condition", "inhibitor", "fold", "ci_low", "ci_high", "p",
                        "note") if c in shift.columns]
    f.tables["shift"] = shift[cols]
    f.sources = ["functional/shift.tsv"]
    if (d / "dye.tsv").is_file():
        dye = read_tsv(d / "dye.tsv")
        f.facts["dye"] = dye.to_dict("records")
        f.tables["dye"] = dye[[c for c in ("comparison", "condition", "inhibitor", "retention_ratio",
                                           "ci_low", "ci_high", "p", "n_samples") if c in dye.columns]]
        f.sources.append("functional/dye.tsv")
    if (d / "ic50.tsv").is_file():
        ic50 = read_tsv(d / "ic50.tsv")
        f.tables["ic50"] = ic50[[c for c in ("condition", "drug", "inhibitor", "ic50_report", "ic50_ci_low",
                                             "ic50_ci_high", "hill", "note") if c in ic50.columns]]
        f.sources.append("functional/ic50.tsv")
    f.sources += [_rel(results, p) for p in sorted(d.glob("**/evidence.tsv"))]
    f.figures = _figures(results, d / "curves.png")
    return f


def collect_signature(results: Path, config: Mapping[str, Any]) -> Finding:
    """The frozen artefact: name, version, genes up/down, checksum."""
    name = section(config, "signature").get("name")
    f = Finding("signature", "Frozen signature")
    d = results / "signature"
    found = [d / f"{name}.ressig.json"] if name else sorted(d.glob("*.ressig.json"))
    if not found or not found[0].is_file():
        return _missing(f, results, found[0] if found else d / "<name>.ressig.json")
    art = json.loads(found[0].read_text(encoding="utf-8"))
    genes = art.get("genes") or {}
    up, down = genes.get("up") or [], genes.get("down") or []
    names = lambda block: [g if isinstance(g, str) else g.get("gene", g.get("id", "")) for g in block]  # noqa: E731
    deriv = art.get("derivation") or {}
    f.facts = {
        "name": art.get("name", ""), "version": art.get("version", ""), "created": art.get("created", ""),
        "n_up": len(up), "n_down": len(down), "up": names(up)[:15], "down": names(down)[:15],
        "checksum": (art.get("checksum") or {}).get("value", ""),
        "algorithm": (art.get("checksum") or {}).get("algorithm", ""),
        "ressig_version": art.get("ressig_version", ""), "selection": deriv.get("selection", ""),
        "contrast": deriv.get("contrast", {}), "file": _rel(results, found[0]),
    }
    genes_tsv = d / f"{art.get('name', name)}_genes.tsv"
    if genes_tsv.is_file():
        f.tables["genes"] = read_tsv(genes_tsv)
        f.sources.append(_rel(results, genes_tsv))
    f.sources.insert(0, _rel(results, found[0]))
    return f


def cohort_names(results: Path, config: Mapping[str, Any]) -> list[str]:
    return [str(c) for c in (config.get("cohorts") or {})]


def collect_cohort(results: Path, config: Mapping[str, Any], cohort: str) -> Finding:
    """Coverage of the signature genes, score distribution and calls of one cohort."""
    f = Finding(f"cohort-{cohort}", f"Cohort {cohort}")
    d = results / "scores" / cohort
    path = d / "scores.tsv"
    if not path.is_file():
        return _missing(f, results, path)
    scores = read_tsv(path)
    f.facts = {"cohort": cohort, "kind": "long" if "signature" in scores.columns else "cells"}
    if (d / "coverage.tsv").is_file():
        f.facts["coverage"] = read_tsv(d / "coverage.tsv").to_dict("records")
    if "signature" in scores.columns:  # bulk / pseudobulk: a row per signature x sample
        per = []
        for sig, block in scores.groupby("signature", sort=False):
            s = block["score"].dropna()
            calls = block["call"].astype(str).value_counts().to_dict() if "call" in block.columns else {}
            per.append({"signature": sig, "n": len(block), "scored": len(s), "median": s.median(),
                        "q1": s.quantile(0.25), "q3": s.quantile(0.75), "min": s.min(), "max": s.max(),
                        "calls": calls})
        f.facts["signatures"] = per
        f.tables["scores"] = scores
    else:  # cells: a row per cell, score columns per signature
        score_cols = [c for c in scores.columns[1:] if not c.endswith(
            ("_pvalue", "_pvalue_low", "_call")) and pd.api.types.is_numeric_dtype(scores[c])]
        per = []
        for c in score_cols:
            s = scores[c].dropna()
            call_col = f"{c}_call"
            calls = scores[call_col].astype(str).value_counts().to_dict() if call_col in scores.columns else {}
            per.append({"signature": c, "n": len(scores), "scored": len(s), "median": s.median(),
                        "q1": s.quantile(0.25), "q3": s.quantile(0.75), "min": s.min(), "max": s.max(),
                        "calls": calls})
        f.facts["signatures"] = per
        f.tables["scores"] = scores
    f.figures = _figures(results, d / "score_distribution.png", d / "score_groups.png",
                         d / "score_embedding.png")
    f.sources = [_rel(results, p) for p in (path, d / "coverage.tsv") if p.is_file()]
    return f


def outcome_configured(results: Path, config: Mapping[str, Any]) -> bool:
    """Outcome association is on when the config has an ``outcome`` section, a cohort names a
    clinical table, or the step wrote ``results/outcome``."""
    cohorts = config.get("cohorts") or {}
    return bool(config.get("outcome")) or any(
        isinstance(c, Mapping) and (c.get("clinical") or c.get("outcome")) for c in cohorts.values()
    ) or (results / "outcome").is_dir()


def collect_outcome(results: Path, config: Mapping[str, Any], cohort: str) -> Finding:
    """Survival (Cox HR per SD, log-rank) and response (OR per SD, AUC) association of one cohort."""
    f = Finding(f"outcome-{cohort}", f"Outcome association: {cohort}")
    if not outcome_configured(results, config):
        f.status = NOT_CONFIGURED
        return f
    d = results / "outcome" / cohort
    for name in ("survival", "response"):
        if (d / f"{name}.tsv").is_file():
            table = read_tsv(d / f"{name}.tsv")
            f.facts[name] = table.to_dict("records")
            f.tables[name] = table
            f.sources.append(_rel(results, d / f"{name}.tsv"))
    if not f.sources:
        f.status = NOT_CONFIGURED
        f.note = f"no survival.tsv or response.tsv in {_rel(results, d)}"
        return f
    f.figures = _figures(results, *sorted(d.glob("*.png")))
    return f


def collect_all(results: str | Path, config: Mapping[str, Any]) -> list[Finding]:
    """Every finding of the run, in page order."""
    results = Path(results)
    cs = contrasts(results, config)
    out = [collect_qc(results, config)]
    de = [collect_de(results, config, c) for c in cs]
    overview = results / "de" / "plots" / "contrasts.png"  # several contrasts: one figure across them
    if de and de[0].status == OK and overview.is_file():
        de[0].figures.append(_rel(results, overview))
    out += de
    out += [collect_concordance(results, config, c) for c in cs]
    out += [collect_efflux(results, config, c) for c in cs]
    out.append(collect_functional(results, config))
    out.append(collect_signature(results, config))
    cohorts = cohort_names(results, config)
    if cohorts:
        out += [collect_cohort(results, config, c) for c in cohorts]
    else:
        out.append(Finding("cohorts", "Cohort scores", status=NOT_CONFIGURED))
    outcome = [c for c in cohorts if (results / "outcome" / c).is_dir()] or cohorts[:1]
    if outcome and outcome_configured(results, config):
        out += [collect_outcome(results, config, c) for c in outcome]
    else:
        out.append(Finding("outcome", "Outcome association", status=NOT_CONFIGURED))
    return out
