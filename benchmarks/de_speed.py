#!/usr/bin/env python3
"""DE speed: ``ressig de`` (engine ``ressig`` and ``pydeseq2``) next to R DESeq2, same analysis.

Each run is a fresh process (the whole command: start-up, reading, fitting, writing), timed with
its own wall clock and peak RSS (``wait4`` resource usage of that child). The analysis is the
same on every side: design ``~ batch + condition``, pre-filter >= 10 reads in >= the smaller
group, Wald test, LFC shrinkage, blind VST, all tables written.

Shrinkage differs in kind: ressig/pydeseq2 shrink with an apeGLM-style Cauchy prior; R DESeq2 is
run with ``lfcShrink(type = "normal")`` because Debian ships no ``apeglm`` (normal shrinkage is
the cheaper of the two, so R is not disadvantaged).

R is used when ``Rscript`` with DESeq2 is on PATH (Debian/Ubuntu: ``apt-get install r-bioc-deseq2``;
conda: ``bioconductor-deseq2``); otherwise its column says "not installed".

Usage::

    python benchmarks/de_speed.py                          # demo, 48 and 200 samples x 20,000 genes
    python benchmarks/de_speed.py --sizes demo 48 --threads 2 --repeats 1

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]

R_SCRIPT = r"""
suppressPackageStartupMessages(library(DESeq2))
args <- commandArgs(trailingOnly = TRUE)
counts <- as.matrix(read.delim(args[1], row.names = 1, check.names = FALSE))
samples <- read.delim(args[2], check.names = FALSE)
coldata <- data.frame(row.names = samples$sample,
                      batch = factor(samples$batch),
                      condition = factor(samples$condition, levels = c("parental", "resistant")))
counts <- counts[, rownames(coldata)]
keep <- rowSums(counts >= 10) >= min(table(coldata$condition))
dds <- DESeqDataSetFromMatrix(counts[keep, ], coldata, ~ batch + condition)
dds <- DESeq(dds, quiet = TRUE)
res <- results(dds, contrast = c("condition", "resistant", "parental"), alpha = 0.05)
shr <- lfcShrink(dds, coef = "condition_resistant_vs_parental", type = "normal", quiet = TRUE)
res$log2FoldChange_shrunk <- shr$log2FoldChange
vsd <- vst(dds, blind = TRUE)
write.table(as.data.frame(res), file.path(args[3], "de.tsv"), sep = "\t", quote = FALSE)
write.table(counts(dds, normalized = TRUE), file.path(args[3], "normalized_counts.tsv"), sep = "\t", quote = FALSE)
write.table(assay(vsd), file.path(args[3], "vst.tsv"), sep = "\t", quote = FALSE)
"""


def synthetic(n_samples: int, n_genes: int, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """NB counts with a DESeq2-like mean/dispersion relation, two conditions, two batches, 5% DE genes."""
    rng = np.random.default_rng(seed)
    names = [f"S{i:03d}" for i in range(n_samples)]
    condition = np.where(np.arange(n_samples) < n_samples // 2, "parental", "resistant")
    batch = np.tile(["b1", "b2"], n_samples // 2 + 1)[:n_samples]
    base = rng.lognormal(4.0, 2.0, n_genes)
    disp = 0.02 + 2.0 / base
    lfc = np.where(rng.random(n_genes) < 0.05, rng.normal(0, 1.5, n_genes), 0.0)
    sf = rng.uniform(0.6, 1.6, n_samples)
    mu = base[:, None] * sf[None, :] * 2.0 ** (lfc[:, None] * (condition == "resistant")[None, :]) \
        * np.where(batch == "b2", 1.2, 1.0)[None, :]
    counts = rng.negative_binomial(1.0 / disp[:, None], 1.0 / (1.0 + mu * disp[:, None]))
    table = pd.DataFrame(counts, index=pd.Index([f"G{i:05d}" for i in range(n_genes)], name="gene_id"),
                         columns=names)
    sheet = pd.DataFrame({"sample": names, "condition": condition, "batch": batch})
    return table, sheet


def demo() -> tuple[pd.DataFrame, pd.DataFrame]:
    counts = pd.read_csv(REPO / "resources/demo/counts.tsv", sep="\t", index_col=0)
    sheet = pd.read_csv(REPO / "config/samples.tsv", sep="\t")
    return counts, sheet[["sample", "condition", "batch"]]


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process; raises on failure."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024.0


def have_r() -> bool:
    if not shutil.which("Rscript"):
        return False
    return subprocess.run(["Rscript", "-e", "suppressPackageStartupMessages(library(DESeq2))"],
                          capture_output=True).returncode == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["demo", "48", "200"],
                    help="'demo' and/or sample counts of synthetic data sets")
    ap.add_argument("--genes", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=2, help="threads for ressig de")
    ap.add_argument("--repeats", type=int, default=1, help="runs per cell; the fastest is reported")
    ap.add_argument("--engines", nargs="+", default=["ressig", "pydeseq2"])
    ap.add_argument("--skip-r", action="store_true")
    args = ap.parse_args()
    use_r = not args.skip_r and have_r()
    ressig = shutil.which("ressig") or sys.exit("ressig is not on PATH (pip install the package first)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "de.R").write_text(R_SCRIPT)
        for size in args.sizes:
            counts, sheet = demo() if size == "demo" else synthetic(int(size), args.genes)
            label = f"{'demo' if size == 'demo' else 'synthetic'} {counts.shape[1]} x {counts.shape[0]:,}"
            cpath, spath = tmp / f"{size}_counts.tsv", tmp / f"{size}_samples.tsv"
            counts.to_csv(cpath, sep="\t")
            sheet.to_csv(spath, sep="\t", index=False)
            row = {"data": label}
            for engine in args.engines:
                cmd = [ressig, "de", "--counts", str(cpath), "--samples", str(spath), "--covariates", "batch",
                       "--engine", engine, "--threads", str(args.threads), "--outdir", str(tmp / f"out_{engine}")]
                best = min((timed(cmd) for _ in range(args.repeats)), key=lambda t: t[0])
                row[f"ressig de --engine {engine}"] = best
                print(f"{label}: {engine} {best[0]:.1f} s, {best[1]:.0f} MiB", flush=True)
            if use_r:
                (tmp / "out_r").mkdir(exist_ok=True)
                env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
                best = min((timed(["Rscript", str(tmp / "de.R"), str(cpath), str(spath), str(tmp / "out_r")], env)
                            for _ in range(args.repeats)), key=lambda t: t[0])
                row["R DESeq2 (1 core)"] = best
                print(f"{label}: R {best[0]:.1f} s, {best[1]:.0f} MiB", flush=True)
            rows.append(row)
    cols = [f"ressig de --engine {e}" for e in args.engines] + (["R DESeq2 (1 core)"] if use_r else [])
    print(f"\n| data | {' | '.join(cols)} |" + (" ressig / R |" if use_r else ""))
    print("|---|" + "---|" * (len(cols) + use_r))
    for row in rows:
        cells = [f"{row[c][0]:.1f} s, {row[c][1]:.0f} MiB" for c in cols]
        ratio = [f"{row[cols[0]][0] / row['R DESeq2 (1 core)'][0]:.2f}"] if use_r else []
        print(f"| {row['data']} | " + " | ".join(cells + ratio) + " |")
    if not use_r:
        print("\nR DESeq2: not installed (apt-get install r-bioc-deseq2)")


if __name__ == "__main__":
    main()
