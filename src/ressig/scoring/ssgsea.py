"""Cohort-dependent ssGSEA scores through gseapy (normalised across the samples scored together)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .types import GeneSignature


def score_ssgsea(data: pd.DataFrame, signatures: Sequence[GeneSignature], *, min_size: int = 1,
                 seed: int = 0) -> pd.DataFrame:
    """**Cohort-dependent** alternative: gseapy ssGSEA normalised enrichment scores.

    ssGSEA's normalised score divides by the range over the samples scored together, so a
    sample's value changes with the cohort; use :func:`score_matrix` for patient scores. Only
    the up genes of each signature are used.

    Returns
    -------
    DataFrame
        Columns ``signature, sample, score, method`` (``method = "ssgsea (cohort-dependent)"``).
    """
    import gseapy

    sets = {s.name: list(s.up) for s in signatures if s.up}
    res = gseapy.ssgsea(data=data, gene_sets=sets, min_size=min_size, max_size=100000, outdir=None,
                        no_plot=True, threads=1, seed=seed, verbose=False)
    df = res.res2d.rename(columns={"Name": "sample", "Term": "signature", "NES": "score"})
    df["score"] = pd.to_numeric(df["score"])
    order = {s.name: i for i, s in enumerate(signatures)}
    sorder = {s: i for i, s in enumerate(map(str, data.columns))}
    df = df.assign(_s=df["signature"].map(order), _j=df["sample"].map(sorder)).sort_values(["_s", "_j"])
    df["method"] = "ssgsea (cohort-dependent)"
    return df[["signature", "sample", "score", "method"]].reset_index(drop=True)
