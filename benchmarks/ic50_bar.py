#!/usr/bin/env python3
"""Measure the issue-16 bar over many seeded plates: every IC50 within 20 % of the truth and covered by its CI.

A bar plate has three curves (parental, resistant, resistant + zosuquidar; IC50 0.1, 4 and 0.2 nM,
hill 1.2, top 1, bottom 0.05), 9 doses x 3 replicate cultures plus 3 untreated wells per culture,
5 % noise. It is simulated by :func:`ressig.simulate.simulate_plate` in four ways: viability fractions
(normalisation ``none``) or raw luminescence normalised to untreated/blank wells (``controls``), each
with additive noise (sd 0.05 of the untreated signal) or multiplicative noise (CV 5 %).

    python benchmarks/ic50_bar.py [--plates 300] [--seed0 0] [--scenario all] [--separate] [--scales raw]

Prints, per scenario, the pass rate (all three IC50s within 20 % and covered), per-curve CI coverage,
per-curve within-20 % rate and median CI width (ratio high / low), and the binomial standard errors.
``--scales off`` fits the raw scenarios without per-culture scales (normalised fractions taken as
exact, the model before the culture scales); ``--scales all`` fits them on fraction plates too.

Measured on 300 plates (seeds 0-299), pass rate. Earlier steps (delta-method CI, plateaus per curve
-> profile-likelihood CI, plateaus shared per drug): fraction-additive 0.760 -> 0.840, fraction-
multiplicative 0.943 -> 0.977, raw-additive 0.763 -> 0.777, raw-multiplicative 0.940 -> 0.910.
With raw signal each culture is divided by the mean of its own 3 noisy untreated wells, an error
shared by all wells of the culture that an iid fit of the fractions does not know; per-culture
scales in the fit (``controls``, see :mod:`ressig.doseresponse`) model it. Raw scenarios without ->
with culture scales (fraction scenarios unchanged):

    scenario            pass rate      per-curve coverage (P / R / R+zos)   within 20 % (P / R / R+zos)
    raw-additive        0.777 -> 0.807  0.907 0.937 0.913 -> 0.920 0.953 0.933  0.947 0.963 0.940 -> 0.940 0.977 0.960
    raw-multiplicative  0.910 -> 0.943  0.963 0.987 0.953 -> 0.970 0.993 0.977  0.997 1.000 0.987 -> 1.000 1.000 1.000
    fraction-additive   0.840           0.937 0.950 0.940                       0.973 0.980 0.980
    fraction-mult.      0.977           0.997 0.993 0.987                       1.000 1.000 1.000

Three independent 95% CIs all cover with probability 0.95^3 = 0.857 at most, so ~0.84 is near the
ceiling for additive noise. Raw-additive stays below fraction-additive because raw signal holds
less information: each culture's untreated level is unknown (in the fraction scenarios it is
exactly 1), so IC50 errors are larger (sd of log error 0.089-0.096 vs 0.084-0.088) and fewer land
within 20 %. Fraction plates fitted with culture scales as if their levels were unknown (``--scales
all``) give the raw numbers (fraction-additive: pass rate 0.817, coverage 0.920 0.957 0.940, within
20 % 0.943 0.973 0.960): what remains is that lost information and the slight anticonservatism of
the profile CI with 9 more nuisance parameters, not an unmodelled normalisation error.
Multiplicative noise makes unweighted CIs conservative (coverage 0.97-0.99).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd

from ressig import doseresponse as D
from ressig.simulate import simulate_plate

BAR_TRUTH = {("parental", "none"): 0.1, ("resistant", "none"): 4.0, ("resistant", "zosuquidar"): 0.2}
SCENARIOS = {  # name -> (raw signal?, noise model)
    "fraction-additive": (False, "additive"),
    "fraction-multiplicative": (False, "multiplicative"),
    "raw-additive": (True, "additive"),
    "raw-multiplicative": (True, "multiplicative"),
}


def plate_results(seed: int, raw: bool, noise_model: str, scales: str = "raw", **fit_kw) -> pd.DataFrame:
    """One seeded bar plate: per curve the relative error, coverage and CI width.

    ``scales``: ``raw`` (default) fits per-culture scales where the plate is raw signal normalised
    per culture (``controls``); ``off`` fits no scales anywhere (normalised fractions taken as
    exact: the model before the culture scales); ``all`` fits them on fraction plates too (each
    culture's level treated as unknown although it is exactly 1).
    """
    plate = simulate_plate(seed=seed, truth=BAR_TRUTH, raw=raw, noise=0.05, noise_model=noise_model)
    norm = "controls" if raw else "none"
    via = D.normalise(D.validate_plate(plate.astype(str)), norm)
    fit_norm = "controls" if (raw and scales == "raw") or scales == "all" else "none"
    tab, _ = D.fit_curves(via, normalisation=fit_norm, **fit_kw)
    true = np.array([BAR_TRUTH[(c, i)] for c, i in zip(tab["condition"], tab["inhibitor"], strict=True)])
    return pd.DataFrame({
        "seed": seed, "curve": tab["condition"] + " + " + tab["inhibitor"],
        "within": (tab["ic50"] / true - 1).abs().to_numpy() < 0.20,
        "covered": ((tab["ic50_ci_low"] < true) & (true < tab["ic50_ci_high"])).to_numpy(),
        "width": (tab["ic50_ci_high"] / tab["ic50_ci_low"]).to_numpy(),
        "log_err": np.log(tab["ic50"].to_numpy() / true),
    })


def bar(plates: int, seed0: int, raw: bool, noise_model: str, scales: str = "raw", **fit_kw) -> dict:
    """Pass rate and per-curve summaries over ``plates`` seeded plates."""
    res = pd.concat([plate_results(seed0 + s, raw, noise_model, scales, **fit_kw) for s in range(plates)],
                    ignore_index=True)
    res["ok"] = res["within"] & res["covered"]
    per_plate = res.groupby("seed")["ok"].all()
    per_curve = res.groupby("curve", sort=False).agg(coverage=("covered", "mean"), within20=("within", "mean"),
                                                     median_width=("width", "median"),
                                                     sd_log_err=("log_err", "std"))
    return {"pass_rate": float(per_plate.mean()), "per_curve": per_curve, "n": plates}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plates", type=int, default=300)
    ap.add_argument("--seed0", type=int, default=0)
    ap.add_argument("--scenario", default="all", choices=["all", *SCENARIOS])
    ap.add_argument("--separate", action="store_true", help="fit each curve with its own plateaus")
    ap.add_argument("--scales", default="raw", choices=["raw", "off", "all"],
                    help="per-culture scales: for raw signal (default), nowhere (normalised signal taken as exact "
                         "fractions), or also on fraction plates")
    args = ap.parse_args()
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    print(f"IC50 bar over {args.plates} plates per scenario (CI method: {D.CI_METHOD}; "
          f"plateaus {'per curve' if args.separate else 'shared per drug'}; "
          f"per-culture scales: {args.scales})")
    for name in names:
        t0 = time.perf_counter()
        r = bar(args.plates, args.seed0, *SCENARIOS[name], scales=args.scales,
                share_plateaus=not args.separate)
        p = r["pass_rate"]
        print(f"\n{name}: pass rate {p:.3f} (binomial SE {math.sqrt(p * (1 - p) / r['n']):.3f}), "
              f"{time.perf_counter() - t0:.1f} s")
        print(r["per_curve"].to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
