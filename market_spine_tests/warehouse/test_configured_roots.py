"""A futures root added by a home's instruments file reaches the warehouse: its specification,
its contracts and its venue's sessions are the home's reference data, so the marts carry its bars
with their contract keys; a home without one keeps the checked-in seeds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.markets import instruments
from market_spine.settings import Settings
from market_spine.warehouse.build import plan_warehouse
from market_spine.warehouse.reading import read_only
from market_spine_tests.kit.homes import REPO

EXAMPLE = REPO / "instruments.example.toml"
DAYS = (date(2024, 3, 13), date(2024, 3, 14))

runner = CliRunner()


@dataclass(frozen=True)
class Processed:
    """A home processed by `market-spine process`, and what the command printed."""

    home: Path
    exit_code: int
    output: str


@pytest.fixture(scope="module")
def euro(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processed]:
    """A home with the example instruments file (6E), processed for two days: 6E and CL
    futures, SPX/SPXW options, then the warehouse. The same process first ran CL for a home
    without the file, as a long-lived process or a test worker does: its job must not be the
    one the second home's runs execute."""
    plain = tmp_path_factory.mktemp("plain") / "home"
    home = tmp_path_factory.mktemp("euro") / "home"
    home.mkdir()
    (home / "instruments.toml").write_text(EXAMPLE.read_text())
    with pytest.MonkeyPatch.context() as patch:
        # Roots registered here stay in a registry this module alone sees.
        patch.setattr(instruments, "_INSTRUMENTS", dict(instruments._INSTRUMENTS))
        patch.setenv("MARKET_SPINE_PROFILE", "dev")
        patch.setenv("MARKET_SPINE_HOME", str(plain))
        patch.setenv("DAGSTER_HOME", str(plain / "dagster"))
        first = ["process", "--date", DAYS[0].isoformat(), "--symbols", "CL", "--domain", "futures"]
        assert runner.invoke(app, first).exit_code == 0
        patch.setenv("MARKET_SPINE_HOME", str(home))
        patch.setenv("DAGSTER_HOME", str(home / "dagster"))
        patch.setenv("MARKET_SPINE_PROFILE", "dev")
        args = ["process", "--start", DAYS[0].isoformat(), "--end", DAYS[1].isoformat()]
        result = runner.invoke(app, [*args, "--symbols", "6E,CL"])
        yield Processed(home, result.exit_code, result.output)


def test_a_configured_root_builds_into_the_marts(euro: Processed) -> None:
    assert euro.exit_code == 0, euro.output
    with read_only(euro.home) as conn:
        root = conn.execute(
            "select venue, tick_size, multiplier from marts.dim_instrument "
            "where instrument_key = 'FUT:6E'"
        ).fetchall()
        june = conn.execute(
            "select expiry_date, roll_date from marts.dim_instrument "
            "where instrument_key = 'FUT:6EM2024'"
        ).fetchall()
        bars = conn.execute(
            """select f.trade_date, f.contract_instrument_key, d.is_trading_day
               from marts.fct_futures_bars_daily f
               left join marts.dim_date d using (date_key)
               where f.root_instrument_key = 'FUT:6E' order by 1"""
        ).fetchall()
        sessions = conn.execute(
            "select count(*) from marts.dim_date where venue = 'CME_Currency' and is_trading_day"
        ).fetchone()[0]
    assert root == [("CME_Currency", 0.00005, 125000.0)]
    # CME FX: two business days before the third Wednesday (June 19, 2024, Juneteenth, is
    # counted as a holiday), rolled five business days before that.
    assert june == [(date(2024, 6, 17), date(2024, 6, 10))]
    assert bars == [(d, "FUT:6EM2024", True) for d in DAYS]
    assert sessions > 2000  # 2019-2027, about 250 sessions a year


def test_another_configured_root_makes_the_reference_stale(euro: Processed) -> None:
    """The plan rebuilds the reference and what reads it when the instruments file changes, and
    only then: the seeds' code versions follow the home's instruments."""
    settings = Settings.from_env(
        {"MARKET_SPINE_HOME": str(euro.home), "MARKET_SPINE_PROFILE": "dev"}
    )
    instance = dg.DagsterInstance.from_config(str(euro.home / "dagster"))
    reference = {"ref_futures_roots", "ref_futures_contracts", "ref_trading_sessions"}
    built_on_it = {"dim_instrument", "dim_date", "fct_futures_bars_daily"}
    idle = {k.path[-1] for k in plan_warehouse(instance, settings).models}
    assert not idle & (reference | built_on_it)

    toml = euro.home / "instruments.toml"
    original = toml.read_text()
    pound = original.split("[instruments.6E]")[1].replace('name = "Euro FX"', 'name = "Pound"')
    toml.write_text(f"{original}\n[instruments.6B]{pound}")
    try:
        changed = {k.path[-1] for k in plan_warehouse(instance, settings).models}
    finally:
        toml.write_text(original)
    assert reference | built_on_it <= changed
