"""Prepare a Market Spine home: folders for the lake and Dagster instance, and dagster.yaml."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg

from market_spine.settings import Settings

#: The repo's instance configuration, copied into every home's DAGSTER_HOME.
INSTANCE_TEMPLATE = Path(__file__).resolve().parent.parent / "dagster.yaml"


def prepare_home(settings: Settings) -> None:
    """Create the home's folders, install dagster.yaml and point DAGSTER_HOME at it."""
    settings.lake_root.mkdir(parents=True, exist_ok=True)
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    target = settings.dagster_home / "dagster.yaml"
    if INSTANCE_TEMPLATE.is_file():
        shutil.copyfile(INSTANCE_TEMPLATE, target)
    elif not target.exists():
        target.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    os.environ["MARKET_SPINE_HOME"] = str(settings.home)


def instance(settings: Settings) -> dg.DagsterInstance:
    """The home's persistent Dagster instance (the one the UI shows)."""
    prepare_home(settings)
    return dg.DagsterInstance.from_config(str(settings.dagster_home))


def existing_instance(settings: Settings) -> dg.DagsterInstance | None:
    """The home's Dagster instance if it has one, without creating anything (for readers)."""
    if not (settings.dagster_home / "dagster.yaml").is_file():
        return None
    return dg.DagsterInstance.from_config(str(settings.dagster_home))
