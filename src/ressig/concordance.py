"""Transcript vs protein concordance: is a protein change explained by its mRNA?

For every configured marker ↔ gene pair (``CD123 → IL3RA``, ``P-gp → ABCB1`` by default) the
log2 fold change (treatment vs reference, e.g. resistant vs parental) of the **mRNA** (from the
DE table) is compared with that of the **protein** (flow-cytometry MFI table or raw FCS files),
and one of seven calls is made.

Protein input
-------------
A protein table or raw FCS files, read and summarised per well and biological sample by
:mod:`ressig.protein` (format described there).

Statistics
----------
**mRNA** (DE table of ``ressig de``): ``log2FoldChange`` (unshrunk MLE) ± ``lfcSE``; two-sided
``(1 - alpha)`` Wald CI; equivalence by **TOST** with margin ``±m`` (z-based:
``p = max(1 - Φ((lfc + m)/se), Φ((lfc - m)/se))``; TOST p < alpha ⇔ the ``(1 - 2·alpha)`` CI
lies inside ``(-m, m)``); difference by the DE ``padj`` (or ``pvalue``, configurable).

**Protein**: per well ``log2(value - background)``; per biological sample the mean over its
technical replicates (wells). Between conditions, by default a **linear model with the same
covariates as the DE design** (``y ~ covariates + condition``, OLS; for the demo, batch pairs
one parental with one resistant culture, so this equals a paired t-test); alternatively
``welch`` (Welch two-sample t-test, ignoring covariates). The condition coefficient gives the
protein log2FC, its standard error, residual degrees of freedom, a t-based ``(1 - alpha)`` CI, a
two-sided difference p-value and a t-based TOST p-value with the protein margin (default: the
mRNA margin). Pairs are pre-specified hypotheses, so p-values are not adjusted across pairs.

**Discordance** Δ = protein log2FC − mRNA log2FC: does the protein move by what its mRNA moves?
(A difference in significance is not a significant difference: Gelman & Stern 2006, *Am Stat*).
``se_Δ = sqrt(se_p² + se_m²)`` (independent measurements), Welch–Satterthwaite df with
the mRNA side counted as infinite df (DESeq2's Wald test is z-based), so ``df_Δ = df_p · se_Δ⁴ /
se_p⁴``; t-based ``(1 - alpha)`` CI, two-sided p against 0 and a TOST p against the **protein
margin**. Every effect also reports the ``(1 - 2·alpha)`` CI its TOST decision corresponds to
(``*_tost_ci_low/high``: TOST p < alpha ⇔ that CI lies inside ``(-margin, margin)``).

Decision table
--------------
Each side first gets a *state*:

* ``equivalent`` — TOST p < alpha (a change smaller than the margin counts as no change, by the
  definition of the margin; equivalence is checked first);
* ``down`` / ``up`` — otherwise, difference p < alpha (mRNA: ``padj``), by the sign of log2FC;
* ``unclear`` — neither: the CI straddles a margin and no difference is shown.

and Δ gets ``delta_state``: ``equivalent`` (Δ TOST p < alpha: the magnitudes agree within the
protein margin), ``different`` (Δ p < alpha **and** |Δ| > protein margin), else ``unclear``.

Then, if enough data (≥ ``min_replicates`` biological protein replicates per arm, a finite
protein standard error with ≥ 1 residual df, a tested mRNA with a finite lfcSE):

===========  =======================  =======================  ===============================  ============
mRNA \\ prot  down                     up                       equivalent                       unclear
===========  =======================  =======================  ===============================  ============
equivalent   post-transcriptional     post-transcriptional     no change                        inconclusive
             loss **if Δ different**  gain **if Δ different**
             (Δ < 0), else            (Δ > 0), else
             inconclusive             inconclusive
down         concordant loss          inconclusive (opposite)  post-transcriptional buffering   inconclusive
                                                               **if Δ different** (Δ > 0),
                                                               else inconclusive
up           inconclusive (opposite)  concordant gain          post-transcriptional buffering   inconclusive
                                                               **if Δ different** (Δ < 0),
                                                               else inconclusive
unclear      inconclusive             inconclusive             inconclusive                     inconclusive
===========  =======================  =======================  ===============================  ============

otherwise ``inconclusive``. *Post-transcriptional loss/gain*: the mRNA is unchanged, the protein
changed, and the protein change is shown to exceed the mRNA change by more than the margin (an mRNA
fall of −0.45 just inside the margin with a protein fall of −0.55 is Δ = −0.1: inconclusive, not
post-transcriptional). *Post-transcriptional buffering*: the mRNA changed but the protein is shown
unchanged and Δ is beyond the margin — the protein does not follow its mRNA. *Concordant
loss/gain* keeps the direction rule (both changed the same way); ``delta_state`` says whether the
magnitudes also agree. ``no change`` needs *both* sides shown equivalent — a protein difference
that is merely not significant is never called "no change". Every row carries a ``reason``
explaining its call. Inconclusive is the honest answer whenever the data cannot support one of
the definite calls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._atomic import atomic_group
from ._log import logger
from .errors import RessigError
from .protein import (
    per_sample_protein,
    protein_effect,
    read_fcs_table,
    read_protein_table,
    summarise_fcs,
    well_signals,
)
from .stats import Effect, fill_effect

CALLS = ("post-transcriptional loss", "post-transcriptional gain", "post-transcriptional buffering",
         "concordant loss", "concordant gain", "no change", "inconclusive")
DEFAULT_PAIRS: dict[str, str] = {"CD123": "IL3RA", "P-gp": "ABCB1"}
RESULT_COLUMNS = [
    "marker", "gene", "call", "reason",
    "mrna_log2fc", "mrna_se", "mrna_ci_low", "mrna_ci_high", "mrna_pvalue", "mrna_padj", "mrna_tost_p",
    "mrna_tost_ci_low", "mrna_tost_ci_high", "mrna_state", "baseMean",
    "protein_log2fc", "protein_se", "protein_df", "protein_ci_low", "protein_ci_high", "protein_p",
    "protein_tost_p", "protein_tost_ci_low", "protein_tost_ci_high", "protein_state",
    "delta_log2fc", "delta_se", "delta_df", "delta_ci_low", "delta_ci_high", "delta_p", "delta_tost_p",
    "delta_tost_ci_low", "delta_tost_ci_high", "delta_state",
    "n_reference", "n_treatment", "n_wells",
    "margin", "protein_margin", "alpha", "ci_level", "tost_ci_level", "protein_model", "mrna_p_column",
]


def mrna_effect(de_row: pd.Series, margin: float, alpha: float) -> Effect:
    """mRNA effect from one DE-table row: unshrunk log2FC ± lfcSE, Wald CI, z-based TOST."""
    e = Effect(log2fc=float(de_row["log2FoldChange"]), se=float(de_row["lfcSE"]), df=math.inf,
               p=float(de_row["pvalue"]))
    if not bool(de_row.get("tested", True)):
        e.note = "gene removed by the DE count filter (not tested)"
    elif not e.usable:
        e.note = "no finite log2FoldChange/lfcSE in the DE table"
    return fill_effect(e, margin, alpha)


def delta_effect(mrna: Effect, protein: Effect, margin: float = 0.5, alpha: float = 0.05) -> Effect:
    """Discordance Δ = protein log2FC − mRNA log2FC, with the tests of :func:`ressig.stats.fill_effect`.

    The two estimates come from independent data (counts vs cytometry), so
    ``se = sqrt(se_protein² + se_mRNA²)``. Degrees of freedom by Welch–Satterthwaite,
    ``df = se⁴ / (se_p⁴/df_p + se_m⁴/df_m)``, where the mRNA side has ``df_m = inf`` (DESeq2's Wald
    test is z-based), so ``df = se⁴ · df_p / se_p⁴`` ≥ ``df_p``. CI, two-sided p against 0 and the TOST
    p against ``±margin`` are t-based on that df.

    Parameters
    ----------
    mrna, protein
        The two filled effects (:func:`mrna_effect`, :func:`protein_effect`).
    margin
        Equivalence margin of Δ (log2); :func:`concordance` uses the protein margin.
    alpha
        Test level; the CI has level ``1 - alpha``, the TOST CI ``1 - 2·alpha``.
    """
    e = Effect(n_reference=protein.n_reference, n_treatment=protein.n_treatment)
    if not (mrna.usable and protein.usable):
        return e
    var_m, var_p = mrna.se ** 2, protein.se ** 2
    e.log2fc = protein.log2fc - mrna.log2fc
    e.se = math.sqrt(var_p + var_m)
    denom = (var_p ** 2 / protein.df if np.isfinite(protein.df) else 0.0) + \
            (var_m ** 2 / mrna.df if np.isfinite(mrna.df) else 0.0)
    e.df = (var_p + var_m) ** 2 / denom if denom > 0 else math.inf
    return fill_effect(e, margin, alpha)


def _delta_state(d: Effect, margin: float, alpha: float) -> str:
    """``equivalent`` (TOST p < alpha), ``different`` (p < alpha and |Δ| > margin), else ``unclear``."""
    if not d.usable:
        return "untested"
    if d.tost_p < alpha:
        return "equivalent"
    if d.p < alpha and abs(d.log2fc) > margin:
        return "different"
    return "unclear"


def _state(e: Effect, p_diff: float, alpha: float) -> str:
    if not e.usable:
        return "untested"
    if np.isfinite(e.tost_p) and e.tost_p < alpha:
        return "equivalent"
    if np.isfinite(p_diff) and p_diff < alpha:
        return "up" if e.log2fc > 0 else "down"
    return "unclear"


_TABLE = {
    ("equivalent", "down"): "post-transcriptional loss",
    ("equivalent", "up"): "post-transcriptional gain",
    ("equivalent", "equivalent"): "no change",
    ("down", "down"): "concordant loss",
    ("up", "up"): "concordant gain",
    ("down", "equivalent"): "post-transcriptional buffering",
    ("up", "equivalent"): "post-transcriptional buffering",
}
_SAID = {"equivalent": "equivalent", "down": "significantly down", "up": "significantly up"}
_DELTA_SAID = {"equivalent": "shown equivalent to 0", "different": "shown different from 0 and beyond the margin",
               "unclear": "neither shown different nor equivalent", "untested": "not estimable"}


def decide(mrna_state: str, protein_state: str, delta_state: str = "different", enough: bool = True,
           why_not: str = "", delta_log2fc: float = math.nan) -> tuple[str, str]:
    """Apply the decision table of the module docstring; returns ``(call, reason)``.

    Parameters
    ----------
    mrna_state, protein_state
        ``equivalent``, ``down``, ``up``, ``unclear`` (or ``untested``) of each side.
    delta_state
        State of Δ = protein − mRNA log2FC (:func:`_delta_state`): ``equivalent``, ``different``,
        ``unclear`` or ``untested``.
    enough
        False when replicates or estimates are missing: the call is ``inconclusive`` with ``why_not``.
    delta_log2fc
        Δ itself: a post-transcriptional call also needs its sign to agree (protein below its mRNA
        for a loss or for buffering of an mRNA gain; above it for a gain or buffering of a loss);
        NaN skips that check.
    """
    if not enough:
        return "inconclusive", why_not
    call = _TABLE.get((mrna_state, protein_state))
    sides = f"mRNA {_SAID.get(mrna_state, mrna_state)}, protein {_SAID.get(protein_state, protein_state)}"
    delta = f"Δ = protein − mRNA {_DELTA_SAID.get(delta_state, delta_state)}"
    if call == "no change":
        return call, sides
    if call is not None and call.startswith("post-transcriptional"):
        up = (protein_state == "up") or (mrna_state == "down")  # Δ expected > 0
        sign_ok = not np.isfinite(delta_log2fc) or (delta_log2fc > 0) == up
        if delta_state == "different" and sign_ok:
            what = ("the protein does not follow its mRNA" if call.endswith("buffering")
                    else "the mRNA does not explain the protein change")
            return call, f"{sides}; {delta}: {what}"
        if delta_state == "equivalent":
            return "inconclusive", (f"{sides}, but {delta}: the mRNA and protein changes agree within the "
                                    "margin, so the difference in significance is not a difference")
        return "inconclusive", f"{sides}, but {delta}: cannot tell whether mRNA explains the protein"
    if call is not None:  # concordant loss / gain; delta_state says whether the magnitudes agree
        return call, f"{sides}; magnitudes: {delta}"
    if {mrna_state, protein_state} == {"up", "down"}:
        return "inconclusive", f"mRNA and protein change in opposite directions (mRNA {mrna_state}, protein " \
                               f"{protein_state}): not one of the defined patterns"
    parts = []
    if mrna_state == "unclear":
        parts.append("mRNA neither shown different nor equivalent (CI straddles the margin)")
    if protein_state == "unclear":
        parts.append("protein neither shown different nor equivalent (CI too wide)")
    return "inconclusive", "; ".join(parts) or f"mRNA {mrna_state}, protein {protein_state}"


def resolve_gene(marker: str, gene: str | None, de_index: pd.Index) -> str:
    """The DE-table row of a marker's gene (aliases such as MDR1 → ABCB1 accepted); error naming the marker."""
    from .genes import ALIASES

    if not gene:
        raise RessigError(f"marker {marker!r} has no mapped gene; add it to concordance.pairs "
                          f"(e.g. {marker}: <gene id as in the DE table>)")
    for cand in (gene, ALIASES.get(gene.upper(), gene)):
        if cand in de_index:
            return cand
    raise RessigError(f"marker {marker!r}: its gene {gene!r} has no row in the DE table; map the marker to a "
                      "gene id used in the counts (symbol or Ensembl id) in concordance.pairs")


def concordance(
    de: pd.DataFrame,
    protein: pd.DataFrame,
    samples: pd.DataFrame,
    pairs: Mapping[str, str] | None = None,
    condition: str = "condition",
    reference: str = "parental",
    treatment: str = "resistant",
    covariates: Sequence[str] = (),
    continuous: Sequence[str] = (),
    margin: float = 0.5,
    protein_margin: float | None = None,
    alpha: float = 0.05,
    protein_model: str = "linear",
    mrna_p: str = "padj",
    min_replicates: int = 2,
) -> pd.DataFrame:
    """The concordance table: one row per marker ↔ gene pair (columns :data:`RESULT_COLUMNS`).

    Parameters
    ----------
    de
        DE table (:func:`ressig.de.read_de`), indexed by gene id.
    protein
        Per-sample protein table from :func:`per_sample_protein` (``marker, sample, protein_log2, n_wells``).
    samples
        Sample sheet indexed by sample.
    pairs
        Marker → gene; default :data:`DEFAULT_PAIRS`. Every marker in ``protein`` must be mapped.
    condition, reference, treatment, covariates, continuous
        The DE design (the protein linear model uses the same covariates).
    margin
        mRNA equivalence margin (log2).
    protein_margin
        Protein equivalence margin (log2); ``None`` = ``margin``.
    alpha
        Level of every test; CIs have level ``1 - alpha``.
    protein_model
        ``"linear"`` or ``"welch"`` (see :func:`protein_effect`).
    mrna_p
        DE column used for the mRNA difference test: ``"padj"`` or ``"pvalue"``.
    min_replicates
        Biological protein replicates needed per condition for a definite call.
    """
    pairs = dict(DEFAULT_PAIRS if pairs is None else pairs)
    if not pairs:
        raise RessigError("no marker -> gene pairs configured; set concordance.pairs")
    if not 0 < alpha < 0.5:
        raise RessigError(f"alpha must be in (0, 0.5), not {alpha}")
    if margin <= 0 or (protein_margin is not None and protein_margin <= 0):
        raise RessigError("equivalence margins must be > 0 (log2 units)")
    if mrna_p not in ("padj", "pvalue"):
        raise RessigError(f"mrna_p must be 'padj' or 'pvalue', not {mrna_p!r}")
    if min_replicates < 2:
        raise RessigError("min_replicates must be >= 2 (a variance needs two replicates)")
    pmargin = margin if protein_margin is None else float(protein_margin)
    markers = list(dict.fromkeys(protein["marker"]))
    for m in markers:
        if m not in pairs:
            resolve_gene(m, None, de.index)
    for m in pairs:
        if m not in markers:
            raise RessigError(f"marker {m!r} from concordance.pairs is not in the protein data "
                              f"(markers: {', '.join(markers)}); fix the marker name or remove the pair")
    genes = {m: resolve_gene(m, g, de.index) for m, g in pairs.items()}
    rows = []
    for marker, gene in genes.items():
        row = de.loc[gene]
        me = mrna_effect(row, margin, alpha)
        p_m = float(row[mrna_p])
        pm = protein[protein["marker"] == marker].set_index("sample")
        # one contrast of a multi-level experiment: the protein comparison uses its two levels only
        pm = pm[samples.loc[pm.index, condition].astype(str).isin([reference, treatment]).to_numpy()] \
            if condition in samples.columns and pm.index.isin(samples.index).all() else pm
        pe = protein_effect(pm["protein_log2"], samples, condition, reference, treatment, covariates, continuous,
                            protein_model, pmargin, alpha)
        dlt = delta_effect(me, pe, pmargin, alpha)
        ms, ps, ds = _state(me, p_m, alpha), _state(pe, pe.p, alpha), _delta_state(dlt, pmargin, alpha)
        problems = [n for n in (me.note and f"mRNA: {me.note}", pe.note and f"protein: {pe.note}") if n]
        if pe.usable and min(pe.n_reference, pe.n_treatment) < min_replicates:
            problems.append(f"too few biological protein replicates ({pe.n_reference} {reference}, "
                            f"{pe.n_treatment} {treatment}; need >= {min_replicates} per condition)")
        call, reason = decide(ms, ps, ds, not problems, "; ".join(problems), dlt.log2fc)
        logger.info("%s / %s: mRNA log2FC %.3f (TOST p %.3g, %s %.3g), protein log2FC %.3f (p %.3g), "
                    "delta %.3f (p %.3g, TOST p %.3g) -> %s", marker, gene, me.log2fc, me.tost_p, mrna_p, p_m,
                    pe.log2fc, pe.p, dlt.log2fc, dlt.p, dlt.tost_p, call)
        rows.append({
            "marker": marker, "gene": gene, "call": call, "reason": reason,
            "mrna_log2fc": me.log2fc, "mrna_se": me.se, "mrna_ci_low": me.ci_low, "mrna_ci_high": me.ci_high,
            "mrna_pvalue": float(row["pvalue"]), "mrna_padj": float(row["padj"]), "mrna_tost_p": me.tost_p,
            "mrna_tost_ci_low": me.tost_ci_low, "mrna_tost_ci_high": me.tost_ci_high,
            "mrna_state": ms, "baseMean": float(row["baseMean"]),
            "protein_log2fc": pe.log2fc, "protein_se": pe.se, "protein_df": pe.df, "protein_ci_low": pe.ci_low,
            "protein_ci_high": pe.ci_high, "protein_p": pe.p, "protein_tost_p": pe.tost_p,
            "protein_tost_ci_low": pe.tost_ci_low, "protein_tost_ci_high": pe.tost_ci_high, "protein_state": ps,
            "delta_log2fc": dlt.log2fc, "delta_se": dlt.se, "delta_df": dlt.df, "delta_ci_low": dlt.ci_low,
            "delta_ci_high": dlt.ci_high, "delta_p": dlt.p, "delta_tost_p": dlt.tost_p,
            "delta_tost_ci_low": dlt.tost_ci_low, "delta_tost_ci_high": dlt.tost_ci_high, "delta_state": ds,
            "n_reference": pe.n_reference, "n_treatment": pe.n_treatment, "n_wells": int(pm["n_wells"].sum()),
            "margin": margin, "protein_margin": pmargin, "alpha": alpha, "ci_level": 1 - alpha, "tost_ci_level": 1 - 2 * alpha,
            "protein_model": protein_model, "mrna_p_column": mrna_p,
        })
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def per_sample_table(protein: pd.DataFrame, normalized: pd.DataFrame, samples: pd.DataFrame,
                     genes: Mapping[str, str], condition: str = "condition") -> pd.DataFrame:
    """Per-sample protein log2 signal beside the gene's normalised count (for the per-sample plot)."""
    out = protein.copy()
    out["gene"] = out["marker"].map(genes)
    norm = [float(normalized.at[g, s]) if (g in normalized.index and s in normalized.columns) else math.nan
            for g, s in zip(out["gene"], out["sample"], strict=True)]
    out["mrna_normalized"] = norm
    out["mrna_log2"] = np.log2(np.asarray(norm) + 1.0)
    out[condition] = samples.loc[out["sample"], condition].to_numpy()
    order = {m: i for i, m in enumerate(genes)}
    out = out.sort_values(["marker", "sample"], key=lambda s: s.map(order) if s.name == "marker" else s)
    return out[["marker", "gene", "sample", condition, "n_wells", "protein_log2", "well_sd", "mrna_normalized",
                "mrna_log2"]].reset_index(drop=True)


# --------------------------------------------------------------------------- file-level driver


@atomic_group()  # every output of the step, or none
def run_concordance(
    de_path: str | Path,
    normalized_path: str | Path,
    samples_path: str | Path,
    outdir: str | Path,
    protein_path: str | Path | None = None,
    fcs_table_path: str | Path | None = None,
    channels: Mapping[str, str] | None = None,
    gate: Mapping[str, Sequence[float]] | None = None,
    min_events: int = 100,
    nonpositive: str = "error",
    **kwargs,
) -> list[Path]:
    """Read inputs, compute the concordance table and write every output (all or none of them).

    Outputs in ``outdir``: ``concordance.tsv``, ``protein_wells.tsv`` (per well: value, background,
    log2 signal, origin), ``protein_samples.tsv`` (per sample protein and mRNA),
    ``lfc_mrna_vs_protein.png`` and ``per_sample.png``. ``kwargs`` go to :func:`concordance`.
    """
    from ._atomic import save_figure, write_table
    from .de import read_de
    from .io import read_matrix_tsv, read_sample_sheet
    from .pl.concordance import concordance_lfc, concordance_samples

    if (protein_path is None) == (fcs_table_path is None):
        raise RessigError("give exactly one protein input: a protein table or an FCS table "
                          "(concordance.protein or concordance.fcs.files)")
    samples = read_sample_sheet(samples_path)
    de = read_de(de_path)
    if protein_path is not None:
        source = protein_path
        table = read_protein_table(protein_path, list(samples.index))
    else:
        source = fcs_table_path
        fcs = read_fcs_table(fcs_table_path, list(samples.index))
        table = summarise_fcs(fcs, channels or {}, gate, min_events, source=fcs_table_path)
    wells = well_signals(table, nonpositive, source)
    protein = per_sample_protein(wells)
    result = concordance(de, protein, samples, **kwargs)
    normalized = read_matrix_tsv(normalized_path, "normalised counts")
    genes = dict(zip(result["marker"], result["gene"], strict=True))
    per_sample = per_sample_table(protein, normalized, samples, genes, kwargs.get("condition", "condition"))
    fig_lfc = concordance_lfc(result)
    fig_samples = concordance_samples(per_sample, result, kwargs.get("condition", "condition"))
    outdir = Path(outdir)
    wells_out = wells.sort_values(["marker", "sample", "replicate"], kind="stable")
    paths = [
        write_table(result, outdir / "concordance.tsv", index=False),
        write_table(wells_out, outdir / "protein_wells.tsv", index=False),
        write_table(per_sample, outdir / "protein_samples.tsv", index=False),
        save_figure(fig_lfc, outdir / "lfc_mrna_vs_protein.png"),
        save_figure(fig_samples, outdir / "per_sample.png"),
    ]
    for _, r in result.iterrows():
        logger.info("concordance %s/%s: %s (%s)", r["marker"], r["gene"], r["call"], r["reason"])
    return paths
