"""Prepare a Market Spine home: folders for the lake and Dagster instance, and the dagster.yaml of
its profile (`deploy/profiles/<profile>/dagster.yaml`: SQLite for dev, PostgreSQL for test and
prod)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import dagster as dg
from filelock import FileLock

from market_spine.config.profiles import instance_file
from market_spine.process_environment import overwrite
from market_spine.settings import INSTRUMENTS_FILE, Settings

#: The lock file, in the Dagster home, that commands opening the instance take in turn.
INSTANCE_OPEN_LOCK = ".instance-open.lock"


def prepare_home(settings: Settings) -> None:
    """Create the home's folders, install its profile's dagster.yaml and point DAGSTER_HOME at
    it. The file is copied as it is: credentials stay `{env: ...}` references, read from the
    environment each time the instance opens."""
    settings.lake_root.mkdir(parents=True, exist_ok=True)
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    target = settings.dagster_home / "dagster.yaml"
    template = instance_file(settings.profile)
    if template.is_file():
        shutil.copyfile(template, target)
    elif not target.exists():
        target.write_text("telemetry:\n  enabled: false\n")
    if os.environ.get("DAGSTER_HOME") != str(settings.dagster_home):
        os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    overwrite("MARKET_SPINE_HOME", str(settings.home))


def instance(settings: Settings) -> dg.DagsterInstance:
    """The home's persistent Dagster instance (the one the UI shows); InstanceUnavailable, in
    one line, when it cannot open (see `open_instance`)."""
    prepare_home(settings)
    return open_instance(settings.dagster_home)


def existing_instance(settings: Settings) -> dg.DagsterInstance | None:
    """The home's Dagster instance if it has one, without creating anything (for readers)."""
    if not (settings.dagster_home / "dagster.yaml").is_file():
        return None
    return open_instance(settings.dagster_home)


def open_instance(dagster_home: Path) -> dg.DagsterInstance:
    """The Dagster instance in `dagster_home`. A variable its dagster.yaml reads that is unset,
    or a PostgreSQL that refuses the connection, raises InstanceUnavailable saying which and
    the fix, before Dagster would fail with pages of traceback (after retrying for half a
    minute)."""
    import yaml

    from market_spine.config.file import fill_from_files
    from market_spine.config.profile_check import env_references, instance_refusal
    from market_spine.errors import InstanceUnavailable

    config = dagster_home / "dagster.yaml"
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        data = {}
    except (OSError, yaml.YAMLError) as exc:
        raise InstanceUnavailable(f"{config} is not readable YAML ({exc}): correct it") from None
    if isinstance(data, dict):
        # A password mounted as a file (DAGSTER_PG_PASSWORD_FILE) reaches `{env: NAME}`, and
        # the runs this process starts inherit it.
        fill_from_files(env_references(data), os.environ)
    refusal = instance_refusal(data, os.environ) if isinstance(data, dict) else None
    if refusal:
        raise InstanceUnavailable(refusal)
    # A fresh SQLite instance creates its tables as it opens; two commands opening it at once
    # would both run CREATE TABLE and one would crash, so openings take turns.
    with FileLock(dagster_home / INSTANCE_OPEN_LOCK):
        return dg.DagsterInstance.from_config(str(dagster_home))


def keep_instruments(settings: Settings, roots: Iterable[str]) -> tuple[str, ...]:
    """Before data for `roots` is written: copy into `<home>/instruments.toml` each root's table
    from the instruments file MARKET_SPINE_INSTRUMENTS names that the home's own file lacks, so
    a later command without that variable still knows the root (its symbol partitions, and the
    warehouse's contract and session seeds its bars join). The roots recorded (usually none)."""
    from market_spine.markets.instrument_config import record_roots

    if settings.instruments_file is None:
        return ()
    return record_roots(settings.home / INSTRUMENTS_FILE, settings.instruments_file, roots)
