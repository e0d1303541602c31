"""Demo data with planted, documented effects: a GEN2.2-like parental vs PVEK-resistant experiment.

Counts are drawn from a negative binomial with a DESeq2-style mean–dispersion trend
``alpha(mu) = asymptote + extra_poisson / mu`` (log-normal scatter around it), per-sample size
factors and a small per-batch effect (one parental + one resistant library per batch).

Planted truth (written to ``truth.tsv``):

* ABCB1 strongly up (log2FC +4) — P-gp/MDR1-mediated efflux;
* other multidrug-efflux transporters moderately up (ABCG2, ABCC1, ABCC4, ABCC3, MVP);
* **IL3RA mRNA unchanged** (log2FC 0) while surface CD123 protein is ~4x lower (protein table);
* SLC46A3 down (lysosomal payload release), and ``n_background_de`` other genes up or down;
* every other named gene of interest is expressed but unchanged.

:func:`simulate_sanctuary` draws a multi-group variant from the same model (parental, resistant in
vitro and resistant cells recovered from xenograft spleen, bone marrow and CNS): the shared
resistance program in every arm, ABCB1 strongest in the CNS, IL3RA flat and CD123 protein down
everywhere (``resources/sanctuary/``, run by ``config/sanctuary.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._atomic import write_table
from ._log import logger

#: Planted log2 fold changes (resistant vs parental) of named genes.
PLANTED_NAMED: dict[str, float] = {
    "ABCB1": 4.0,
    "ABCG2": 2.0,
    "ABCC1": 1.5,
    "ABCC4": 1.4,
    "ABCC3": 1.3,
    "MVP": 1.2,
    "SLC46A3": -1.5,
}
#: Named genes kept unchanged (expressed, log2FC 0).
UNCHANGED_NAMED = ["IL3RA", "CSF2RB", "FUT8", "SLC35C1", "TCF4", "BCL2", "MCL1", "GAPDH", "ACTB"]
#: Parental mean expression (normalised counts) of key genes.
KEY_MEANS = {"ABCB1": 150.0, "IL3RA": 2500.0, "CSF2RB": 1800.0, "ABCG2": 200.0, "ABCC1": 900.0,
             "ABCC4": 400.0, "ABCC3": 300.0, "MVP": 600.0, "SLC46A3": 500.0, "TCF4": 3000.0,
             "GAPDH": 40000.0, "ACTB": 60000.0}
#: Protein (surface MFI) truth: parental median MFI and resistant/parental fold change.
PROTEIN_TRUTH = {"CD123": (12000.0, 0.25, 250.0), "P-gp": (400.0, 8.0, 150.0)}


@dataclass
class DemoData:
    """Simulated experiment: counts (genes × samples), sample sheet, protein table, truth."""

    counts: pd.DataFrame
    samples: pd.DataFrame
    protein: pd.DataFrame
    truth: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)


def _named_genes(genesets_dir: Path | None) -> list[str]:
    genes: list[str] = [*PLANTED_NAMED, *UNCHANGED_NAMED]
    if genesets_dir is not None:
        for gmt in sorted(Path(genesets_dir).glob("*.gmt")):
            for line in gmt.read_text().splitlines():
                genes.extend(g for g in line.split("\t")[2:] if g)
    return list(dict.fromkeys(genes))


def simulate_experiment(
    n_genes: int = 20000,
    n_per_group: int = 3,
    n_background_de: int = 300,
    seed: int = 20261123,
    genesets_dir: str | Path | None = None,
    asymptotic_dispersion: float = 0.02,
    extra_poisson: float = 1.0,
    log2fc_overrides: dict[str, float] | None = None,
    protein_sample_sd: float = 0.0,
) -> DemoData:
    """Simulate a parental vs resistant experiment with planted effects.

    Parameters
    ----------
    n_genes
        Total number of genes (named genes of interest + synthetic ``SIM#####`` genes).
    n_per_group
        Replicates per condition; replicate *i* of both conditions shares batch ``b<i>``.
    n_background_de
        Synthetic genes planted as DE (half up, half down, |log2FC| in [1, 3]).
    seed
        Seed of the random generator (same seed → identical data).
    genesets_dir
        Directory of ``.gmt`` files whose genes are included with real symbols.
    asymptotic_dispersion, extra_poisson
        Mean–dispersion trend ``alpha = asymptotic_dispersion + extra_poisson / mu``.
    log2fc_overrides
        Named gene → planted log2FC replacing the default (e.g. ``{"IL3RA": -2.0}`` for a test
        variant where the mRNA falls with the protein). ``None`` keeps the documented demo truth.
    protein_sample_sd
        Between-sample (biological) standard deviation of the natural-log protein signal, on top
        of the per-well technical noise. 0 (default) draws nothing extra, so the demo is unchanged.
    """
    rng = np.random.default_rng(seed)
    genes, named, mu, disp = _gene_universe(rng, n_genes, genesets_dir, n_background_de, asymptotic_dispersion,
                                            extra_poisson)
    lfc, category = _planted_lfc(rng, genes, named, mu, {**PLANTED_NAMED, **(log2fc_overrides or {})},
                                 n_background_de)

    conds = ["parental"] * n_per_group + ["resistant"] * n_per_group
    reps = [*range(1, n_per_group + 1)] * 2
    names = [f"GEN2.2-{'P' if c == 'parental' else 'R'}{r}" for c, r in zip(conds, reps, strict=True)]
    batches = [f"b{r}" for r in reps]
    lfcs = {"parental": np.zeros(n_genes), "resistant": lfc}
    counts_df = _draw_counts(rng, genes, mu, disp, [lfcs[c] for c in conds], names, batches)

    samples = pd.DataFrame({"sample": names, "condition": conds, "batch": batches,
                            "passage": [str(10 + 2 * r + (5 if c == "resistant" else 0)) for c, r in zip(conds, reps, strict=True)]})
    truth = pd.DataFrame({"gene_id": genes, "category": category, "log2FC_true": lfc,
                          "mean_parental": mu, "dispersion": disp}).set_index("gene_id")
    truth["de_true"] = truth["log2FC_true"] != 0

    folds = {m: {"parental": 1.0, "resistant": fold} for m, (_, fold, _) in PROTEIN_TRUTH.items()}
    protein = _protein_table(rng, names, conds, folds, protein_sample_sd)
    logger.info("simulated %d genes x %d samples, %d planted DE genes", n_genes, len(names), int(truth["de_true"].sum()))
    return DemoData(counts=counts_df, samples=samples, protein=protein, truth=truth)


def _gene_universe(rng: np.random.Generator, n_genes: int, genesets_dir: str | Path | None, n_planted: int,
                   asymptotic_dispersion: float, extra_poisson: float
                   ) -> tuple[pd.Index, list[str], np.ndarray, np.ndarray]:
    """Gene ids (named genes of interest, then ``SIM#####``), parental means and NB dispersions."""
    named = _named_genes(Path(genesets_dir) if genesets_dir else None)
    if n_genes < len(named) + n_planted:
        raise ValueError(f"n_genes must be >= {len(named) + n_planted}")
    synthetic = [f"SIM{i:05d}" for i in range(1, n_genes - len(named) + 1)]
    genes = pd.Index(named + synthetic, name="gene_id")

    mu = np.exp(rng.normal(3.6, 2.0, size=n_genes)).clip(0.05, 2e5)
    for i, g in enumerate(named):  # named genes: expressed at a moderate-to-high level
        mu[i] = KEY_MEANS.get(g, float(np.exp(rng.uniform(np.log(80), np.log(3000)))))
    disp = (asymptotic_dispersion + extra_poisson / mu) * np.exp(rng.normal(0, 0.35, size=n_genes))
    return genes, named, mu, disp


def _planted_lfc(rng: np.random.Generator, genes: pd.Index, named: list[str], mu: np.ndarray,
                 planted: dict[str, float], n_background_de: int) -> tuple[np.ndarray, np.ndarray]:
    """Planted log2FC of named genes (``planted``) and of ``n_background_de`` synthetic genes
    (expressed at >= 60, half up, half down, |log2FC| in [1, 3]); and each gene's category."""
    lfc = np.zeros(len(genes))
    category = np.array(["background"] * len(genes), dtype=object)
    category[: len(named)] = "named_unchanged"
    for g, v in planted.items():
        if g not in genes:
            raise ValueError(f"log2fc_overrides: unknown named gene {g!r}")
        i = genes.get_loc(g)
        if v == 0:
            continue
        lfc[i] = v
        category[i] = "planted_up" if v > 0 else "planted_down"
    eligible = np.flatnonzero((category == "background") & (mu >= 60))
    chosen = np.sort(rng.choice(eligible, size=n_background_de, replace=False))
    signs = np.where(np.arange(n_background_de) % 2 == 0, 1.0, -1.0)
    rng.shuffle(signs)
    lfc[chosen] = signs * rng.uniform(1.0, 3.0, size=n_background_de)
    category[chosen] = np.where(signs > 0, "planted_up", "planted_down")
    return lfc, category


def _draw_counts(rng: np.random.Generator, genes: pd.Index, mu: np.ndarray, disp: np.ndarray,
                 lfcs: list[np.ndarray], names: list[str], batches: list[str]) -> pd.DataFrame:
    """Negative binomial counts: sample *j* has mean ``mu * 2**lfcs[j]`` × its size factor (log-normal,
    sd 0.2) × its batch's per-gene effect (log-normal, sd 0.15)."""
    size_factors = np.exp(rng.normal(0, 0.2, size=len(names)))
    batch_effect = {b: rng.normal(0, 0.15, size=len(genes)) for b in sorted(set(batches))}
    counts = np.empty((len(genes), len(names)), dtype=np.int64)
    n = 1.0 / disp
    for j, (lfc, b) in enumerate(zip(lfcs, batches, strict=True)):
        m = mu * size_factors[j] * np.exp(batch_effect[b]) * 2.0 ** lfc
        counts[:, j] = rng.negative_binomial(n, n / (n + m))
    return pd.DataFrame(counts, index=genes, columns=names)


def _protein_table(rng: np.random.Generator, names: list[str], conds: list[str],
                   folds: dict[str, dict[str, float]], sample_sd: float = 0.0) -> pd.DataFrame:
    """Surface MFI, two wells per sample and marker: :data:`PROTEIN_TRUTH` parental MFI × the
    condition's fold (``folds[marker][condition]``) × log-normal noise, plus the isotype background."""
    rows = []
    for marker, (mfi, _, isotype) in PROTEIN_TRUTH.items():
        for s, c in zip(names, conds, strict=True):
            sample_effect = float(np.exp(rng.normal(0, sample_sd))) if sample_sd > 0 else 1.0
            for rep in (1, 2):
                value = mfi * sample_effect * folds[marker][c] * float(np.exp(rng.normal(0, 0.08)))
                rows.append({"sample": s, "marker": marker, "value": round(value + isotype, 1),
                             "isotype": round(isotype * float(np.exp(rng.normal(0, 0.05))), 1), "replicate": rep})
    return pd.DataFrame(rows)


#: Sanctuary-site demo arms: condition level -> (scale of the shared resistance program, planted
#: ABCB1 log2FC). Every arm is resistant to PVEK; P-gp/ABCB1 is highest in cells recovered from the
#: CNS (behind the blood-brain barrier), IL3RA mRNA is flat and CD123 protein ~4x lower in every arm.
SANCTUARY_ARMS: dict[str, tuple[float, float]] = {
    "resistant": (1.0, 3.0),
    "resistant_spleen": (0.8, 3.0),
    "resistant_bm": (0.9, 3.5),
    "resistant_cns": (1.0, 5.0),
}
#: Sample-name prefix of each sanctuary condition.
SANCTUARY_PREFIX = {"parental": "P", "resistant": "R", "resistant_spleen": "SPL", "resistant_bm": "BM",
                    "resistant_cns": "CNS"}


def simulate_sanctuary(
    n_genes: int = 3000,
    n_per_group: int = 3,
    n_background_de: int = 150,
    n_site_de: int = 30,
    seed: int = 20261204,
    genesets_dir: str | Path | None = None,
    arms: dict[str, tuple[float, float]] | None = None,
    asymptotic_dispersion: float = 0.02,
    extra_poisson: float = 1.0,
) -> DemoData:
    """Simulate parental cells and several resistant arms (in vitro and xenograft sanctuary sites).

    Same gene universe, means, dispersions and count model as :func:`simulate_experiment`. Each arm
    of ``arms`` (default :data:`SANCTUARY_ARMS`: in vitro, spleen, bone marrow, CNS) carries the
    shared resistance program — the named efflux/lysosome genes of :data:`PLANTED_NAMED` and
    ``n_background_de`` synthetic genes — scaled by the arm's factor, ABCB1 at the arm's own log2FC,
    IL3RA unchanged, and ``n_site_de`` further genes of its own (half up, half down, |log2FC| in
    [1, 2]). Replicate *i* of every condition shares batch ``b<i>`` (for the in vivo arms: mouse *i*,
    whose spleen, bone marrow and CNS cells are sequenced together with culture *i*).

    Returns
    -------
    DemoData
        ``truth`` holds ``log2FC_<arm>`` per arm, ``category`` (``shared_up/down``,
        ``<arm>_up/down``, ``named_unchanged``, ``background``), ``mean_parental``, ``dispersion``
        and ``de_true`` (DE in any arm); ``protein`` holds CD123 (0.25x in every arm) and P-gp
        (``2 ** (0.75 * ABCB1 log2FC)``) MFI, two wells per sample.
    """
    arms = SANCTUARY_ARMS if arms is None else arms
    rng = np.random.default_rng(seed)
    n_specific = n_site_de * len(arms)
    genes, named, mu, disp = _gene_universe(rng, n_genes, genesets_dir, n_background_de + n_specific,
                                            asymptotic_dispersion, extra_poisson)
    shared, category = _planted_lfc(rng, genes, named, mu, {**PLANTED_NAMED, "ABCB1": 0.0}, n_background_de)
    category = np.where(category == "planted_up", "shared_up", np.where(category == "planted_down", "shared_down",
                                                                         category)).astype(object)
    free = rng.permutation(np.flatnonzero((category == "background") & (mu >= 60)))
    abcb1 = genes.get_loc("ABCB1")
    lfcs = {"parental": np.zeros(n_genes)}
    for k, (arm, (scale, abcb1_lfc)) in enumerate(arms.items()):
        lfc = scale * shared
        lfc[abcb1] = abcb1_lfc
        own = np.sort(free[k * n_site_de:(k + 1) * n_site_de])
        signs = np.where(np.arange(n_site_de) % 2 == 0, 1.0, -1.0)
        lfc[own] = signs * rng.uniform(1.0, 2.0, size=n_site_de)
        category[own] = np.where(signs > 0, f"{arm}_up", f"{arm}_down")
        lfcs[arm] = lfc
    category[abcb1] = "shared_up"

    conds = [c for c in lfcs for _ in range(n_per_group)]
    reps = [*range(1, n_per_group + 1)] * len(lfcs)
    names = [f"GEN2.2-{SANCTUARY_PREFIX.get(c, c)}{r}" for c, r in zip(conds, reps, strict=True)]
    batches = [f"b{r}" for r in reps]
    counts = _draw_counts(rng, genes, mu, disp, [lfcs[c] for c in conds], names, batches)
    samples = pd.DataFrame({"sample": names, "condition": conds, "batch": batches})
    truth = pd.DataFrame({"gene_id": genes, "category": category,
                          **{f"log2FC_{arm}": lfcs[arm] for arm in arms},
                          "mean_parental": mu, "dispersion": disp}).set_index("gene_id")
    truth["de_true"] = (truth[[f"log2FC_{arm}" for arm in arms]] != 0).any(axis=1)
    folds = {"CD123": {"parental": 1.0, **{arm: PROTEIN_TRUTH["CD123"][1] for arm in arms}},
             "P-gp": {"parental": 1.0, **{arm: float(2.0 ** (0.75 * a)) for arm, (_, a) in arms.items()}}}
    protein = _protein_table(rng, names, conds, folds)
    logger.info("simulated %d genes x %d samples in %d conditions, %d planted DE genes", n_genes, len(names),
                len(lfcs), int(truth["de_true"].sum()))
    return DemoData(counts=counts, samples=samples, protein=protein, truth=truth)


def write_demo(data: DemoData, outdir: str | Path) -> dict[str, Path]:
    """Write ``counts.tsv``, ``samples.tsv``, ``protein.tsv`` and ``truth.tsv`` atomically (either design)."""
    outdir = Path(outdir)
    files = {
        "counts": write_table(data.counts, outdir / "counts.tsv"),
        "samples": write_table(data.samples, outdir / "samples.tsv", index=False),
        "protein": write_table(data.protein, outdir / "protein.tsv", index=False),
        "truth": write_table(data.truth, outdir / "truth.tsv"),
    }
    data.files = files
    return files


# ---------------------------------------------------------------------------------------------
# Demo patient cohorts (scored with the frozen signature; new functions, the experiment above is
# unchanged)
# ---------------------------------------------------------------------------------------------

#: How the demo cohorts name some genes, to exercise id mapping (versioned Ensembl ids, aliases).
COHORT_ID_RENAMES = {"ABCB1": "ENSG00000085563.15", "SLC46A3": "ENSG00000139508.14", "IL3RA": "CD123",
                     "ABCG2": "BCRP", "ABCC1": "MRP1"}


def _cohort_profile(truth: pd.DataFrame, rng: np.random.Generator, resistant: bool, strength: float,
                    patient_sd: float) -> np.ndarray:
    """Expected expression of one patient: parental means × patient variation × resistance program."""
    mu = truth["mean_parental"].to_numpy(dtype=float)
    lfc = truth["log2FC_true"].to_numpy(dtype=float)
    prof = mu * np.exp(rng.normal(0.0, patient_sd, size=mu.size))
    if resistant:
        prof = prof * 2.0 ** (strength * lfc)
    return prof


def simulate_patient_cohort(
    truth: pd.DataFrame,
    n_patients: int = 40,
    n_resistant: int = 12,
    seed: int = 20261124,
    patient_sd: float = 0.5,
    rename: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate a bulk RNA-seq patient cohort, some patients resistant-like.

    Every patient starts from the parental means of ``truth`` (the demo experiment's truth
    table) with patient-to-patient variation (log-normal, sd ``patient_sd`` per gene — far more
    than between cell-line replicates). ``n_resistant`` randomly chosen patients also carry the
    planted resistance program (ABCB1/efflux up, SLC46A3 down, the background DE genes) at a
    patient-specific strength drawn from U(0.4, 1.0). Counts are negative binomial (the truth
    dispersions + 0.05) with library sizes varying ±30%.

    Returns
    -------
    (counts, labels)
        Genes × patients integer counts, gene ids renamed by ``rename`` (default
        :data:`COHORT_ID_RENAMES`: versioned Ensembl ids and aliases); and a table ``sample,
        resistant_like, strength``.
    """
    rng = np.random.default_rng(seed)
    names = [f"PT{i:03d}" for i in range(1, n_patients + 1)]
    is_res = np.zeros(n_patients, dtype=bool)
    is_res[rng.choice(n_patients, size=n_resistant, replace=False)] = True
    strength = np.where(is_res, rng.uniform(0.4, 1.0, size=n_patients), 0.0)
    disp = truth["dispersion"].to_numpy(dtype=float) + 0.05
    n = 1.0 / disp
    counts = np.empty((len(truth), n_patients), dtype=np.int64)
    for j in range(n_patients):
        m = _cohort_profile(truth, rng, bool(is_res[j]), float(strength[j]), patient_sd)
        m = m * float(np.exp(rng.uniform(np.log(0.7), np.log(1.3))))
        counts[:, j] = rng.negative_binomial(n, n / (n + m))
    ren = COHORT_ID_RENAMES if rename is None else rename
    genes = pd.Index([ren.get(g, g) for g in truth.index.astype(str)], name="gene_id")
    labels = pd.DataFrame({"sample": names, "resistant_like": is_res, "strength": np.round(strength, 4)})
    logger.info("simulated a bulk cohort of %d patients (%d resistant-like)", n_patients, n_resistant)
    return pd.DataFrame(counts, index=genes, columns=names), labels


def simulate_sc_cohort(
    truth: pd.DataFrame,
    n_patients: int = 6,
    n_resistant: int = 3,
    cells_per_patient: int = 300,
    umis_per_cell: float = 2500.0,
    resistant_fraction: float = 0.8,
    seed: int = 20261125,
    patient_sd: float = 0.4,
    rename: dict[str, str] | None = None,
):
    """Simulate a small single-cell cohort as a sparse (CSR) AnnData object.

    Each patient has a bulk-like profile as in :func:`simulate_patient_cohort`; in resistant-like
    patients a fraction ``resistant_fraction`` of the cells carries the full resistance program.
    Each cell's UMI counts are Poisson around its profile scaled to a log-normal library size
    (median ``umis_per_cell``) with gamma cell-to-cell noise (shape 5).

    Returns
    -------
    anndata.AnnData
        Cells × genes ``float32`` CSR counts; ``obs`` has ``patient``, ``resistant_like``
        (patient level) and ``cell_resistant`` (cell level); ids renamed as in the bulk cohort
        (aliases CD123, MDR1 as symbols here: ``ABCB1`` → ``MDR1``).
    """
    import anndata as ad
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    patients = [f"SC{i:02d}" for i in range(1, n_patients + 1)]
    is_res = np.zeros(n_patients, dtype=bool)
    is_res[rng.choice(n_patients, size=n_resistant, replace=False)] = True
    blocks, obs_rows = [], []
    for j, p in enumerate(patients):
        base = _cohort_profile(truth, rng, False, 0.0, patient_sd)
        lfc = truth["log2FC_true"].to_numpy(dtype=float)
        res_cell = is_res[j] & (rng.random(cells_per_patient) < resistant_fraction)
        lib = umis_per_cell * np.exp(rng.normal(0, 0.3, size=cells_per_patient))
        for c in range(cells_per_patient):
            prof = base * (2.0 ** lfc if res_cell[c] else 1.0)
            prof = prof / prof.sum() * lib[c] * rng.gamma(5.0, 1 / 5.0, size=prof.size)
            blocks.append(sp.csr_matrix(rng.poisson(prof).astype(np.float32).reshape(1, -1)))
            obs_rows.append({"patient": p, "resistant_like": bool(is_res[j]), "cell_resistant": bool(res_cell[c])})
    X = sp.vstack(blocks, format="csr")
    ren = {"ABCB1": "MDR1", "IL3RA": "CD123", "SLC46A3": "ENSG00000139508"} if rename is None else rename
    var = pd.DataFrame(index=pd.Index([ren.get(g, g) for g in truth.index.astype(str)], name="gene_id"))
    obs = pd.DataFrame(obs_rows, index=pd.Index([f"cell{i:05d}" for i in range(len(obs_rows))], name="cell"))
    obs["patient"] = obs["patient"].astype("category")
    logger.info("simulated %d cells from %d patients (%d resistant-like), %d stored values", X.shape[0],
                n_patients, n_resistant, X.nnz)
    return ad.AnnData(X=X, obs=obs, var=var)


def write_demo_cohorts(truth_path: str | Path, outdir: str | Path, seed: int = 20261124) -> dict[str, Path]:
    """Write the demo cohorts: ``demo_bulk.tsv`` (+ ``demo_bulk_truth.tsv``) and ``demo_sc.h5ad``
    (+ ``demo_sc_truth.tsv``) from the demo experiment's truth table."""
    from ._atomic import atomic_path

    outdir = Path(outdir)
    truth = pd.read_csv(truth_path, sep="\t", index_col=0)
    counts, labels = simulate_patient_cohort(truth, seed=seed)
    adata = simulate_sc_cohort(truth, seed=seed + 1)
    files = {
        "bulk": write_table(counts, outdir / "demo_bulk.tsv"),
        "bulk_truth": write_table(labels, outdir / "demo_bulk_truth.tsv", index=False),
        "sc_truth": write_table(adata.obs.reset_index(), outdir / "demo_sc_truth.tsv", index=False),
    }
    with atomic_path(outdir / "demo_sc.h5ad") as tmp:
        adata.write_h5ad(tmp, compression="gzip")
    files["sc"] = outdir / "demo_sc.h5ad"
    return files


# ---------------------------------------------------------------------------------------------
# Demo functional assays (own seeds; the experiment above is unchanged)
# ---------------------------------------------------------------------------------------------

#: Planted viability curves (condition, inhibitor) -> IC50 (nM) of the ADC: 40x resistance,
#: reversed 20x by zosuquidar in resistant cells; zosuquidar does not shift parental cells.
PLATE_TRUTH: dict[tuple[str, str], float] = {
    ("parental", "none"): 0.1,
    ("parental", "zosuquidar"): 0.1,
    ("resistant", "none"): 4.0,
    ("resistant", "zosuquidar"): 0.2,
}
PLATE_HILL, PLATE_TOP, PLATE_BOTTOM = 1.2, 1.0, 0.05
#: Nine doses (nM), 4-fold dilutions bracketing every planted IC50 by >= 1.5 decades.
PLATE_DOSES = tuple(round(0.002 * 4.0 ** k, 6) for k in range(9))
#: Dye retention truth: (condition, inhibitor) -> rhodamine 123 MFI.
DYE_TRUTH = {("parental", "none"): 6000.0, ("parental", "zosuquidar"): 6600.0,
             ("resistant", "none"): 900.0, ("resistant", "zosuquidar"): 5400.0}


def _culture(condition: str, r: int) -> str:
    """Name of culture ``r`` of a condition in the simulated plate and dye assays: ``GEN2.2-P<r>``
    (parental), ``GEN2.2-R<r>`` (resistant), ``GEN2.2-<condition>-<r>`` for further arms."""
    return {"parental": f"GEN2.2-P{r}", "resistant": f"GEN2.2-R{r}"}.get(condition, f"GEN2.2-{condition}-{r}")


def simulate_plate(seed: int = 20261126, noise: float = 0.05, n_replicates: int = 3,
                   truth: dict[tuple[str, str], float] | None = None, drug: str = "PVEK",
                   doses: tuple[float, ...] = PLATE_DOSES, hill: float = PLATE_HILL, raw: bool = True,
                   noise_model: str = "additive") -> pd.DataFrame:
    """Simulate a viability plate: 4PL curves per (condition, inhibitor) with known IC50s.

    Each replicate *r* is a culture ``GEN2.2-P<r>``/``GEN2.2-R<r>`` (``GEN2.2-<condition>-<r>`` for
    further arms, e.g. ``resistant_cns``) with one well per dose and
    three untreated (concentration 0) wells per inhibitor. Viability fractions get additive
    Gaussian noise of sd ``noise`` (fraction of the untreated signal) or, with ``noise_model
    "multiplicative"``, ``fraction · (1 + ε)`` with ε of sd ``noise`` (a CV). With ``raw`` (demo) the
    plate holds luminescence: ``blank + (untreated − blank) · fraction`` (untreated 50000,
    blank 500, plus three blank wells; a luminometer reads >= 0, so clipped at 0); otherwise ``response`` is the noisy fraction itself.
    """
    if noise_model not in ("additive", "multiplicative"):
        raise ValueError(f"noise_model must be 'additive' or 'multiplicative', not {noise_model!r}")
    rng = np.random.default_rng(seed)
    truth = PLATE_TRUTH if truth is None else truth
    untreated, blank = 50000.0, 500.0
    rows = []
    for (cond, inh), ic50 in truth.items():
        for r in range(1, n_replicates + 1):
            sample = _culture(cond, r)
            for j, x in enumerate((0.0, 0.0, 0.0, *doses)):
                frac = PLATE_BOTTOM + (PLATE_TOP - PLATE_BOTTOM) / (1.0 + (x / ic50) ** hill) if x > 0 else 1.0
                e = float(rng.normal(0.0, noise))
                y = frac * (1.0 + e) if noise_model == "multiplicative" else frac + e
                rows.append({"sample": sample, "condition": cond, "drug": drug, "inhibitor": inh,
                             "concentration": x, "replicate": j + 1 if x == 0 else 1,
                             "response": round(max(blank + (untreated - blank) * y, 0.0), 1) if raw
                             else round(y, 5)})
    plate = pd.DataFrame(rows)
    if raw:
        blanks = pd.DataFrame({"sample": "blank", "condition": "", "drug": "", "inhibitor": "", "concentration": 0.0,
                               "replicate": [1, 2, 3], "response": np.round(blank + rng.normal(0, 50, 3), 1)})
        plate = pd.concat([plate.assign(type="treated"), blanks.assign(type="blank")], ignore_index=True)
    return plate


def simulate_dye(seed: int = 20261127, n_per_group: int = 3, wells: int = 2, sample_sd: float = 0.15,
                 well_sd: float = 0.08) -> pd.DataFrame:
    """Simulate a rhodamine 123 retention assay (MFI ± zosuquidar, :data:`DYE_TRUTH`), log-normal noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for cond in ("parental", "resistant"):
        for r in range(1, n_per_group + 1):
            sample = _culture(cond, r)
            culture = float(rng.normal(0.0, sample_sd))
            for inh in ("none", "zosuquidar"):
                for w in range(1, wells + 1):
                    v = DYE_TRUTH[(cond, inh)] * np.exp(culture + rng.normal(0.0, well_sd))
                    rows.append({"sample": sample, "condition": cond, "inhibitor": inh, "value": round(float(v), 1),
                                 "replicate": w})
    return pd.DataFrame(rows)


def write_functional_demo(outdir: str | Path) -> dict[str, Path]:
    """Write the demo ``plate.tsv`` (raw luminescence) and ``dye.tsv`` with their default seeds."""
    outdir = Path(outdir)
    return {"plate": write_table(simulate_plate(), outdir / "plate.tsv", index=False),
            "dye": write_table(simulate_dye(), outdir / "dye.tsv", index=False)}
