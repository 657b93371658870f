"""A root named for one command through MARKET_SPINE_INSTRUMENTS stays known to the home: a
later command without the variable builds the warehouse over that root's bars."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.markets import instruments
from market_spine_tests.kit.homes import REPO

runner = CliRunner()


@pytest.fixture(autouse=True)
def own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instruments, "_INSTRUMENTS", dict(instruments._INSTRUMENTS))


def test_a_root_from_a_file_named_once_is_kept_with_its_data(
    env_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = tmp_path / "euro.toml"
    named.write_text((REPO / "instruments.example.toml").read_text())
    monkeypatch.setenv("MARKET_SPINE_INSTRUMENTS", str(named))
    once = ["process", "--date", "2024-03-05", "--symbols", "6E", "--domain", "futures"]
    first = runner.invoke(app, once)
    assert first.exit_code == 0, first.output
    assert "recorded 6E from" in " ".join(first.output.split())
    assert "[instruments.6E]" in (env_home / "instruments.toml").read_text()

    monkeypatch.delenv("MARKET_SPINE_INSTRUMENTS")
    later = runner.invoke(app, ["process", "--date", "2024-03-05", "--domain", "warehouse"])
    assert later.exit_code == 0, later.output
    with duckdb.connect(str(env_home / "warehouse" / "spine.duckdb"), read_only=True) as conn:
        [(bars, missing)] = conn.execute(
            "select count(*), count(*) - count(contract_instrument_key) "
            "from marts.fct_futures_bars_daily where root_instrument_key = 'FUT:6E'"
        ).fetchall()
    assert bars == 1 and missing == 0
