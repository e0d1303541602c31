"""Small result directories for the summary tests, written from tables planted here.

Shared by tests/test_summary.py (collectors, verdicts, HTML) and tests/test_summary_browser.py
(the same page in headless Chromium).
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

#: names with HTML metacharacters: the page must show them as text, never as markup
EVIL_SAMPLE = 'S<3>&"x"'
EVIL_GENE = "<script>alert(1)</script>"


def png(path: Path, colour: tuple[int, int, int] = (200, 30, 30), size: int = 8) -> Path:
    """Write a small, valid, single-colour RGB PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    row = b"\x00" + bytes(colour) * size
    raw = zlib.compress(row * size)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return path


def tsv(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep="\t", index=False)
    return path


def full_config() -> dict:
    """A config with every optional step on (contrast t_vs_r, cohort c1)."""
    return {
        "design": {"condition": "condition", "reference": "r", "treatment": "t"},
        "de": {"alpha": 0.05, "label_genes": ["ABCB1", "IL3RA"]},
        "concordance": {"protein": "protein.tsv"},
        "functional": {"plate": "plate.tsv", "dye": "dye.tsv"},
        "efflux": {"sets": ["EFFLUX_CORE"]},
        "signature": {"name": "SIG1", "min_abs_lfc": 1.0},
        "cohorts": {"c1": {"path": "c1.tsv", "kind": "bulk"}},
        "outcome": {"c1": {"clinical": "clin.tsv"}},
    }


def write_results(root: Path) -> Path:
    """A results directory with every finding planted; returns it."""
    res = root / "results"
    tsv(pd.DataFrame({
        "sample": ["A1", "A2", EVIL_SAMPLE, "B1", "B2", "B3"],
        "condition": ["r", "r", "r", "t", "t", "t"],
        "library_size": [1e6] * 6, "detected_genes": [900] * 6,
        "PC1": [-5.0, -4.0, -6.0, 4.0, 5.0, 6.0], "PC2": [0.0] * 6,
        "median_correlation": [0.9] * 6, "outlier": [False, False, True, False, False, False],
    }), res / "qc/qc.tsv")
    png(res / "qc/pca.png")
    # DE: 5 up (padj < 0.05, two of them |log2FC| >= 1), 3 down, 4 not significant
    genes = ["ABCB1", "IL3RA", "G1", "G2", "G3", "G4", "D1", "D2", EVIL_GENE, "N1", "N2", "N3"]
    lfc = [4.0, -0.2, 2.0, 0.5, 0.3, 0.4, -1.5, -0.6, -0.7, 0.1, -0.1, 2.5]
    padj = [1e-70, 0.9, 1e-5, 0.01, 0.02, 0.04, 1e-4, 0.03, 0.001, 0.5, 0.6, 0.2]
    tsv(pd.DataFrame({"gene_id": genes, "baseMean": 100.0, "log2FoldChange": lfc, "lfcSE": 0.2,
                      "stat": np.array(lfc) / 0.2, "pvalue": np.array(padj) / 2, "padj": padj,
                      "log2FoldChange_shrunk": lfc, "lfcSE_shrunk": 0.2, "tested": True}),
        res / "de/t_vs_r.tsv")
    png(res / "de/plots/t_vs_r_volcano.png", (30, 30, 200))
    png(res / "de/plots/t_vs_r_ma.png", (30, 200, 30))
    tsv(pd.DataFrame({
        "marker": ["CD123", "P-gp"], "gene": ["IL3RA", "ABCB1"],
        "call": ["post-transcriptional loss", "concordant gain"], "reason": ["mRNA equivalent", "both up"],
        "mrna_log2fc": [-0.16, 4.07], "mrna_ci_low": [-0.48, 3.63], "mrna_ci_high": [0.16, 4.51],
        "protein_log2fc": [-2.02, 2.99], "protein_ci_low": [-2.17, 2.81], "protein_ci_high": [-1.86, 3.16],
        "delta_log2fc": [-1.86, -1.09], "delta_ci_low": [-2.18, -1.53], "delta_ci_high": [-1.53, -0.64],
        "delta_p": [0.0, 2e-6], "delta_state": ["different", "different"],
    }), res / "concordance/concordance.tsv")
    tsv(pd.DataFrame({
        "set": ["EFFLUX_CORE", "OTHER"], "status": ["tested", "tested"], "n_in_ranking": [6, 20],
        "nes": [2.003, -0.5], "pval": [0.0, 0.8], "fdr": [0.0016, 0.9], "leading_edge_size": [2, 3],
        "leading_edge": ["ABCB1;ABCG2", "X;Y;Z"],
    }), res / "efflux/gsea.tsv")
    png(res / "efflux/gsea_nes.png")
    tsv(pd.DataFrame({
        "effect": ["fold_resistance", "reversal", "reversal"], "drug": "PVEK",
        "condition": ["t / r", "r", "t"], "inhibitor": ["none", "zosuquidar", "zosuquidar"],
        "numerator": ["t", "none", "none"], "denominator": ["r", "+ zosuquidar", "+ zosuquidar"],
        "fold": [43.29, 0.895, 19.64], "ci_low": [33.39, 0.69, 15.19], "ci_high": [56.14, 1.16, 25.38],
        "p": [0.0, 0.4, 1e-40], "note": [np.nan] * 3,
    }), res / "functional/shift.tsv")
    tsv(pd.DataFrame({
        "comparison": ["retention ratio (+ inhibitor / - inhibitor)", "ratio of retention ratios (linear model)"],
        "condition": ["t", "t / r"], "inhibitor": "zosuquidar", "retention_ratio": [6.19, 5.72],
        "ci_low": [5.58, 5.23], "ci_high": [6.85, 6.24], "p": [1.7e-4, 6.6e-7], "n_samples": [3, 6],
    }), res / "functional/dye.tsv")
    png(res / "functional/curves.png")
    art = {"name": "SIG1", "version": "2.1.0", "created": "2026-01-01T00:00:00Z", "ressig_version": "0.1.0",
           "genes": {"up": [{"gene": "ABCB1", "weight": 4.0}, {"gene": "G1", "weight": 2.0}],
                     "down": [{"gene": "D1", "weight": -1.5}]},
           "checksum": {"algorithm": "sha256", "value": "ab" * 32},
           "derivation": {"selection": "padj <= 0.05"}}
    (res / "signature").mkdir(parents=True)
    (res / "signature/SIG1.ressig.json").write_text(json.dumps(art))
    tsv(pd.DataFrame({"signature": "SIG1", "sample": ["P1", "P2", "P3", "P4"], "score": [0.3, 0.0, -0.1, 0.25],
                      "call": ["high", "ns", "low", "high"]}), res / "scores/c1/scores.tsv")
    tsv(pd.DataFrame({"signature": ["SIG1"], "n_genes": [3], "n_found": [2], "coverage": [2 / 3],
                      "min_coverage": [0.5]}), res / "scores/c1/coverage.tsv")
    png(res / "scores/c1/score_distribution.png")
    tsv(pd.DataFrame({"signature": ["SIG1"], "n": [40], "events": [22], "covariates": ["age"],
                      "hr_per_sd": [1.8], "hr_ci_low": [1.2], "hr_ci_high": [2.6], "p_wald": [0.003],
                      "p_lrt": [0.002], "concordance": [0.66], "logrank_chisq": [7.1], "logrank_p": [0.008],
                      "ph_p": [0.4], "qvalue": [0.006]}), res / "outcome/c1/survival.tsv")
    tsv(pd.DataFrame({"signature": ["SIG1"], "response": ["CR"], "positive": ["yes"], "n": [40],
                      "n_positive": [15], "odds_ratio_per_sd": [0.4], "or_ci_low": [0.2], "or_ci_high": [0.8],
                      "p": [0.01], "auc": [0.72], "auc_ci_low": [0.55], "auc_ci_high": [0.89],
                      "qvalue": [0.02]}), res / "outcome/c1/response.tsv")
    png(res / "outcome/c1/km.png")
    return res
