"""Functional evidence: viability dose–response (IC50 shift, reversal by a P-gp inhibitor) and dye efflux.

Modules: :mod:`.plate` (plate tables, normalisation), :mod:`.fourpl` (4PL fits, profile CIs), :mod:`.shifts`
(fold resistance, reversal, the ``ressig dose-response`` driver) and :mod:`.dye` (the dye-efflux assay).
The evidence table that combines them with mRNA and protein is :mod:`ressig.evidence`.
"""

from .dye import (
    DYE_COLUMNS,
    DYE_RESULT_COLUMNS,
    dye_retention,
    read_dye,
    read_dye_fcs,
    validate_dye,
)
from .fourpl import CI_METHOD, IC50_COLUMNS, Fit, fit_4pl, fit_curves, four_pl
from .plate import (
    NO_INHIBITOR,
    NORMALISATIONS,
    PLATE_COLUMNS,
    normalise,
    read_plate,
    validate_plate,
)
from .shifts import SHIFT_COLUMNS, run_dose_response, shifts

__all__ = [
    "CI_METHOD", "DYE_COLUMNS", "DYE_RESULT_COLUMNS", "IC50_COLUMNS", "NORMALISATIONS", "NO_INHIBITOR", "PLATE_COLUMNS",
    "SHIFT_COLUMNS", "Fit", "dye_retention", "fit_4pl", "fit_curves", "four_pl", "normalise", "read_dye",
    "read_dye_fcs", "read_plate", "run_dose_response", "shifts", "validate_dye", "validate_plate",
]
