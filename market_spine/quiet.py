"""Silence Dagster's beta/preview warnings: we pin the version and own those choices knowingly."""

from __future__ import annotations

import warnings

import dagster as dg


def silence_dagster_previews() -> None:
    """Hide BetaWarning/PreviewWarning so operators see only warnings that need action."""
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
