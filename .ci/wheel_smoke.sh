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
# symbol-keyed cohort (the normalised demo counts) scored with the frozen artefact
ressig score --signature sig/SMOKE.ressig.json --input de/normalized_counts.tsv --out scores_sym.tsv
# the demo's real-symbol genes, once keyed by symbol and once by versioned Ensembl id: same scores
python - <<'PY'
import pandas as pd
from ressig.genes import load_gene_table
gt = load_gene_table()
sym2ens = {}
for ens, sym in sorted(gt.ensembl.items()):
    sym2ens.setdefault(sym, ens)
m = pd.read_csv("de/normalized_counts.tsv", sep="\t", index_col=0)
m = m[m.index.isin(sym2ens)]
m.to_csv("cohort_symbol.tsv", sep="\t")
m.index = [sym2ens[g] + ".7" for g in m.index]
m.to_csv("cohort_ensembl.tsv", sep="\t")
PY
GMT=$(python -c 'import ressig.genesets as g; print(g.curated_gmt_path())')
ressig score --signature "$GMT" --input cohort_symbol.tsv --out scores_gmt_sym.tsv
ressig score --signature "$GMT" --input cohort_ensembl.tsv --out scores_gmt_ens.tsv
python - <<'PY'
import pandas as pd
a = pd.read_csv("scores_sym.tsv", sep="\t")
res = a.set_index("sample")["score"]
assert len(res) == 6 and res.filter(like="R").min() > res.filter(like="P").max(), res
s = pd.read_csv("scores_gmt_sym.tsv", sep="\t").set_index(["signature", "sample"])["score"]
e = pd.read_csv("scores_gmt_ens.tsv", sep="\t").set_index(["signature", "sample"])["score"]
assert len(s) >= 6 * 8 and s.index.equals(e.index) and (s - e).abs().max() < 1e-12, (s, e)
print("wheel smoke: ok;", s.index.get_level_values(0).nunique(), "curated sets scored, symbol == Ensembl ids")
PY
