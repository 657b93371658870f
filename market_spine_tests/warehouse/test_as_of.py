"""The warehouse as of an instant: the marts built into a scratch DuckDB over the lake snapshot
then answer as the warehouse would have, and the home's own warehouse file is never touched."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.client import Spine
from market_spine.errors import InvalidInput
from market_spine.runs.launch import materialize_range, materialize_warehouse
from market_spine.warehouse.as_of import build_as_of
from market_spine.warehouse.paths import warehouse_path
from market_spine_tests.kit.homes import settings_for

DAYS = "select count(distinct trade_date) as days, count(*) as bars from marts.fct_futures_bars_1m"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def two_days(env_home: Path) -> tuple[Path, datetime]:
    """CL on 2024-03-04 in the lake, the instant after it, then 2024-03-05, and the home's
    warehouse built over both."""
    settings = settings_for(env_home)
    with dg.instance_for_test() as instance:
        first = materialize_range(
            settings, ["CL"], date(2024, 3, 4), date(2024, 3, 4), instance=instance
        )
        between = datetime.now(UTC)
        second = materialize_range(
            settings, ["CL"], date(2024, 3, 5), date(2024, 3, 5), instance=instance
        )
        built = materialize_warehouse(settings, instance=instance)
    assert all(r.success for r in [*first, *second, *built])
    return env_home, between


def test_the_warehouse_as_of_an_instant_answers_as_it_was_then(
    two_days: tuple[Path, datetime],
) -> None:
    home, between = two_days
    spine = Spine(settings=settings_for(home))
    main = warehouse_path(home)
    before = digest(main)
    now = spine.warehouse_sql(DAYS).to_dicts()[0]
    then = spine.warehouse_sql(DAYS, as_of=between).to_dicts()[0]
    assert now["days"] == 2 and then["days"] == 1
    assert 0 < then["bars"] < now["bars"]
    assert digest(main) == before  # the home's warehouse is never touched
    assert not list((home / "warehouse" / "as_of").iterdir())  # the scratch build is gone

    result = CliRunner().invoke(app, ["warehouse", "--as-of", between.isoformat(), "--sql", DAYS])
    assert result.exit_code == 0, result.output
    assert "normalized/futures_bars_1m: version 0" in result.output
    [built] = (home / "warehouse" / "as_of").glob("spine-*.duckdb")
    assert built.stat().st_size > 0 and digest(main) == before
    assert str(then["bars"]) in result.output  # the query's answer, from the built file

    # Built from the home's parse of the project, into a file whose database name is not the
    # home's: its relations follow it. Of the project's 200-odd files only the minute fact is
    # parsed again (with its properties), because it reads the window the home's last build set.
    direct = build_as_of(settings_for(home), between, home / "elsewhere" / "then.duckdb")
    assert direct.parsed_files is not None and direct.parsed_files <= 2
    assert direct.sql(DAYS).to_dicts()[0] == then


def test_an_instant_the_warehouse_cannot_be_built_at_is_refused(tmp_path: Path, home: Path) -> None:
    settings = settings_for(home)
    with pytest.raises(InvalidInput, match="version number"):
        build_as_of(settings, "3", tmp_path / "x.duckdb")
    with pytest.raises(InvalidInput, match=r"held no table.*nothing was written yet"):
        build_as_of(settings, "2000-01-01T00:00:00Z", tmp_path / "x.duckdb")
    with pytest.raises(InvalidInput, match="home's warehouse"):
        build_as_of(settings, "2000-01-01T00:00:00Z", warehouse_path(home))


@pytest.mark.parametrize("value", ["yesterday", "2024-03-05", "3"])
def test_a_bad_as_of_says_what_the_warehouse_accepts(env_home: Path, value: str) -> None:
    result = CliRunner().invoke(app, ["warehouse", "--as-of", value])
    assert result.exit_code != 0
    said = " ".join(result.output.split())
    assert "ISO timestamp with zone like 2024-03-05T21:00:00Z" in said
    assert "a bare date or a Delta version number is not accepted" in said


def test_an_instant_before_the_lake_names_the_first_it_can_be_built_at(
    tmp_path: Path, two_days: tuple[Path, datetime]
) -> None:
    home, _ = two_days
    settings = settings_for(home)
    with pytest.raises(InvalidInput, match="held no table") as refused:
        build_as_of(settings, "2000-01-01T00:00:00Z", tmp_path / "x.duckdb")
    first = re.search(r"first table was written at (\S+);", str(refused.value))
    assert first is not None
    build_as_of(settings, first.group(1), tmp_path / "first.duckdb")  # builds: it held one
