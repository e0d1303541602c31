"""Efflux step: is ABCB1 up alone, or is drug efflux a programme?

Two complementary views of every gene set (curated ``resources/genesets/*.gmt`` plus any user GMT):

* **per-sample scores** (:mod:`ressig.scoring`, single-sample rank-based) of each set in each
  library, tabulated with the condition and plotted by condition;
* **GSEA prerank** (gseapy) of the DE statistic (default the Wald ``stat``, resistant vs
  parental): ES, NES, nominal p, FDR, FWER and leading edge per set, with enrichment plots of the
  top sets and of the efflux sets named in the config.

GSEA is run with a fixed seed and one thread, so reruns are identical. Sets whose number of genes
in the ranking is outside ``[min_size, max_size]`` are not tested; every such set is logged and
listed in ``gsea.tsv`` with its reason in ``status``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._atomic import atomic_group
from ._log import logger
from .errors import RessigError
from .genesets import GeneSet, coverage, match_ensembl_ids, read_gmts, safe_name, size_filter
from .pl.gsea import plot_enrichment, plot_nes, plot_scores
from .scoring.singscore import score_frame
from .scoring.types import signatures_from_genesets

#: Columns of ``gsea.tsv`` (one row per gene set, tested ones first).
GSEA_COLUMNS = ["set", "status", "source", "n_genes", "n_in_ranking", "es", "nes", "pval", "fdr", "fwer",
                "leading_edge_size", "leading_edge"]
DEFAULT_EFFLUX_SETS = ("MULTIDRUG_EFFLUX_CORE", "HGNC_ABC_TRANSPORTERS")
#: At most this many panels in the score plot (efflux sets first, then by GSEA FDR).
MAX_SCORE_PANELS = 24


@dataclass
class GseaResult:
    """gseapy prerank output, tidied.

    Attributes
    ----------
    table
        One row per gene set (:data:`GSEA_COLUMNS`), indexed by set name.
    ranking
        The ranked statistic (descending, ties broken by gene id) that was tested.
    details
        Per tested set: gseapy's ``hits`` and running enrichment score ``RES`` (for plots).
    """

    table: pd.DataFrame
    ranking: pd.Series
    details: dict[str, dict] = field(default_factory=dict)


def ranking_from_de(de: pd.DataFrame, rank_by: str = "stat") -> pd.Series:
    """The DE statistic to rank by, NaNs (untested genes) dropped, sorted descending then by gene id."""
    if rank_by not in de.columns:
        raise RessigError(f"DE table has no column {rank_by!r} to rank genes by (columns: {', '.join(de.columns)}); "
                          "set efflux.rank_by to one of them")
    r = pd.to_numeric(de[rank_by], errors="coerce")
    n_nan = int(r.isna().sum())
    r = r.dropna()
    if n_nan:
        logger.info("GSEA ranking by %s: %d genes without a value (not tested) left out, %d ranked",
                    rank_by, n_nan, len(r))
    if len(r) < 2:
        raise RessigError(f"only {len(r)} gene(s) have a {rank_by!r} value; nothing to rank for GSEA")
    order = np.lexsort((r.index.to_numpy(dtype=str), -r.to_numpy()))
    r = r.iloc[order]
    r.index = r.index.astype(str)
    r.name = rank_by
    return r


def run_prerank(ranking: pd.Series, sets: Mapping[str, GeneSet], *, min_size: int = 5, max_size: int = 500,
                permutations: int = 1000, seed: int = 20261123) -> GseaResult:
    """gseapy prerank of ``ranking`` against ``sets`` (fixed seed, one thread: deterministic).

    Parameters
    ----------
    ranking
        Gene-level statistic, descending (see :func:`ranking_from_de`).
    sets
        Gene sets by name.
    min_size, max_size
        Sets with fewer / more genes in the ranking are not tested (status column says why).
    permutations
        Gene-set permutations of the null; the smallest reportable nominal p is ``1/permutations``
        (reported as 0).
    seed
        Random seed of the permutations.
    """
    import gseapy

    filt = size_filter(sets, ranking.index, min_size, max_size)
    kept = [n for n in filt.index if filt.at[n, "status"] == "kept"]
    table = pd.DataFrame(index=pd.Index(list(filt.index), name="set"), columns=GSEA_COLUMNS[1:], dtype=object)
    table["status"] = filt["status"].replace("kept", "tested")
    table["source"] = filt["source"]
    table["n_genes"] = filt["n_genes"]
    table["n_in_ranking"] = filt["n_found"]
    details: dict[str, dict] = {}
    if kept:
        logger.info("GSEA prerank: %d gene sets, %d genes ranked, %d permutations, seed %d", len(kept),
                    len(ranking), permutations, seed)
        gene_sets = {n: list(sets[n].genes) for n in kept}
        res = gseapy.prerank(rnk=ranking, gene_sets=gene_sets, min_size=min_size, max_size=max_size,
                             permutation_num=int(permutations), seed=int(seed), threads=1, no_plot=True,
                             outdir=None, verbose=False)
        for term, r in res.results.items():
            lead = [g for g in str(r["lead_genes"]).split(";") if g]
            table.loc[term, ["es", "nes", "pval", "fdr", "fwer"]] = [float(r["es"]), float(r["nes"]),
                                                                     float(r["pval"]), float(r["fdr"]),
                                                                     float(r["fwerp"])]
            table.loc[term, "leading_edge_size"] = len(lead)
            table.loc[term, "leading_edge"] = ";".join(lead)
            details[term] = {"hits": list(r["hits"]), "RES": np.asarray(r["RES"], dtype=float)}
        for term in kept:
            if term not in details:
                table.loc[term, "status"] = "dropped: filtered by gseapy"
                logger.warning("gene set %s was not returned by gseapy prerank", term)
    else:
        logger.warning("no gene set has between %d and %d genes in the ranking; GSEA not run", min_size, max_size)
    for c in ["es", "nes", "pval", "fdr", "fwer"]:
        table[c] = pd.to_numeric(table[c])
    table["leading_edge_size"] = pd.to_numeric(table["leading_edge_size"]).astype("Int64")
    table["leading_edge"] = table["leading_edge"].fillna("")
    tested = table["status"] == "tested"
    key = pd.DataFrame({"t": (~tested).astype(int), "fdr": table["fdr"].fillna(2.0), "p": table["pval"].fillna(2.0),
                        "nes": -table["nes"].abs().fillna(0.0), "name": table.index})
    table = table.loc[key.sort_values(["t", "fdr", "p", "nes", "name"]).index]
    n_sig = int((table["fdr"] < 0.05).sum())
    logger.info("GSEA done: %d tested, %d dropped, %d with FDR < 0.05", int(tested.sum()), int((~tested).sum()), n_sig)
    return GseaResult(table=table, ranking=ranking, details=details)


def score_samples(expression: pd.DataFrame, sets: Mapping[str, GeneSet], samples: pd.DataFrame | None = None,
                  condition: str = "condition") -> pd.DataFrame:
    """Single-sample scores of every set in every sample (long table, with the condition if given)."""
    scores = score_frame(expression, signatures_from_genesets(sets))
    if samples is not None and condition in samples.columns:
        scores.insert(2, condition, scores["sample"].map(samples[condition]).to_numpy())
    return scores


def condition_separation(scores: pd.DataFrame, condition: str, reference: str, treatment: str) -> pd.DataFrame:
    """Per set: mean score by condition, difference, and whether every treatment sample scores above
    every reference sample (``separated``)."""
    rows = []
    for name, d in scores.groupby("signature", sort=False):
        ref = d.loc[d[condition] == reference, "score"]
        trt = d.loc[d[condition] == treatment, "score"]
        rows.append({"set": name, f"mean_{reference}": ref.mean(), f"mean_{treatment}": trt.mean(),
                     "difference": trt.mean() - ref.mean(),
                     "separated": bool(len(ref) and len(trt) and trt.min() > ref.max())})
    return pd.DataFrame(rows).set_index("set")


# ----------------------------------------------------------------------------------------------
# the step


@atomic_group()  # every output of the step, or none
def run_efflux(
    de_path: str | Path,
    expression_path: str | Path,
    samples_path: str | Path,
    gmt_files: Sequence[str | Path],
    outdir: str | Path,
    *,
    condition: str = "condition",
    reference: str = "parental",
    treatment: str = "resistant",
    efflux_sets: Sequence[str] = DEFAULT_EFFLUX_SETS,
    rank_by: str = "stat",
    min_size: int = 5,
    max_size: int = 500,
    permutations: int = 1000,
    seed: int = 20261123,
    top_n: int = 5,
) -> dict[str, Path]:
    """Run the efflux step and write everything under ``outdir``.

    Writes ``scores.tsv`` (long: set × sample with condition), ``separation.tsv`` (per set: mean
    score per condition and whether the conditions separate), ``gsea.tsv`` (all sets, tested and
    dropped), ``scores.png``, ``gsea_nes.png`` and ``enrichment/<set>.png`` for the efflux sets
    and the ``top_n`` sets by FDR. If writing any of them fails, none is left behind.
    """
    from ._atomic import save_figure, write_table
    from .de import read_de
    from .io import read_matrix_tsv, read_sample_sheet

    outdir = Path(outdir)
    sets = read_gmts(gmt_files)
    unknown = [s for s in efflux_sets if s not in sets]
    if unknown:
        raise RessigError(f"efflux set(s) {', '.join(unknown)} (config efflux.sets) are not in the gene-set files "
                          f"{', '.join(map(str, gmt_files))}; available: {', '.join(list(sets)[:12])}")
    de = read_de(de_path)
    expression = read_matrix_tsv(expression_path, "normalised counts")
    samples = read_sample_sheet(samples_path)
    if condition not in samples.columns:
        raise RessigError(f"{samples_path}: sample sheet has no column {condition!r}")
    missing = [s for s in expression.columns if s not in samples.index]
    if missing:
        raise RessigError(f"{expression_path}: sample(s) {', '.join(missing)} are not in the sample sheet {samples_path}")

    sets = match_ensembl_ids(sets, expression.index.union(de.index))
    for name, row in coverage(sets, expression.index).iterrows():
        if row["n_found"] < row["n_genes"]:
            logger.info("gene set %s: %d of %d genes in the expression data", name, row["n_found"], row["n_genes"])
    scores = score_samples(expression, sets, samples, condition)
    sep = condition_separation(scores, condition, reference, treatment)
    for name in efflux_sets:
        logger.info("efflux set %s: mean score %s %.3f, %s %.3f; every %s sample above every %s sample: %s",
                    name, reference, sep.at[name, f"mean_{reference}"], treatment,
                    sep.at[name, f"mean_{treatment}"], treatment, reference, sep.at[name, "separated"])

    ranking = ranking_from_de(de, rank_by)
    gsea = run_prerank(ranking, sets, min_size=min_size, max_size=max_size, permutations=permutations, seed=seed)

    files = {
        "scores": write_table(scores, outdir / "scores.tsv", index=False),
        "separation": write_table(sep, outdir / "separation.tsv"),
        "gsea": write_table(gsea.table, outdir / "gsea.tsv"),
    }
    panel_sets = list(sets)
    if len(panel_sets) > MAX_SCORE_PANELS:
        ranked = [n for n in gsea.table.index if n not in efflux_sets]
        panel_sets = [*efflux_sets, *ranked][:MAX_SCORE_PANELS]
        logger.info("score plot shows %d of %d sets (efflux sets, then by GSEA FDR); all are in scores.tsv",
                    len(panel_sets), len(sets))
    levels = [lv for lv in (reference, treatment) if lv in set(samples[condition])]
    levels += sorted(set(samples[condition]) - set(levels))
    files["scores_plot"] = save_figure(plot_scores(scores, panel_sets, condition, levels), outdir / "scores.png")
    files["nes_plot"] = save_figure(plot_nes(gsea.table), outdir / "gsea_nes.png")
    tested = [n for n in gsea.table.index if gsea.table.at[n, "status"] == "tested"]
    plot_sets = list(dict.fromkeys([*efflux_sets, *tested[: max(0, int(top_n))]]))
    enrich_dir = outdir / "enrichment"
    enrich_dir.mkdir(parents=True, exist_ok=True)
    for name in plot_sets:
        fig = plot_enrichment(gsea, name, pheno_pos=treatment, pheno_neg=reference)
        files[f"enrichment:{name}"] = save_figure(fig, enrich_dir / f"{safe_name(name)}.png")
    logger.info("efflux step done: %d sets scored in %d samples, %d enrichment plots", len(sets),
                expression.shape[1], len(plot_sets))
    return files
