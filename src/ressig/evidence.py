"""The evidence table per resistance mechanism: mRNA, protein and functional (IC50 shift, dye) lines with a verdict."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ._log import logger
from .errors import RessigError

EVIDENCE_COLUMNS = ["mechanism", "level", "evidence", "measure", "estimate", "ci_low", "ci_high", "p", "call",
                    "supports", "detail"]


def _ev(mechanism: str, level: str, evidence: str, measure: str, estimate: float = math.nan,
        ci: tuple[float, float] = (math.nan, math.nan), p: float = math.nan, call: str = "", supports: str = "no",
        detail: str = "") -> dict:
    return {"mechanism": mechanism, "level": level, "evidence": evidence, "measure": measure, "estimate": estimate,
            "ci_low": ci[0], "ci_high": ci[1], "p": p, "call": call, "supports": supports, "detail": detail}


def _mrna_row(mechanism: str, de: pd.DataFrame, gene: str, direction: str, alpha: float) -> dict:
    from .concordance import resolve_gene

    try:
        g = resolve_gene(gene, gene, de.index)
    except RessigError:
        return _ev(mechanism, "mRNA", f"{gene} mRNA", "log2FC", call="missing", supports="unknown",
                   detail=f"{gene} has no row in the DE table")
    r = de.loc[g]
    lfc, se, padj = float(r["log2FoldChange"]), float(r["lfcSE"]), float(r["padj"])
    q = float(stats.norm.ppf(1 - alpha / 2))
    sig = np.isfinite(padj) and padj < alpha
    call = ("up" if lfc > 0 else "down") if sig else "not significant"
    return _ev(mechanism, "mRNA", f"{g} mRNA", "log2FC (Wald CI, padj)", lfc, (lfc - q * se, lfc + q * se), padj,
               call, "yes" if call == direction else "no", f"baseMean {float(r['baseMean']):.4g}")


def _protein_row(mechanism: str, conc: pd.DataFrame | None, marker: str, direction: str) -> dict:
    if conc is None or marker not in set(conc["marker"]):
        return _ev(mechanism, "protein", f"{marker} protein", "log2FC", call="missing", supports="unknown",
                   detail="no protein measurement (concordance step not run or marker absent)")
    r = conc.set_index("marker").loc[marker]
    state = str(r["protein_state"])
    return _ev(mechanism, "protein", f"{marker} protein", "log2FC (linear model CI, p)",
               float(r["protein_log2fc"]), (float(r["protein_ci_low"]), float(r["protein_ci_high"])),
               float(r["protein_p"]), state, "yes" if state == direction else ("unknown" if state in
                                                                             ("untested", "unclear") else "no"),
               f"concordance call: {r['call']}")


def _other_arms(shift: pd.DataFrame | None, treatment: str) -> set[str]:
    """Treatment arms of a multi-arm plate other than ``treatment`` (numerators of fold resistance)."""
    if shift is None or shift.empty:
        return set()
    return {_arm_of(c) for c in shift.loc[shift["effect"] == "fold_resistance", "condition"]} - {treatment}


def _arm_of(condition: str) -> str:
    """The arm a shift/dye row is about: ``A`` of ``A / reference``, or the condition itself."""
    return str(condition).split(" / ")[0]


def _shift_rows(shift: pd.DataFrame | None, treatment: str, alpha: float, others: set[str]) -> list[dict]:
    rows = []
    if shift is None or shift.empty:
        return [_ev("efflux", "function", "dose-response", "IC50 ratio", call="missing", supports="unknown",
                    detail="no dose-response plate")]
    for _, r in shift.iterrows():
        if _arm_of(r["condition"]) in others:  # another arm's lines belong to that arm's evidence table
            continue
        est = bool(str(r["estimable"]).lower() == "true")
        fold, p = float(r["fold"]), float(r["p"])
        if r["effect"] == "fold_resistance":
            name, measure = f"fold resistance to {r['drug']} ({r['condition']}, inhibitor {r['inhibitor']})", \
                "IC50 ratio"
            shown = est and p < alpha and fold > 1
            call = "resistant" if shown else ("not estimable" if not est else "not shown")
            supports = "context"
        else:
            name = f"reversal of {r['drug']} by {r['inhibitor']} in {r['condition']}"
            measure = "IC50 ratio (no inhibitor / inhibitor)"
            shown = est and p < alpha and fold > 1
            call = "reversed" if shown else ("not estimable" if not est else "not shown")
            supports = ("yes" if shown else ("unknown" if not est else "no")) if r["condition"] == treatment \
                else "control"
        rows.append(_ev("efflux", "function", name, measure, fold, (float(r["ci_low"]), float(r["ci_high"])), p,
                        call, supports, f"fold {r['fold_report']}" + (f"; {r['note']}" if str(r["note"]) else "")))
    return rows


def _dye_rows(dye: pd.DataFrame | None, alpha: float, others: set[str]) -> list[dict]:
    if dye is None:
        return []
    rows = []
    for _, r in dye.iterrows():
        if _arm_of(r["condition"]) in others:
            continue
        cmp_row = r["comparison"].startswith("ratio of retention ratios")
        ratio, p = float(r["retention_ratio"]), float(r["p"])
        shown = np.isfinite(p) and p < alpha and ratio > 1
        rows.append(_ev("efflux", "function", f"dye retention with {r['inhibitor']} ({r['condition']})",
                        r["comparison"], ratio, (float(r["ci_low"]), float(r["ci_high"])), p,
                        ("more inhibitor-sensitive efflux" if shown else "not shown") if cmp_row else
                        ("inhibitor increases retention" if shown else "not shown"),
                        ("yes" if shown else "no") if cmp_row else "context",
                        f"{int(r['n_samples'])} samples" + (f"; {r['note']}" if str(r["note"]) else "")))
    return rows


def evidence_table(de: pd.DataFrame, concordance: pd.DataFrame | None = None, shift: pd.DataFrame | None = None,
                   dye: pd.DataFrame | None = None, treatment: str = "resistant", alpha: float = 0.05,
                   efflux_gene: str = "ABCB1", efflux_marker: str = "P-gp", antigen_gene: str = "IL3RA",
                   antigen_marker: str = "CD123") -> pd.DataFrame:
    """One row per line of evidence, grouped by mechanism, plus one ``summary`` row per mechanism.

    Efflux: transporter mRNA (DE), protein (concordance), function (reversal of the IC50 by the
    inhibitor in treatment cells, and the dye-retention ratio of ratios). ``supports`` is
    ``yes``/``no``/``unknown`` for the lines that test the mechanism, ``context``/``control``
    for the others. Antigen loss: target protein (tests the loss), target mRNA (context:
    transcriptional vs post-transcriptional) and their concordance call. With a multi-arm plate
    (several resistant clones or sites in ``shift``), only ``treatment``'s own lines are kept.
    """
    others = _other_arms(shift, treatment)  # other arms' lines belong to their own evidence tables
    rows = [_mrna_row("efflux", de, efflux_gene, "up", alpha), _protein_row("efflux", concordance, efflux_marker, "up"),
            *_shift_rows(shift, treatment, alpha, others), *_dye_rows(dye, alpha, others)]
    lines = {"mRNA": [], "protein": [], "function": []}
    for r in rows:
        if r["supports"] in ("yes", "no", "unknown"):
            lines[r["level"]].append(r["supports"])
    shown = [lv for lv, s in lines.items() if "yes" in s]
    against = [lv for lv, s in lines.items() if s and "yes" not in s and "no" in s]
    summary = (f"supported at {', '.join(shown)} level" if shown else "not supported") + \
        (f"; not shown at {', '.join(against)} level" if against else "")
    rows.append(_ev("efflux", "summary", "efflux (P-gp) mechanism", "lines of evidence", call=summary,
                    supports="yes" if shown else "no", detail=f"{len(shown)} of 3 levels support"))
    ant = [_mrna_row("antigen loss", de, antigen_gene, "down", alpha),
           _protein_row("antigen loss", concordance, antigen_marker, "down")]
    # the target's mRNA tells transcriptional from post-transcriptional loss; it does not test the loss itself
    ant[0]["supports"] = "context"
    if concordance is not None and antigen_marker in set(concordance["marker"]):
        c = concordance.set_index("marker").loc[antigen_marker]
        ant.append(_ev("antigen loss", "summary", f"{antigen_marker} vs {c['gene']} concordance", "call",
                       call=str(c["call"]), supports="yes" if str(c["call"]).endswith("loss") else "no",
                       detail=str(c["reason"])))
    else:
        ant.append(_ev("antigen loss", "summary", f"{antigen_marker} vs {antigen_gene} concordance", "call",
                       call="missing", supports="unknown", detail="no concordance table"))
    return pd.DataFrame(rows + ant, columns=EVIDENCE_COLUMNS)


def run_evidence(de_path: str | Path, out: str | Path, concordance_path: str | Path | None = None,
                 shift_path: str | Path | None = None, dye_path: str | Path | None = None, **kwargs) -> Path:
    """Read the DE table, concordance table, ``shift.tsv`` and ``dye.tsv`` and write the evidence table."""
    from ._atomic import write_table
    from .de import read_de
    from .io import read_table

    def num(path: str | Path | None, what: str) -> pd.DataFrame | None:
        if path is None:
            return None
        df = read_table(path, what)
        for col in df.columns:
            conv = pd.to_numeric(df[col].replace("", "nan"), errors="coerce")
            if conv.notna().sum() == (df[col] != "").sum() and col not in ("note", "reason", "fold_report"):
                df[col] = conv
        return df

    table = evidence_table(read_de(de_path), num(concordance_path, "concordance table"), num(shift_path, "shift table"),
                           num(dye_path, "dye result table"), **kwargs)
    for _, r in table[table["level"] == "summary"].iterrows():
        logger.info("evidence %s: %s", r["mechanism"], r["call"])
    return write_table(table, out, index=False)
