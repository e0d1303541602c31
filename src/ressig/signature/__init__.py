"""Derive a resistance signature from the DE table (:mod:`.derive`) and freeze it as a versioned artefact
(:mod:`.artefact`). Reference cohorts are scored by :mod:`ressig.cohort.reference`."""

from ..stats import independent_filtering
from .artefact import (
    ARTEFACT_SUFFIX,
    FORMAT,
    MAX_ARTEFACT_BYTES,
    SCHEMA_VERSION,
    SUPPORTED_SCHEMA_VERSIONS,
    FrozenSignature,
    check_name_version,
    content_checksum,
    freeze_signature,
    gene_levels_block,
    gmt_text,
    load_signature,
    load_signatures,
    signature_to_dict,
    signatures_from_gmt,
)
from .derive import (
    SELECTION_RULES,
    THRESHOLD_COLUMNS,
    DerivationRules,
    build_signature,
    derive_signature,
    reference_scores,
    threshold_test,
    write_gene_table,
)

__all__ = [
    "ARTEFACT_SUFFIX", "FORMAT", "MAX_ARTEFACT_BYTES", "SCHEMA_VERSION", "SELECTION_RULES", "SUPPORTED_SCHEMA_VERSIONS",
    "THRESHOLD_COLUMNS", "DerivationRules", "FrozenSignature", "build_signature", "check_name_version",
    "content_checksum", "derive_signature", "freeze_signature", "gene_levels_block", "gmt_text", "independent_filtering",
    "load_signature", "load_signatures", "reference_scores", "signature_to_dict", "signatures_from_gmt",
    "threshold_test", "write_gene_table",
]
