#!/usr/bin/env python3
"""Build resources/genes/hs_genes.tsv.gz, ressig's offline human gene-id table.

Source: the SQLite database inside Debian's ``r-bioc-org.hs.eg.db`` package (Bioconductor
``org.Hs.eg.db``; NCBI Entrez Gene symbols + aliases, Ensembl gene ids). No R is needed: the
script either reads an installed database or downloads the .deb with ``apt-get download`` and
unpacks it with ``dpkg-deb -x`` into a temporary directory.

Usage::

    python resources/genes/make_gene_table.py                       # download the .deb (apt-get update first)
    python resources/genes/make_gene_table.py --sqlite /usr/lib/R/site-library/org.Hs.eg.db/extdata/org.Hs.eg.sqlite

Output (gzip, mtime 0, so the same database gives identical bytes), one row per Entrez gene,
sorted by Entrez id::

    entrez_id  symbol  gene_type  ensembl_ids  aliases

``ensembl_ids`` and ``aliases`` are ``;``-separated and sorted; ``aliases`` excludes the symbol.
A ``#`` header line records the package version and the source dates from the database metadata.
"""

from __future__ import annotations

import argparse
import gzip
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE = "r-bioc-org.hs.eg.db"
DB_IN_PACKAGE = "usr/lib/R/site-library/org.Hs.eg.db/extdata/org.Hs.eg.sqlite"
INSTALLED_DB = Path("/") / DB_IN_PACKAGE
OUT = Path(__file__).resolve().parent / "hs_genes.tsv.gz"


def _package_version(tmp: Path | None) -> str:
    if tmp is not None:
        debs = sorted(tmp.glob(f"{PACKAGE}_*.deb"))
        if debs:
            return debs[0].name.split("_")[1]
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", PACKAGE], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def fetch_database(tmp: Path) -> Path:
    """Download and unpack the Debian package; return the path of its SQLite database."""
    subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, check=True)
    deb = sorted(tmp.glob(f"{PACKAGE}_*.deb"))[0]
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp / "x")], check=True)
    return tmp / "x" / DB_IN_PACKAGE


def build(db: Path, out: Path, version: str) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    meta = dict(con.execute("SELECT name, value FROM metadata"))
    rows = con.execute(
        """
        SELECT g.gene_id, i.symbol, COALESCE(t.gene_type, ''),
               (SELECT GROUP_CONCAT(e.ensembl_id, ';') FROM
                   (SELECT DISTINCT ensembl_id FROM ensembl WHERE _id = g._id ORDER BY ensembl_id) e),
               (SELECT GROUP_CONCAT(a.alias_symbol, ';') FROM
                   (SELECT DISTINCT alias_symbol FROM alias WHERE _id = g._id AND alias_symbol != i.symbol
                    ORDER BY alias_symbol) a)
        FROM genes g JOIN gene_info i ON i._id = g._id LEFT JOIN genetype t ON t._id = g._id
        ORDER BY CAST(g.gene_id AS INTEGER)
        """
    ).fetchall()
    header = (
        f"# ressig offline human gene table from Debian {PACKAGE} {version} "
        f"(Bioconductor org.Hs.eg.db; Entrez Gene {meta.get('EGSOURCEDATE', '?')}, "
        f"Ensembl {meta.get('ENSOURCEDATE', '?')}); licence Artistic-2.0; see PROVENANCE.md\n"
    )
    lines = [header, "entrez_id\tsymbol\tgene_type\tensembl_ids\taliases\n"]
    for gid, sym, gtype, ens, ali in rows:
        lines.append(f"{gid}\t{sym}\t{gtype}\t{ens or ''}\t{ali or ''}\n")
    data = "".join(lines).encode()
    with open(out, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="", compresslevel=9) as gz:
        gz.write(data)
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sqlite", type=Path, default=None, help="org.Hs.eg.sqlite (default: installed, else download)")
    p.add_argument("--package-version", default=None, help="version to record when --sqlite is given")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        db = args.sqlite or (INSTALLED_DB if INSTALLED_DB.exists() else None)
        version = args.package_version or _package_version(None)
        if db is None:
            db = fetch_database(tmp)
            version = _package_version(tmp)
        n = build(db, args.out, version)
    print(f"wrote {args.out} ({n} genes, {args.out.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
