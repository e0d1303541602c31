"""DE results: the result object, the table columns, writing/reading DE tables, consensus and contrast overviews."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import RessigError
from .design import contrast_name

DE_COLUMNS = ["baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj",
              "log2FoldChange_shrunk", "lfcSE_shrunk", "tested"]


LRT_COLUMNS = ["baseMean", "stat", "df", "pvalue", "padj", "tested"]


@dataclass
class DEResult:
    """Everything the DE step produces.

    Attributes
    ----------
    table
        One row per gene (all input genes; genes removed by the count filter have
        ``tested == False`` and missing statistics), sorted by ``padj``, ``pvalue``, gene id.
    normalized
        Genes × samples counts divided by size factors (all genes).
    vst
        Genes × samples variance-stabilised expression of tested genes (blind to the design).
    size_factors
        One per sample.
    contrast
        ``(factor, treatment, reference)`` of the first contrast (the one ``table`` holds).
    tables
        Every contrast's table (columns and order as ``table``), keyed by contrast name, in the
        order requested; all from the same fitted model.
    lrt
        Likelihood-ratio test table (:data:`LRT_COLUMNS`, all genes) or ``None``.
    normalization
        ``"size_factors"`` (median-of-ratios) or ``"avgTxLength"`` (per-gene, per-sample
        normalisation factors from tximport's average transcript lengths,
        :mod:`ressig.de.normfactors`; ``size_factors`` then holds the size factors of
        ``counts / lengths`` and ``normalized`` is ``counts / nf``).
    fit_type
        The dispersion trend actually fitted (``parametric``, ``local`` or ``mean``; R's
        ``attr(dispersionFunction(dds), "fitType")``, :mod:`ressig.de.dispfit`).
    """

    table: pd.DataFrame
    normalized: pd.DataFrame
    vst: pd.DataFrame
    size_factors: pd.Series
    contrast: tuple[str, str, str]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    lrt: pd.DataFrame | None = None
    normalization: str = "size_factors"
    fit_type: str = "parametric"

    @property
    def name(self) -> str:
        """File-safe contrast name, e.g. ``resistant_vs_parental``."""
        return contrast_name(self.contrast[1], self.contrast[2])


def consensus_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One DE-format table whose calls are the genes changed the same way in **every** contrast.

    Per gene: ``padj``/``pvalue`` the largest over the contrasts, ``baseMean`` the smallest,
    each log2 fold-change column (and ``stat``) the value of smallest magnitude when all
    contrasts agree in sign, else 0, ``tested`` only if tested in all. Any threshold rule
    (padj, |log2FC|, baseMean) applied to it selects exactly the genes passing it in every
    contrast with one direction — the consensus signature.
    """
    if not tables:
        raise RessigError("a consensus needs at least one contrast table")
    frames = list(tables.values())
    genes = frames[0].index
    for f in frames[1:]:
        genes = genes.intersection(f.index)
    out = pd.DataFrame(index=genes)
    out.index.name = "gene_id"
    for col in DE_COLUMNS:
        vals = np.column_stack([f.loc[genes, col].to_numpy() for f in frames])
        if col == "tested":
            out[col] = vals.astype(bool).all(axis=1)
        elif col in ("padj", "pvalue", "lfcSE", "lfcSE_shrunk"):
            out[col] = np.max(vals.astype(float), axis=1)
        elif col == "baseMean":
            out[col] = np.min(vals.astype(float), axis=1)
        else:
            v = vals.astype(float)
            same = (np.all(v > 0, axis=1) | np.all(v < 0, axis=1))
            smallest = v[np.arange(len(v)), np.argmin(np.abs(np.nan_to_num(v, nan=np.inf)), axis=1)]
            out[col] = np.where(same, smallest, np.where(np.isnan(v).any(axis=1), np.nan, 0.0))
    return out


def write_de(result: DEResult, outdir: str | Path) -> list[Path]:
    """Write every contrast's DE table, normalised counts, VST matrix, size factors (and ``lrt.tsv``), all or none."""
    from .._atomic import atomic_group, write_table

    outdir = Path(outdir)
    tables = result.tables or {result.name: result.table}
    with atomic_group():
        files = [write_table(table, outdir / f"{name}.tsv") for name, table in tables.items()]
        files += [
            write_table(result.normalized, outdir / "normalized_counts.tsv"),
            write_table(result.vst, outdir / "vst.tsv"),
            write_table(result.size_factors.to_frame().assign(normalization=result.normalization,
                                                              fit_type=result.fit_type),
                        outdir / "size_factors.tsv"),
        ]
        if result.lrt is not None:
            files.append(write_table(result.lrt, outdir / "lrt.tsv"))
    return files


def read_de(path: str | Path) -> pd.DataFrame:
    """Read a DE table written by :func:`write_de` (indexed by gene id), checking its columns."""
    from ..errors import input_error
    from ..io import read_table

    df = read_table(path, "DE table")
    missing = [c for c in ["gene_id", *DE_COLUMNS] if c not in df.columns]
    if missing:
        raise input_error(path, f"not a ressig DE table: missing column(s) {', '.join(missing)}",
                          "Use the results/de/<contrast>.tsv written by 'ressig de'")
    df = df.set_index("gene_id")
    num = [c for c in DE_COLUMNS if c != "tested"]
    df[num] = df[num].apply(pd.to_numeric, errors="coerce")
    df["tested"] = df["tested"].astype(str).str.lower() == "true"
    return df


def plot_de(de_path: str | Path, volcano_path: str | Path, ma_path: str | Path, alpha: float = 0.05,
            label: Sequence[str] = ("ABCB1", "IL3RA")) -> list[Path]:
    """Volcano and MA plots of a DE table file."""
    from .._atomic import save_figure
    from ..pl.de import ma_plot, volcano

    de = read_de(de_path)
    title = Path(de_path).stem.replace("_", " ")
    return [save_figure(volcano(de, alpha, label=label, title=title), volcano_path),
            save_figure(ma_plot(de, alpha, label=label, title=title), ma_path)]


def contrast_matrix(tables: dict[str, pd.DataFrame], genes: Sequence[str], alpha: float = 0.05
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """log2FC of ``genes`` (those present) across contrasts, and the padj < ``alpha`` up/down calls of
    every gene (``+1``/``-1``/``0``, genes × contrasts)."""
    present = [g for g in dict.fromkeys(genes) if all(g in t.index for t in tables.values())]
    lfc = pd.DataFrame({n: t.loc[present, "log2FoldChange"] for n, t in tables.items()}, index=present)
    calls = pd.DataFrame({n: np.sign(t["log2FoldChange"].where(t["padj"] < alpha, 0.0)).fillna(0.0)
                          for n, t in tables.items()}).fillna(0.0).astype(int)
    return lfc, calls
