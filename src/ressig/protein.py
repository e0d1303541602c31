"""Protein measurements: protein (MFI) tables and raw FCS files, summarised per well and sample.

Shared by the mRNA-vs-protein concordance (:mod:`ressig.concordance`) and the dye-efflux assays
(:mod:`ressig.doseresponse`).

Protein input
-------------
* A **protein table** (TSV/CSV): ``sample``, ``marker``, ``value`` (MFI or antibody binding
  capacity), optional ``isotype`` *or* ``background`` (same units, subtracted per row),
  optional ``replicate`` (technical replicate id; default 1).
* Or raw **FCS 3.0/3.1 files** listed in an FCS table (``sample``, ``file``, optional ``marker``,
  ``isotype_file``, ``replicate``), read with :mod:`flowio`. Per file and marker the value is the
  **median** of the marker's channel (``$PnN`` or ``$PnS``; linear values after the file's own
  gain/log scaling) over the events inside an optional rectangular scatter gate
  (``channel: [min, max]``, bounds inclusive); the background is the same median of the
  ``isotype_file`` (same gate), or 0 without one.

Per well the signal is ``value - background`` and its ``log2``; per biological sample the mean
over its technical replicate wells (:func:`well_signals`, :func:`per_sample_protein`).
"""

from __future__ import annotations

import io as _io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._log import logger
from .de.design import design_matrix
from .errors import FILE_ERRORS, RessigError, input_error
from .stats import Effect, fill_effect, ols_last_coefficient, welch_difference

NONPOSITIVE = ("error", "clip")
#: Value a non-positive background-subtracted signal is raised to with ``nonpositive="clip"``.
CLIP_FLOOR = 1.0
WELL_COLUMNS = ["sample", "marker", "replicate", "value", "background", "signal", "log2_signal", "origin"]


# --------------------------------------------------------------------------- protein table input


def _where(row: int, df: pd.DataFrame, i: int) -> str:
    return f"data row {row} (sample {df['sample'].iat[i]!r}, marker {df['marker'].iat[i]!r})"


def _numeric_column(df: pd.DataFrame, col: str, path: str | Path | None, required: bool = True) -> pd.Series:
    raw = df[col].astype(str).str.strip()
    num = pd.to_numeric(raw, errors="coerce")
    bad = num.isna() | ~np.isfinite(num.fillna(0))
    if not required:
        bad &= raw != ""
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        shown = raw.iat[i] if raw.iat[i] else "(empty)"
        raise input_error(path, f"non-numeric {col!r} value {shown!r} at {_where(i + 1, df, i)}, column {col!r}",
                          f"Column {col!r} must hold finite numbers")
    return num


def validate_protein_table(df: pd.DataFrame, path: str | Path | None = None,
                           samples: Sequence[str] | None = None) -> pd.DataFrame:
    """Validate a protein table (string cells) and return it typed.

    Parameters
    ----------
    df
        Table with columns ``sample``, ``marker``, ``value``, optional ``isotype`` or
        ``background``, optional ``replicate``.
    path
        Source file (for messages).
    samples
        Known sample names (the sample sheet); protein samples outside it are refused.

    Returns
    -------
    pandas.DataFrame
        Columns ``sample``, ``marker``, ``replicate`` (str), ``value``, ``background`` (float,
        0 when absent) and ``origin`` (``"data row N"``), in input order.

    Raises
    ------
    RessigError
        Missing columns, empty sample/marker, non-numeric or negative values, unknown samples,
        duplicated (sample, marker, replicate) rows, both ``isotype`` and ``background`` given.
    """
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in ("sample", "marker", "value") if c not in df.columns]
    if missing:
        raise input_error(path, f"protein table has no column(s) {', '.join(map(repr, missing))} "
                          f"(columns: {', '.join(df.columns)})",
                          "Expected columns: sample, marker, value, optional isotype (or background), replicate")
    if "isotype" in df.columns and "background" in df.columns:
        raise input_error(path, "protein table has both 'isotype' and 'background' columns",
                          "Keep one background column (it is subtracted from 'value')")
    for col in ("sample", "marker"):
        df[col] = df[col].astype(str).str.strip()
        empty = df[col] == ""
        if empty.any():
            i = int(np.flatnonzero(empty.to_numpy())[0])
            raise input_error(path, f"empty {col!r} at data row {i + 1}, column {col!r}", f"Fill in the {col}")
    value = _numeric_column(df, "value", path)
    bgcol = "isotype" if "isotype" in df.columns else ("background" if "background" in df.columns else None)
    if bgcol is not None:
        background = _numeric_column(df, bgcol, path, required=False).fillna(0.0)
    else:
        background = pd.Series(0.0, index=df.index)
    for col, vals in (("value", value), (bgcol, background)):
        if col is not None and (vals < 0).any():
            i = int(np.flatnonzero((vals < 0).to_numpy())[0])
            raise input_error(path, f"negative {col!r} {vals.iat[i]:g} at {_where(i + 1, df, i)}, column {col!r}",
                              "MFI values must be >= 0 (linear scale, not log)")
    if "replicate" in df.columns:
        rep = df["replicate"].astype(str).str.strip()
        rep = rep.where(rep != "", "1")
    else:
        rep = pd.Series("1", index=df.index)
    if samples is not None:
        known = set(samples)
        unknown = ~df["sample"].isin(known)
        if unknown.any():
            i = int(np.flatnonzero(unknown.to_numpy())[0])
            raise input_error(path, f"unknown sample {df['sample'].iat[i]!r} at data row {i + 1}, column 'sample' "
                              "(not in the sample sheet)",
                              f"Use sample names from the sample sheet ({', '.join(sorted(known)[:8])}"
                              f"{', ...' if len(known) > 8 else ''})")
    out = pd.DataFrame({"sample": df["sample"].to_numpy(), "marker": df["marker"].to_numpy(),
                        "replicate": rep.to_numpy(), "value": value.to_numpy(dtype=float),
                        "background": background.to_numpy(dtype=float),
                        "origin": [f"data row {i}" for i in range(1, len(df) + 1)]})
    dup = out.duplicated(["sample", "marker", "replicate"], keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise input_error(path, f"duplicated sample/marker/replicate at {_where(i + 1, out, i)}, "
                          f"column 'replicate' ({out['replicate'].iat[i]!r})",
                          "Give technical replicate wells distinct 'replicate' ids")
    return out


def read_protein_table(path: str | Path, samples: Sequence[str] | None = None) -> pd.DataFrame:
    """Read and validate a protein table file (see :func:`validate_protein_table`)."""
    from .io import read_table

    df = read_table(path, "protein table")
    table = validate_protein_table(df, path, samples)
    logger.info("%s: %d protein measurements, markers %s, %d samples", path, len(table),
                ", ".join(dict.fromkeys(table["marker"])), table["sample"].nunique())
    return table


def well_signals(table: pd.DataFrame, nonpositive: str = "error", source: str | Path | None = None) -> pd.DataFrame:
    """Background-subtract each well and take log2.

    Parameters
    ----------
    table
        Validated protein table (:func:`validate_protein_table` or :func:`summarise_fcs`).
    nonpositive
        ``"error"``: a well with ``value - background <= 0`` is an error naming it;
        ``"clip"``: such wells are raised to :data:`CLIP_FLOOR` (logged).
    source
        File for messages.
    """
    if nonpositive not in NONPOSITIVE:
        raise RessigError(f"nonpositive must be one of {', '.join(NONPOSITIVE)}, not {nonpositive!r}")
    out = table.copy()
    out["signal"] = out["value"] - out["background"]
    bad = out["signal"] <= 0
    if bad.any():
        if nonpositive == "error":
            i = int(np.flatnonzero(bad.to_numpy())[0])
            r = out.iloc[i]
            raise input_error(source, f"value {r['value']:g} minus background {r['background']:g} is <= 0 at "
                              f"{r['origin']} (sample {r['sample']!r}, marker {r['marker']!r}), column 'value'",
                              "Check the background/isotype value, drop the well, or set "
                              "concordance.nonpositive: clip (raises it to 1 before log2)")
        logger.warning("%s: %d well(s) with value - background <= 0 raised to %g (nonpositive: clip)",
                       source, int(bad.sum()), CLIP_FLOOR)
        out.loc[bad, "signal"] = CLIP_FLOOR
    out["log2_signal"] = np.log2(out["signal"])
    return out[WELL_COLUMNS]


def per_sample_protein(wells: pd.DataFrame) -> pd.DataFrame:
    """Mean log2 signal over technical replicate wells, one row per (marker, sample)."""
    g = wells.groupby(["marker", "sample"], sort=False)
    out = g["log2_signal"].agg(["mean", "size", "std"]).reset_index()
    out.columns = ["marker", "sample", "protein_log2", "n_wells", "well_sd"]
    return out


# --------------------------------------------------------------------------- FCS input


FCS_TABLE_COLUMNS = ("sample", "file")


def read_fcs_table(path: str | Path, samples: Sequence[str] | None = None) -> pd.DataFrame:
    """Read the table listing FCS files: ``sample``, ``file``, optional ``marker``, ``isotype_file``, ``replicate``.

    Relative file paths are relative to the current working directory.
    """
    from .io import read_table

    df = read_table(path, "FCS table")
    df = df.apply(lambda s: s.astype(str).str.strip())
    missing = [c for c in FCS_TABLE_COLUMNS if c not in df.columns]
    if missing:
        raise input_error(path, f"FCS table has no column(s) {', '.join(map(repr, missing))} "
                          f"(columns: {', '.join(df.columns)})",
                          "Expected columns: sample, file, optional marker, isotype_file, replicate")
    for col in FCS_TABLE_COLUMNS:
        empty = df[col] == ""
        if empty.any():
            i = int(np.flatnonzero(empty.to_numpy())[0])
            raise input_error(path, f"empty {col!r} at data row {i + 1}, column {col!r}", f"Fill in the {col}")
    for col in ("marker", "isotype_file", "replicate"):
        if col not in df.columns:
            df[col] = ""
    df["replicate"] = df["replicate"].where(df["replicate"] != "", "1")
    if samples is not None:
        unknown = ~df["sample"].isin(set(samples))
        if unknown.any():
            i = int(np.flatnonzero(unknown.to_numpy())[0])
            raise input_error(path, f"unknown sample {df['sample'].iat[i]!r} at data row {i + 1}, column 'sample' "
                              "(not in the sample sheet)", "Use sample names from the sample sheet")
    return df[["sample", "file", "marker", "isotype_file", "replicate"]].reset_index(drop=True)


def fcs_files(fcs_table: pd.DataFrame) -> list[str]:
    """All FCS files (stained and isotype) named in an FCS table, in order, without duplicates."""
    files = list(fcs_table["file"]) + [f for f in fcs_table["isotype_file"] if f]
    return list(dict.fromkeys(files))


@dataclass
class FCSEvents:
    """Events of one FCS file: ``data`` is events × channels; ``pnn``/``pns`` are channel names."""

    path: Path
    data: np.ndarray
    pnn: list[str]
    pns: list[str]

    def channel(self, name: str) -> np.ndarray:
        """Values of the channel whose ``$PnN`` (preferred) or ``$PnS`` equals ``name``."""
        if name in self.pnn:
            return self.data[:, self.pnn.index(name)]
        if name in self.pns:
            return self.data[:, self.pns.index(name)]
        avail = ", ".join(f"{n}" + (f" ({s})" if s else "") for n, s in zip(self.pnn, self.pns, strict=True))
        raise input_error(self.path, f"FCS file has no channel {name!r} (channels: {avail})",
                          "Fix concordance.fcs.channels / gate to use a $PnN or $PnS name of the file")


def read_fcs(path: str | Path) -> FCSEvents:
    """Read an FCS 2.0/3.0/3.1 file with :mod:`flowio`; any parse failure is a one-line RessigError."""
    import flowio
    from flowio.exceptions import FlowIOException

    path = Path(path)
    if not path.exists():
        raise input_error(path, "FCS file not found", "Fix the 'file'/'isotype_file' column of the FCS table")
    raw = path.read_bytes()
    if len(raw) < 58:
        raise input_error(path, f"not a valid FCS file (only {len(raw)} bytes)", "Re-export the file")
    if not raw[:3] == b"FCS":
        raise input_error(path, f"not an FCS file (header starts with {raw[:6]!r})",
                          "Give FCS 2.0/3.0/3.1 files exported by the cytometer")
    try:
        fd = flowio.FlowData(_io.BytesIO(raw))
        data = np.asarray(fd.as_array(preprocess=True), dtype=float)
    except (*FILE_ERRORS, FlowIOException) as exc:  # flowio: ValueError/EOFError/FCSParsingError/...
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise input_error(path, f"cannot read FCS file, truncated or corrupt ({type(exc).__name__}: {msg[:160]})",
                          "Re-export the file from the acquisition software") from None
    n_ch = int(fd.channel_count)
    if data.ndim != 2 or data.shape[1] != n_ch:
        raise input_error(path, "FCS data section does not match its channel count", "Re-export the file")
    chans = [fd.channels[k] for k in sorted(fd.channels, key=int)]
    pnn = [str(c.get("pnn", "")).strip() for c in chans]
    pns = [str(c.get("pns", "") or "").strip() for c in chans]
    return FCSEvents(path=path, data=data, pnn=pnn, pns=pns)


def gate_mask(events: FCSEvents, gate: Mapping[str, Sequence[float]] | None) -> np.ndarray:
    """Boolean mask of events inside a rectangular gate ``{channel: [min, max]}`` (inclusive)."""
    mask = np.ones(events.data.shape[0], dtype=bool)
    for ch, bounds in (gate or {}).items():
        lo, hi = (float(b) for b in bounds)
        v = events.channel(ch)
        mask &= (v >= lo) & (v <= hi)
    return mask


def fcs_median(events: FCSEvents, channel: str, gate: Mapping[str, Sequence[float]] | None = None,
               min_events: int = 100) -> tuple[float, int]:
    """Median of ``channel`` over gated events; returns ``(median, n_events_in_gate)``."""
    mask = gate_mask(events, gate)
    n = int(mask.sum())
    if n < min_events:
        raise input_error(events.path, f"only {n} of {events.data.shape[0]} events inside the scatter gate "
                          f"(need >= {min_events})",
                          "Widen concordance.fcs.gate or lower concordance.fcs.min_events")
    values = events.channel(channel)[mask]
    return float(np.median(values)), n


def summarise_fcs(fcs_table: pd.DataFrame, channels: Mapping[str, str],
                  gate: Mapping[str, Sequence[float]] | None = None, min_events: int = 100,
                  source: str | Path | None = None) -> pd.DataFrame:
    """Turn FCS files into a protein table: median channel fluorescence per file and marker.

    Parameters
    ----------
    fcs_table
        From :func:`read_fcs_table`. A row with an empty ``marker`` is summarised for every marker
        in ``channels``; otherwise only for its marker.
    channels
        Marker → channel (``$PnN`` or ``$PnS``), e.g. ``{"CD123": "PE-A"}``.
    gate
        Optional rectangular scatter gate ``{channel: [min, max]}`` applied to stained and isotype files.
    min_events
        Minimum events inside the gate per file.
    source
        The FCS table path (for messages).

    Returns
    -------
    pandas.DataFrame
        Protein table (``sample, marker, replicate, value, background, origin``) plus
        ``events`` (gated events of the stained file).
    """
    if not channels:
        raise input_error(source, "no marker channels configured for FCS input",
                          "Set concordance.fcs.channels, e.g. {CD123: PE-A}")
    cache: dict[str, FCSEvents] = {}

    def load(f: str) -> FCSEvents:
        if f not in cache:
            cache[f] = read_fcs(f)
        return cache[f]

    rows = []
    for i, r in fcs_table.iterrows():
        markers = [r["marker"]] if r["marker"] else list(channels)
        for marker in markers:
            if marker not in channels:
                raise input_error(source, f"marker {marker!r} at data row {i + 1} has no channel in "
                                  "concordance.fcs.channels", f"Add {marker}: <channel name> to the config")
            ev = load(r["file"])
            value, n = fcs_median(ev, channels[marker], gate, min_events)
            background = 0.0
            if r["isotype_file"]:
                background, _ = fcs_median(load(r["isotype_file"]), channels[marker], gate, min_events)
            rows.append({"sample": r["sample"], "marker": marker, "replicate": r["replicate"], "value": value,
                         "background": background, "origin": f"file {r['file']}", "events": n})
            logger.info("%s: %s median %s = %.6g (background %.6g, %d events in gate)", r["file"], marker,
                        channels[marker], value, background, n)
    out = pd.DataFrame(rows)
    dup = out.duplicated(["sample", "marker", "replicate"])
    if dup.any():
        d = out[dup].iloc[0]
        raise input_error(source, f"sample {d['sample']!r}, marker {d['marker']!r}, replicate {d['replicate']!r} "
                          "comes from more than one FCS file", "Give technical replicates distinct 'replicate' ids")
    return out


PROTEIN_MODELS = ("linear", "welch")


def _protein_design(meta: pd.DataFrame, condition: str, reference: str, treatment: str,
                   covariates: Sequence[str], continuous: Sequence[str]) -> np.ndarray:
    """The DE design (:func:`ressig.de.design_matrix`) on the protein samples."""
    enc = pd.DataFrame(index=meta.index)
    for cov in covariates:
        enc[cov] = pd.to_numeric(meta[cov], errors="coerce") if cov in continuous else meta[cov].astype(str)
    enc[condition] = pd.Categorical(meta[condition], categories=[reference, treatment])
    return design_matrix(enc, condition, covariates)


def protein_effect(y: pd.Series, samples: pd.DataFrame, condition: str, reference: str, treatment: str,
                   covariates: Sequence[str] = (), continuous: Sequence[str] = (), model: str = "linear",
                   margin: float = 0.5, alpha: float = 0.05) -> Effect:
    """Protein log2FC (treatment − reference) from per-sample mean log2 signals.

    Parameters
    ----------
    y
        Per-sample protein log2 signal indexed by sample.
    samples
        Sample sheet (indexed by sample) with the condition and covariate columns.
    model
        ``"linear"``: OLS ``y ~ covariates + condition`` (t-based inference on the condition
        coefficient, ``n - p`` residual df); ``"welch"``: Welch two-sample t-test.
    margin, alpha
        Equivalence margin (log2) and test level; the CI has level ``1 - alpha``.
    """
    if model not in PROTEIN_MODELS:
        raise RessigError(f"protein model must be one of {', '.join(PROTEIN_MODELS)}, not {model!r}")
    meta = samples.loc[y.index]
    cond = meta[condition]
    other = sorted(set(cond) - {reference, treatment})
    if other:
        raise RessigError(f"protein sample(s) with condition {', '.join(map(repr, other))} are neither "
                          f"{reference!r} nor {treatment!r}")
    e = Effect(n_reference=int((cond == reference).sum()), n_treatment=int((cond == treatment).sum()))
    if min(e.n_reference, e.n_treatment) < 2:
        e.note = "fewer than 2 biological protein replicates in a condition"
        return e
    if model == "welch":
        e.log2fc, e.se, e.df = welch_difference(y[cond == treatment].to_numpy(dtype=float),
                                                y[cond == reference].to_numpy(dtype=float))
    else:
        x = _protein_design(meta, condition, reference, treatment, covariates, continuous)
        n, p = x.shape
        if np.linalg.matrix_rank(x) < p:
            e.note = (f"protein design ~{' + '.join([*covariates, condition])} is not estimable on the protein "
                      "samples (a covariate is confounded with the condition); use protein_model: welch")
            return e
        if n - p < 1:
            e.note = f"protein linear model has no residual degrees of freedom ({n} samples, {p} coefficients)"
            return e
        e.log2fc, e.se, e.df = ols_last_coefficient(x, y.to_numpy(dtype=float))
    if not e.usable:
        e.note = "protein replicates have zero variance (standard error 0); cannot test"
        e.se = math.nan if e.se == 0 else e.se
        return e
    return fill_effect(e, margin, alpha)
