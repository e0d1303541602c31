# Helpers of the score step (cohort config -> shard files and CLI options).
SCORING_CFG = config.get("scoring", {})
COHORTS = config.get("cohorts", {}) or {}


def cohort_cfg(name):
    return COHORTS[name]


def cohort_is_h5ad(name):
    c = COHORTS[name]
    return c.get("kind", "auto") == "h5ad" or (
        c.get("kind", "auto") == "auto" and str(c["path"]).endswith(".h5ad")
    )


def cohort_shards(name):
    c = COHORTS[name]
    if c.get("pseudobulk"):
        return 1
    return int(c.get("shards") or SCORING_CFG.get("shards", 1))


def shard_files(name, kind):
    n = cohort_shards(name)
    suffix = {"scores": "tsv", "coverage": "coverage.tsv", "mapping": "mapping.tsv"}[kind]
    return [f"results/scores/{name}/shards/{i}-of-{n}.{suffix}" for i in range(1, n + 1)]


def cohort_options(wildcards):
    c = COHORTS[wildcards.cohort]
    min_cov = c.get("min_coverage", SCORING_CFG.get("min_coverage"))
    return " ".join(
        [
            f"--kind {c.get('kind', 'auto')}",
            f"--orientation {c.get('orientation', 'genes-x-samples')}",
            f"--collapse {c.get('collapse', 'mean')}",
            opt("--probe-map", c.get("probe_map")),
            opt("--layer", c.get("layer")),
            opt("--pseudobulk", c.get("pseudobulk")),
            opt("--min-coverage", min_cov),
            f"--chunk-size {SCORING_CFG.get('chunk_size', 10000)}",
            opt("--null-draws", c.get("null_draws", SCORING_CFG.get("null_draws"))),
            f"--null {c.get('null_method', SCORING_CFG.get('null_method', 'matched'))}",
            opt("--null-reference", c.get("null_reference")),
            f"--null-seed {SCORING_CFG.get('null_seed', 20261130)}",
            f"--alpha {SCORING_CFG.get('alpha', 0.05)}",
        ]
    )


def cohort_inputs(wildcards):
    c = COHORTS[wildcards.cohort]
    files = {"data": c["path"]}
    if c.get("probe_map"):
        files["probe_map"] = c["probe_map"]
    if c.get("null_reference"):
        files["null_reference"] = c["null_reference"]
    return files


def gather_input_options(wildcards):
    """Options telling score-gather how to read the cohort's samples (shard checks)."""
    c = COHORTS[wildcards.cohort]
    return " ".join(
        [
            f"--kind {c.get('kind', 'auto')}",
            f"--orientation {c.get('orientation', 'genes-x-samples')}",
            opt("--pseudobulk", c.get("pseudobulk")),
        ]
    )


def cohort_group_by(name):
    """obs key of the per-group plot: `group_by`, else the pseudobulk key, else the first of
    patient/sample/donor/cluster/louvain/leiden present is chosen at run time (`auto`)."""
    c = COHORTS[name]
    return c.get("group_by") or c.get("pseudobulk") or "auto"
