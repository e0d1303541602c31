"""A simulated clinical table with planted outcome effects, for the demo cohort and the tests.

Times follow a proportional-hazards model on the standardised scores of the score table:
``hazard = base_rate × exp(Σ log(hr_s) × z_s)`` with exponential event times and uniform
censoring; a signature not given a hazard ratio has none (a planted null). The response is drawn
from a logistic model with odds ratios per SD. Age and sex are drawn independently of everything
(null covariates). Everything is seeded: the same scores and seed give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .._atomic import write_table
from .._log import logger
from ..errors import RessigError
from .clinical import read_scores


def simulate_clinical(scores: pd.DataFrame, hazard_ratios: dict[str, float],
                      odds_ratios: dict[str, float] | None = None, seed: int = 20261204,
                      base_rate: float = 1 / 24, censor_range: tuple[float, float] = (24.0, 72.0)) -> pd.DataFrame:
    """Clinical table ``sample, os_months, death, age, sex, phenotype`` for the samples of ``scores``.

    Parameters
    ----------
    scores
        Samples × signatures (see :func:`ressig.outcome.read_scores`).
    hazard_ratios
        Signature -> planted hazard ratio per SD of its score (others: HR 1).
    odds_ratios
        Signature -> planted odds ratio per SD of the ``phenotype`` being ``resistant``.
    base_rate
        Hazard (per month) at the mean scores.
    censor_range
        Censoring times are uniform on this range (months).
    """
    unknown = [s for s in [*hazard_ratios, *(odds_ratios or {})] if s not in scores.columns]
    if unknown:
        raise RessigError(f"cannot plant effects on {', '.join(unknown)}: not in the score table "
                          f"({', '.join(scores.columns)})")
    rng = np.random.default_rng(seed)
    n = len(scores)
    z = (scores - scores.mean()) / scores.std(ddof=1)
    lp = sum(np.log(hr) * z[s].to_numpy() for s, hr in hazard_ratios.items())
    t_event = rng.exponential(1.0 / (base_rate * np.exp(lp)), size=n)
    t_cens = rng.uniform(*censor_range, size=n)
    eta = sum(np.log(o) * z[s].to_numpy() for s, o in (odds_ratios or {}).items()) + np.zeros(n)
    resistant = rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-eta))
    out = pd.DataFrame({
        "sample": scores.index.astype(str),
        "os_months": np.round(np.minimum(t_event, t_cens), 3),
        "death": (t_event <= t_cens).astype(int),
        "age": np.round(rng.normal(62.0, 12.0, size=n)).astype(int),
        "sex": np.where(rng.uniform(size=n) < 0.5, "F", "M"),
        "phenotype": np.where(resistant, "resistant", "sensitive"),
    })
    logger.info("simulated clinical data of %d patients: %d deaths, %d resistant; planted HR per SD %s, OR per SD %s",
                n, int(out["death"].sum()), int(resistant.sum()), hazard_ratios, odds_ratios or {})
    return out


def write_demo_clinical(scores_path: str | Path, out: str | Path, hazard_ratios: dict[str, float],
                        odds_ratios: dict[str, float] | None = None, seed: int = 20261204) -> Path:
    """Simulate the demo clinical table from a score table and write it (TSV, atomically)."""
    table = read_scores(scores_path)
    return write_table(simulate_clinical(table, hazard_ratios, odds_ratios, seed=seed), out, index=False)
