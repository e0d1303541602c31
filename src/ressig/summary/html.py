"""Render the findings as one self-contained HTML page.

Inline CSS and script (:mod:`ressig.summary.assets`), figures embedded as base64 PNG ``data:``
URIs, links to the result tables relative to the page. Every text that comes from data (sample
ids, gene names, calls, notes) is HTML-escaped; nothing refers to a network resource.
"""

from __future__ import annotations

import base64
import math
import os
import re
from collections.abc import Sequence
from html import escape
from pathlib import Path

import pandas as pd

from .assets import CSS, JS
from .collect import OK, Finding
from .verdicts import details, kind, num, verdict

#: rows of an interactive table written into the page (the rest stay in the linked TSV)
MAX_ROWS = 2000
#: tables rendered sortable and filterable, by finding kind
INTERACTIVE = {"de": "top", "cohort": "scores", "signature": "genes"}
TABLE_TITLES = {
    "qc": "Samples", "labelled": "Labelled genes", "top": "Top genes by adjusted p-value",
    "concordance": "Markers", "gsea": "All gene sets (GSEA prerank)", "shift": "Fold resistance and reversal",
    "dye": "Dye retention", "ic50": "IC50 per condition", "genes": "Signature genes",
    "scores": "Scores", "survival": "Survival (Cox, log-rank)", "response": "Response (logistic, AUC)",
}
FIGURE_TITLES = {
    "pca.png": "PCA of the VST matrix", "library_sizes.png": "Library sizes",
    "sample_correlation.png": "Sample correlation", "lfc_mrna_vs_protein.png": "mRNA vs protein log2FC",
    "per_sample.png": "Per-sample mRNA and protein", "gsea_nes.png": "GSEA normalised enrichment scores",
    "scores.png": "Gene-set scores per sample", "curves.png": "Dose-response curves",
    "score_distribution.png": "Score distribution with the null band", "score_groups.png": "Scores per group",
    "score_embedding.png": "Embedding coloured by score",
    "contrasts.png": "log2FC across all contrasts and overlap of the DE calls",
}
_ID = re.compile(r"[^A-Za-z0-9_-]+")


def anchor(key: str) -> str:
    """An HTML id for a section key (letters, digits, '_' and '-' only)."""
    return "s-" + _ID.sub("_", key)


def data_uri(path: Path) -> str:
    """A PNG file as a base64 ``data:`` URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def figure_title(rel: str) -> str:
    name = Path(rel).name
    if name.endswith("_volcano.png"):
        return "Volcano plot"
    if name.endswith("_ma.png"):
        return "MA plot"
    if "/enrichment/" in rel:
        return f"GSEA enrichment: {Path(rel).stem}"
    return FIGURE_TITLES.get(name, Path(rel).stem.replace("_", " "))


def render_figures(f: Finding, results: Path) -> str:
    items = []
    for rel in f.figures:
        title = escape(figure_title(rel))
        items.append(f'<figure><img src="{data_uri(results / rel)}" alt="{title}">'
                     f"<figcaption>{title} <code>{escape(rel)}</code></figcaption></figure>")
    return f'<div class="figures">{"".join(items)}</div>' if items else ""


def _cell(value: object) -> tuple[str, str, str]:
    """(text, sort value, css class) of a table cell."""
    if isinstance(value, bool):
        return str(value), str(value), ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        v = float(value)
        if math.isnan(v):
            return "", "", "num"
        text = str(int(v)) if v.is_integer() and abs(v) < 1e15 else num(v, 4)
        return text, repr(v), "num"
    text = "" if value is None else str(value)
    return text, text, "wrap" if len(text) > 60 else ""


def render_table(df: pd.DataFrame, table_id: str, sortable: bool = False,
                 highlight: Sequence[str] = ()) -> str:
    """A table; ``sortable`` adds click-to-sort headers (the page script)."""
    shown = df.head(MAX_ROWS) if sortable else df
    cls = ' class="sortable"' if sortable else ""
    head = "".join(f'<th scope="col">{escape(str(c))}</th>' for c in shown.columns)
    rows = []
    marked = {str(h) for h in highlight}
    for rec in shown.itertuples(index=False):
        cells = []
        for value in rec:
            text, sort_value, css = _cell(value)
            attrs = f' class="{css}"' if css else ""
            if sortable and sort_value != text:
                attrs += f' data-value="{escape(sort_value)}"'
            cells.append(f"<td{attrs}>{escape(text)}</td>")
        hl = ' class="highlight"' if marked and str(rec[0]) in marked else ""
        rows.append(f"<tr{hl}>{''.join(cells)}</tr>")
    box = "tablebox long" if len(shown) > 15 else "tablebox"
    out = (f'<div class="{box}"><table id="{table_id}"{cls}><thead><tr>{head}</tr></thead>'
           f"<tbody>{''.join(rows)}</tbody></table></div>")
    if len(shown) > 25:
        out += f'<p class="print-only">Printed: the first 25 of {len(shown)} rows.</p>'
    if len(df) > len(shown):
        out += f'<p class="links">The page holds the first {len(shown)} of {len(df)} rows; all are in the table linked below.</p>'
    return out


def render_tables(f: Finding) -> str:
    parts = []
    interactive = INTERACTIVE.get(kind(f))
    for name, df in f.tables.items():
        table_id = f"{anchor(f.key)}-{name}"
        title = escape(TABLE_TITLES.get(name, name))
        if name == interactive:
            count_id = f"{table_id}-count"
            parts.append(f"<h3>{title}</h3>"
                         f'<div class="controls"><label>Filter <input class="filter" type="search" '
                         f'data-table="{table_id}" data-count="{count_id}" placeholder="gene, sample, call\u2026">'
                         f'</label><span class="count" id="{count_id}"></span>'
                         "<span>click a column header to sort</span></div>")
            highlight = f.facts.get("label_genes", ())
            parts.append(render_table(df, table_id, sortable=True, highlight=highlight))
        else:
            parts.append(f"<h3>{title}</h3>{render_table(df, table_id)}")
    return "".join(parts)


def render_links(f: Finding, results: Path, out_dir: Path) -> str:
    if not f.sources:
        return ""
    links = []
    for rel in f.sources:
        href = Path(os.path.relpath(results / rel, out_dir)).as_posix()
        links.append(f'<a href="{escape(href)}">{escape(rel)}</a>')
    return f'<p class="links">Tables: {", ".join(links)}</p>'


def render_section(f: Finding, results: Path, out_dir: Path) -> str:
    status_cls = f.status.replace(" ", "-")
    head = (f'<section id="{anchor(f.key)}" class="{status_cls}"><h2>{escape(f.title)}'
            f'<span class="badge {status_cls}">{escape(f.status)}</span></h2>'
            f'<p class="verdict">{escape(verdict(f))}</p>')
    extra = details(f)
    body = f'<ul class="details">{"".join(f"<li>{escape(d)}</li>" for d in extra)}</ul>' if extra else ""
    if f.status == OK:
        body += render_figures(f, results) + render_links(f, results, out_dir) + render_tables(f)
    return head + body + "</section>"


def render_page(findings: Sequence[Finding], results: str | Path, out: str | Path,
                title: str = "ressig run summary", subtitle: str = "") -> str:
    """The whole page as a string.

    Parameters
    ----------
    findings
        From :func:`ressig.summary.collect.collect_all`, in page order.
    results
        The results directory the findings' figure and table paths are relative to.
    out
        Where the page will be written (table links are relative to its folder).
    title, subtitle
        Page heading and the line under it (config, results folder, version).
    """
    results, out_dir = Path(results), Path(out).resolve().parent
    toc = "".join(f'<li><a href="#{anchor(f.key)}">{escape(f.title)}</a></li>' for f in findings)
    key = "".join(f'<li><a href="#{anchor(f.key)}">{escape(f.title)}</a>: {escape(verdict(f))}</li>'
                  for f in findings if f.status == OK)
    off = [f.title for f in findings if f.status != OK]
    off_text = (f"<p>Not configured or without result: {escape(', '.join(off))}.</p>" if off else "")
    sections = "".join(render_section(f, results, out_dir) for f in findings)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f'<header class="page"><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header>'
        f'<div class="layout"><nav class="toc" aria-label="Sections"><ol>'
        f'<li><a href="#key-findings"><strong>Key findings</strong></a></li>{toc}</ol></nav>'
        f'<main><div class="keyfindings" id="key-findings"><h2>Key findings</h2><ul>{key}</ul>{off_text}</div>'
        f"{sections}</main></div><script>{JS}</script></body></html>\n"
    )
