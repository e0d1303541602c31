#!/usr/bin/env bash
# A user's first commands with ressig installed from a wheel, run from a directory outside the
# source tree: every command must work without the repository (data ship inside the package).
#   bash wheel_smoke.sh REPO     (REPO only supplies the demo input files)
set -euo pipefail
REPO=$1
d=$(mktemp -d smoke.XXXXXX)
cp "$REPO/resources/demo/counts.tsv" "$REPO/config/samples.tsv" "$REPO/resources/demo/protein.tsv" "$d/"
cd "$d"
python - <<'PY'
import ressig, ressig.genes, ressig.genesets
from pathlib import Path
assert "site-packages" in ressig.__file__, ressig.__file__
print("gene table:", ressig.genes.default_gene_table_path())
print("curated gene sets:", ressig.genesets.curated_gmt_path())
PY
ressig --version
ressig prepare --counts counts.tsv --samples samples.tsv --out-counts prep/counts.tsv --out-samples prep/samples.tsv
ressig de --counts prep/counts.tsv --samples prep/samples.tsv --covariates batch --threads 2 --outdir de
ressig concordance --de de/resistant_vs_parental.tsv --normalized de/normalized_counts.tsv \
    --samples prep/samples.tsv --protein protein.tsv --covariates batch --outdir conc
grep -q "post-transcriptional loss" conc/concordance.tsv
ressig signature --de de/resistant_vs_parental.tsv --normalized de/normalized_counts.tsv \
    --samples prep/samples.tsv --name SMOKE --outdir sig
# symbol-keyed cohort (the normalised demo counts) and the same cohort keyed by Ensembl ids
ressig score --signature sig/SMOKE.ressig.json --input de/normalized_counts.tsv --out scores_sym.tsv
python - <<'PY'
import pandas as pd
from ressig.genes import load_gene_table
gt = load_gene_table()
sym2ens = {}
for ens, sym in gt.ensembl.items():
    sym2ens.setdefault(sym, ens)
m = pd.read_csv("de/normalized_counts.tsv", sep="\t", index_col=0)
m = m[m.index.isin(sym2ens)]
m.index = [sym2ens[g] + ".7" for g in m.index]
m.to_csv("cohort_ensembl.tsv", sep="\t")
PY
ressig score --signature sig/SMOKE.ressig.json --input cohort_ensembl.tsv --out scores_ens.tsv
ressig score --signature "$(python -c 'import ressig.genesets as g; print(g.curated_gmt_path())')" \
    --input de/normalized_counts.tsv --out scores_gmt.tsv
python - <<'PY'
import pandas as pd
a = pd.read_csv("scores_sym.tsv", sep="\t")
b = pd.read_csv("scores_ens.tsv", sep="\t")
g = pd.read_csv("scores_gmt.tsv", sep="\t")
assert len(a) == 6 and len(g) >= 6 * 8, (len(a), len(g))
res = a.set_index("sample")["score"]
assert res.filter(like="R").min() > res.filter(like="P").max(), res
print("wheel smoke: ok;", len(b), "Ensembl-keyed scores;", g["signature"].nunique(), "curated sets scored")
PY
