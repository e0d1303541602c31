"""Argument groups shared by several subcommands (one definition each)."""

from __future__ import annotations

import argparse


def add_design_arguments(p: argparse.ArgumentParser) -> None:
    """``--condition/--reference/--treatment/--covariates/--continuous``."""
    g = p.add_argument_group("design")
    g.add_argument("--condition", default="condition", help="sample-sheet column holding the condition")
    g.add_argument("--reference", default="parental", help="reference level (denominator of the fold change)")
    g.add_argument("--treatment", default="resistant", help="treatment level (numerator of the fold change)")
    g.add_argument("--covariates", nargs="*", default=[], metavar="COL",
                   help="sample-sheet columns entering the design before the condition (~ cov + condition)")
    g.add_argument("--continuous", nargs="*", default=[], metavar="COL",
                   help="covariates to treat as numeric (others are categorical)")
