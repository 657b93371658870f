"""The variables a process sets while it runs are in its environment from the import on, and are
only ever overwritten: an invocation of dbt, with or without a window, neither adds nor removes
a name, and dbt still sees the home, the seeds and the window it was given."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from market_spine import process_environment
from market_spine.home import prepare_home
from market_spine.process_environment import RESERVED, overwrite
from market_spine.settings import Settings
from market_spine.warehouse.resource import WarehouseResource


class _SeeingDbt:
    """Stands in for dagster-dbt's CLI resource: records the environment a dbt child would
    inherit (dagster-dbt starts it with a copy of os.environ)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []

    def cli(self, args: list[str], context: Any = None, **kwargs: Any) -> None:
        self.seen.append(dict(os.environ))


def test_every_reserved_variable_is_there_from_the_import_on() -> None:
    process_environment.reserve()  # what importing market_spine did
    assert all(name in os.environ for name in RESERVED)
    with pytest.raises(ValueError, match="not reserved"):
        overwrite("MARKET_SPINE_SOMETHING_ELSE", "1")


def test_a_dbt_invocation_adds_and_removes_no_variable(tmp_path: Path) -> None:
    process_environment.reserve()
    warehouse = WarehouseResource(home=str(tmp_path / "home"))
    dbt = _SeeingDbt()
    names = set(os.environ)
    # A build for a run (dagster-dbt's context carries it) tells dbt which: its reads of an
    # S3 lake name the run.
    for_run = SimpleNamespace(run=SimpleNamespace(run_id="5d3c-run"))
    warehouse.invoke(
        dbt,  # type: ignore[arg-type]
        ["parse"],
        context=for_run,
        window={"MARKET_SPINE_START_DATE": "2024-03-04"},
    )
    warehouse.invoke(dbt, ["parse"])  # type: ignore[arg-type]

    assert [set(seen) for seen in dbt.seen] == [names, names]
    windowed, whole = dbt.seen
    assert windowed["MARKET_SPINE_START_DATE"] == "2024-03-04"
    assert windowed["MARKET_SPINE_END_DATE"] == ""  # open-ended: the macro reads "" as unset
    assert windowed["MARKET_SPINE_RUN_ID"] == "5d3c-run" and whole["MARKET_SPINE_RUN_ID"] == ""
    assert whole["MARKET_SPINE_START_DATE"] == ""
    assert whole["MARKET_SPINE_HOME"] == str((tmp_path / "home").resolve())
    assert whole["MARKET_SPINE_SEEDS"] == ""  # the project's own seeds
    assert set(os.environ) == names


def test_opening_a_home_overwrites_its_variables(tmp_path: Path) -> None:
    process_environment.reserve()
    names = set(os.environ) | {"DAGSTER_HOME"}
    settings = Settings.from_env({"MARKET_SPINE_HOME": str(tmp_path / "home")})
    prepare_home(settings)
    assert os.environ["MARKET_SPINE_HOME"] == str(settings.home)
    assert set(os.environ) <= names
    assert Settings.from_env({"MARKET_SPINE_HOME": ""}).home == Path(".market_spine").resolve()
