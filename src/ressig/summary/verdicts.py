"""Verdict sentences: one headline per finding, with the numbers it rests on.

Every function takes a :class:`~ressig.summary.collect.Finding` and returns plain text (the HTML
renderer escapes it): :func:`verdict` the headline, :func:`details` supporting sentences.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from .collect import MISSING, NOT_CONFIGURED, Finding

MINUS = "\u2212"
ELLIPSIS = " \u2026"


def num(x: Any, digits: int = 3) -> str:
    """``x`` to ``digits`` significant figures, true minus sign; 'NA' for missing values."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "NA"
    if math.isnan(v):
        return "NA"
    if v == 0:
        return "0"
    if 1 <= abs(v) < 1e6:  # fixed decimals keep the significant trailing zeros: 2.0 -> 2.00
        text = f"{v:.{max(digits - 1 - int(math.floor(math.log10(abs(v)))), 0)}f}"
    elif 1e-4 <= abs(v) < 1:
        text = f"{v:.{digits}g}"
    else:
        text = f"{v:.{max(digits - 1, 1)}e}"
    return text.replace("-", MINUS)


def signed(x: Any, digits: int = 3) -> str:
    """``num`` with an explicit + for positive values."""
    text = num(x, digits)
    return "+" + text if text not in ("NA", "0") and not text.startswith(MINUS) else text


def pval(p: Any) -> str:
    """A p-value or FDR: 'p = 0.0016', '< 1e-300' for an underflow to zero."""
    try:
        v = float(p)
    except (TypeError, ValueError):
        return "NA"
    if math.isnan(v):
        return "NA"
    if v == 0:
        return "< 1e" + MINUS + "300"
    return num(v, 2)


def ci(low: Any, high: Any, digits: int = 3) -> str:
    """'95% CI a to b'."""
    return f"95% CI {num(low, digits)} to {num(high, digits)}"


def _status(f: Finding) -> str | None:
    if f.status == NOT_CONFIGURED:
        return "Not configured" + (f" ({f.note})." if f.note else ": this step is off in the config.")
    if f.status == MISSING:
        return f"No result: {f.note}."
    return None


def verdict_qc(f: Finding) -> str:
    n, flagged = f.facts["n_samples"], f.facts["flagged"]
    head = (f"All {n} samples pass QC (no outlier flagged)" if not flagged else
            f"{len(flagged)} of {n} samples flagged as outliers: {', '.join(flagged)}")
    sep = f.facts.get("pc1_separates")
    if sep is not None:
        groups = " and ".join(str(g) for g in f.facts.get("pc1_by_group", {}))
        head += (f"; PC1 separates {groups} without overlap" if sep else
                 f"; PC1 does not fully separate {groups}")
    return head + "."


def _gene_clause(gene: str, row: Mapping[str, Any] | None) -> str:
    if row is None:
        return f"{gene} is not in the DE table"
    return f"{gene} log2FC {signed(row.get('log2FoldChange'))} (padj {pval(row.get('padj'))})"


def verdict_de(f: Finding) -> str:
    x = f.facts
    text = (f"{x['up']} genes up and {x['down']} down in {x['contrast'].replace('_vs_', ' vs ')} at padj < "
            f"{num(x['alpha'])} ({x['up_lfc']} up and {x['down_lfc']} down with |log2FC| \u2265 "
            f"{x['min_abs_lfc']:g})")
    genes = [_gene_clause(g, x["labelled"].get(g)) for g in x["label_genes"]]
    return text + ("; " + ", ".join(genes) if genes else "") + "."


def marker_sentence(row: Mapping[str, Any]) -> str:
    """'CD123/IL3RA: post-transcriptional loss — mRNA log2FC ..., protein ..., Δ ...'."""
    return (f"{row['marker']}/{row['gene']}: {row['call']} \u2014 mRNA log2FC {signed(row['mrna_log2fc'])} "
            f"({ci(row['mrna_ci_low'], row['mrna_ci_high'])}), protein {signed(row['protein_log2fc'])} "
            f"({ci(row['protein_ci_low'], row['protein_ci_high'])}), \u0394 = protein \u2212 mRNA "
            f"{signed(row['delta_log2fc'])} ({ci(row['delta_ci_low'], row['delta_ci_high'])})"
            + (f"; {row['reason']}." if str(row.get("reason", "nan")) != "nan" else "."))


def verdict_concordance(f: Finding) -> str:
    calls = [f"{r['marker']}/{r['gene']}: {r['call']}" for r in f.facts["markers"]]
    return ("; ".join(calls) + ".") if calls else "No marker was compared."


def details_concordance(f: Finding) -> list[str]:
    return [marker_sentence(r) for r in f.facts["markers"]]


def _set_clause(r: Mapping[str, Any]) -> str:
    edge = [g for g in str(r.get("leading_edge") or "").split(";") if g and g != "nan"]
    lead = f", leading edge {', '.join(edge[:6])}{ELLIPSIS if len(edge) > 6 else ''}" if edge else ""
    return f"{r['set']} NES {signed(r['nes'])} (FDR {pval(r['fdr'])}{lead})"


def verdict_efflux(f: Finding, alpha: float = 0.05) -> str:
    sets = f.facts["sets"]
    if not sets:
        return (f"None of the efflux sets ({', '.join(f.facts['efflux_sets'])}) was tested "
                "(see the gene-set table for the reason).")
    up = [r for r in sets if float(r["fdr"]) < alpha and float(r["nes"]) > 0]
    down = [r for r in sets if float(r["fdr"]) < alpha and float(r["nes"]) < 0]
    if up:
        head = f"Efflux gene sets are enriched among the genes up in resistant cells (FDR < {num(alpha)})"
    elif down:
        head = f"Efflux gene sets are depleted (FDR < {num(alpha)})"
    else:
        head = f"No efflux gene set is enriched at FDR < {num(alpha)}"
    return head + ": " + "; ".join(_set_clause(r) for r in sets) + "."


def _fold(r: Mapping[str, Any]) -> str:
    return f"{num(r['fold'])}-fold ({ci(r['ci_low'], r['ci_high'])}, p {pval(r['p'])})"


def _no_inhibitor(r: Mapping[str, Any]) -> bool:
    return str(r.get("inhibitor")) in ("none", "nan", "None", "")


def _reversal_clause(r: Mapping[str, Any]) -> str:
    """What the inhibitor does to one condition's IC50: a CI that holds 1 is no shift, not a reversal."""
    cells = f"{r['condition']} cells"
    try:
        low, high, fold = float(r["ci_low"]), float(r["ci_high"]), float(r["fold"])
    except (TypeError, ValueError):
        return f"changes the IC50 of {cells} {_fold(r)}"
    if low <= 1.0 <= high:
        return f"does not shift the IC50 of {cells} ({_fold(r)})"
    if fold > 1.0:
        return f"lowers the IC50 of {cells} {_fold(r)} (reversal)"
    return f"raises the IC50 of {cells} {_fold(r)}"


def verdict_functional(f: Finding) -> str:
    rows = f.facts["shift"]
    fr = [r for r in rows if r["effect"] == "fold_resistance" and _no_inhibitor(r)]
    rev = [r for r in rows if r["effect"] == "reversal"]
    parts = [f"{r['numerator']} cells are {_fold(r)} resistant to {r['drug']} relative to {r['denominator']}"
             for r in fr]
    for inhibitor in dict.fromkeys(r["inhibitor"] for r in rev):
        each = [_reversal_clause(r) for r in rev if r["inhibitor"] == inhibitor]
        parts.append(f"{inhibitor} " + " and ".join(each))
    if not parts:
        return "No fold resistance or reversal was estimable."
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def details_functional(f: Finding) -> list[str]:
    out = [f"With {r['inhibitor']}, {r['numerator']} cells remain {_fold(r)} resistant to {r['drug']}."
           for r in f.facts["shift"] if r["effect"] == "fold_resistance" and not _no_inhibitor(r)]
    dye = f.facts.get("dye")
    if dye is None:
        out.append("Dye retention: not configured (functional.dye).")
        return out
    for r in dye:
        interval = f"{num(r['retention_ratio'])} ({ci(r['ci_low'], r['ci_high'])}, p {pval(r['p'])})"
        if "/" in str(r["condition"]):
            out.append(f"Dye retention, {r['comparison']} {r['condition']} with {r['inhibitor']}: {interval}.")
        else:
            out.append(f"Dye retention of {r['condition']} cells with / without {r['inhibitor']}: {interval}.")
    return out


def verdict_signature(f: Finding) -> str:
    x = f.facts
    return (f"Signature {x['name']} version {x['version']} frozen with {x['n_up']} genes up and "
            f"{x['n_down']} down ({x['algorithm']} checksum {x['checksum'][:12]}\u2026).")


def details_signature(f: Finding) -> list[str]:
    x = f.facts
    out = [f"Up genes (strongest first): {', '.join(x['up'])}{ELLIPSIS if x['n_up'] > len(x['up']) else ''}.",
           f"Down genes: {', '.join(x['down'])}{ELLIPSIS if x['n_down'] > len(x['down']) else ''}."]
    if x.get("selection"):
        out.append(f"Selection: {x['selection']}.")
    out.append(f"Created {x['created']} by ressig {x['ressig_version']}; full checksum {x['checksum']}.")
    return out


def _calls(calls: Mapping[str, int]) -> str:
    order = sorted(calls, key=lambda c: (c == "ns", c))
    return ", ".join(f"{calls[c]} {c}" for c in order)


def verdict_cohort(f: Finding) -> str:
    x = f.facts
    parts = []
    for cov in x.get("coverage", []):
        parts.append(f"{cov['n_found']} of {cov['n_genes']} {cov['signature']} genes measured "
                     f"(coverage {num(100 * float(cov['coverage']), 3)}%)")
    unit = "cells" if x["kind"] == "cells" else "samples"
    for s in x.get("signatures", []):
        text = (f"{s['scored']} {unit} scored with {s['signature']}, median {num(s['median'])} "
                f"(IQR {num(s['q1'])} to {num(s['q3'])})")
        if s["calls"]:
            text += f"; calls: {_calls(s['calls'])}"
        parts.append(text)
    text = "; ".join(parts)
    return (text[0].upper() + text[1:] + ".") if text else "No scores."


def verdict_outcome(f: Finding) -> str:
    parts = []
    for r in f.facts.get("survival", []):
        parts.append(f"{r['signature']} survival (n = {r['n']}, {r['events']} events): HR per SD "
                     f"{num(r['hr_per_sd'])} ({ci(r['hr_ci_low'], r['hr_ci_high'])}, Wald p {pval(r['p_wald'])}, "
                     f"q {pval(r['qvalue'])}), C = {num(r['concordance'])}, log-rank p {pval(r['logrank_p'])}")
    for r in f.facts.get("response", []):
        parts.append(f"{r['signature']} response {r['response']} = {r['positive']} (n = {r['n']}, "
                     f"{r['n_positive']} positive): OR per SD {num(r['odds_ratio_per_sd'])} "
                     f"({ci(r['or_ci_low'], r['or_ci_high'])}, p {pval(r['p'])}, q {pval(r['qvalue'])}), "
                     f"AUC {num(r['auc'])} ({ci(r['auc_ci_low'], r['auc_ci_high'])})")
    return "; ".join(parts) + "." if parts else "No association table."


_VERDICTS: dict[str, Callable[[Finding], str]] = {
    "qc": verdict_qc, "de": verdict_de, "concordance": verdict_concordance, "efflux": verdict_efflux,
    "functional": verdict_functional, "signature": verdict_signature, "cohort": verdict_cohort,
    "outcome": verdict_outcome,
}
_DETAILS: dict[str, Callable[[Finding], list[str]]] = {
    "concordance": details_concordance, "functional": details_functional, "signature": details_signature,
}


def kind(f: Finding) -> str:
    """The finding's kind: the key up to the first '-' (``de-resistant_vs_parental`` -> ``de``)."""
    return f.key.split("-", 1)[0]


def verdict(f: Finding) -> str:
    """The headline sentence of a finding (or why there is none)."""
    return _status(f) or _VERDICTS[kind(f)](f)


def details(f: Finding) -> list[str]:
    """Supporting sentences of a finding (empty when it has no result)."""
    if _status(f):
        return []
    return _DETAILS.get(kind(f), lambda _: [])(f)
