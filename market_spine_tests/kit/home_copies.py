"""Prepared homes shared by a module's tests: one run made once, copied to each test's home."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from market_spine.home import prepare_home
from market_spine_tests.kit.homes import settings_for


def copy_home(prepared: Path, home: Path) -> None:
    """`prepared` (lake, Dagster instance and all) copied to `home`, which then is the home the
    process works on (DAGSTER_HOME and MARKET_SPINE_HOME name it), as when the test's own runs
    had made it. Nothing may hold `prepared` open (its instance closed after its runs)."""
    shutil.copytree(prepared, home)
    prepare_home(settings_for(home))


@contextmanager
def kept_instance(folder: Path) -> Iterator[dg.DagsterInstance]:
    """A test Dagster instance kept in `folder/dagster`, beside a home in `folder/home`, so the
    two can be prepared once and copied together (`copied_with_instance`)."""
    (folder / "dagster").mkdir(parents=True, exist_ok=True)
    with dg.instance_for_test(temp_dir=str(folder / "dagster")) as instance:
        yield instance


@contextmanager
def copied_with_instance(prepared: Path, folder: Path) -> Iterator[tuple[Path, dg.DagsterInstance]]:
    """A copy in `folder` of a home and the instance `kept_instance` prepared in `prepared`:
    the copied home and that instance, which the test changes on its own."""
    shutil.copytree(prepared, folder)
    with kept_instance(folder) as instance:
        yield folder / "home", instance
