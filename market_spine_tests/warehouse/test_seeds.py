"""Which reference seeds a home's warehouse loads: the checked-in ones for the built-in roots,
the home's own (generated once per change of its instruments) when it configures more; a bad
instruments file stops a build before dbt starts."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.errors import InvalidInput
from market_spine.markets import instruments
from market_spine.warehouse import reference
from market_spine.warehouse.paths import SEEDS_DIR, home_seeds_path
from market_spine.warehouse.resource import WarehouseResource
from market_spine.warehouse.seeds import seed_versions, seeds_folder
from market_spine_tests.kit.homes import REPO

EXAMPLE = REPO / "instruments.example.toml"


@pytest.fixture(autouse=True)
def own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Roots registered here stay in a registry this test alone sees."""
    monkeypatch.setattr(instruments, "_INSTRUMENTS", dict(instruments._INSTRUMENTS))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _euro(home: Path, text: str | None = None) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    toml = home / "instruments.toml"
    toml.write_text(text or EXAMPLE.read_text())
    return toml


def test_a_home_with_the_built_in_roots_loads_the_checked_in_seeds(tmp_path: Path) -> None:
    assert seeds_folder(tmp_path, None) == SEEDS_DIR
    assert not home_seeds_path(tmp_path).exists()
    versions = seed_versions(None)
    assert versions == {
        name: hashlib.sha256((SEEDS_DIR / f"{name}.csv").read_bytes()).hexdigest()
        for name in reference.TABLES
    }


def test_a_configured_root_gets_its_contracts_sessions_and_specification(tmp_path: Path) -> None:
    folder = seeds_folder(tmp_path, _euro(tmp_path))
    assert folder == home_seeds_path(tmp_path)
    roots = {r["root"]: r for r in _rows(folder / "ref_futures_roots.csv")}
    assert sorted(roots) == ["6E", "CL", "ES", "NG"]
    assert roots["6E"]["venue"] == "CME_Currency" and float(roots["6E"]["tick_size"]) == 0.00005
    contracts = [r for r in _rows(folder / "ref_futures_contracts.csv") if r["root"] == "6E"]
    # Quarterly (HMUZ) for the ten contract years; March 2024 expired on Monday March 18.
    assert len(contracts) == 4 * len(reference.CONTRACT_YEARS)
    march = next(r for r in contracts if r["contract_code"] == "6EH2024")
    assert (march["local_symbol"], march["last_trade_date"]) == ("6EH4", "2024-03-18")
    sessions = _rows(folder / "ref_trading_sessions.csv")
    euro_days = [r for r in sessions if r["venue"] == "CME_Currency"]
    assert len(euro_days) == (reference.LAST_DAY - reference.FIRST_DAY).days + 1
    christmas = next(r for r in euro_days if r["date_day"] == "2024-12-25")
    assert christmas["is_holiday"] == "true" and christmas["is_trading_day"] == "false"
    # The built-in roots' rows are exactly the checked-in ones.
    builtin = [r for r in _rows(folder / "ref_futures_contracts.csv") if r["root"] != "6E"]
    assert builtin == _rows(SEEDS_DIR / "ref_futures_contracts.csv")


def test_seeds_are_regenerated_only_when_the_instruments_change(tmp_path: Path) -> None:
    toml = _euro(tmp_path)
    folder = seeds_folder(tmp_path, toml)
    written = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    versions = seed_versions(toml)
    assert seeds_folder(tmp_path, toml) == folder
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == written
    assert seed_versions(toml) == versions != seed_versions(None)

    # Another process registered the old 6E; a second root is added instead of changing it.
    text = EXAMPLE.read_text() + EXAMPLE.read_text().split("[instruments.6E]")[1].join(
        ["\n[instruments.6B]", ""]
    ).replace('name = "Euro FX"', 'name = "British pound"')
    toml.write_text(text)
    seeds_folder(tmp_path, toml)
    roots = [r["root"] for r in _rows(folder / "ref_futures_roots.csv")]
    assert roots == ["6B", "6E", "CL", "ES", "NG"]
    assert seed_versions(toml) != versions
    assert not list(tmp_path.glob("warehouse/.seeds*")), "no staging folder is left behind"


def test_a_bad_instruments_file_stops_the_build_before_dbt(tmp_path: Path) -> None:
    home = tmp_path / "home"
    toml = _euro(home, EXAMPLE.read_text().replace("tick_size = 0.00005", 'tick_size = "small"'))
    warehouse = WarehouseResource(home=str(home))
    with pytest.raises(InvalidInput, match=r"instruments.toml: \[instruments.6E\]: tick_size"):
        warehouse.run(["seed"])
    assert warehouse.instruments_path == toml
    assert not (home / "warehouse" / "dbt_target").exists()
    assert not warehouse.path.exists()


def test_process_names_a_bad_instruments_file_before_any_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    _euro(home, EXAMPLE.read_text().replace('listed_months = "HMUZ"', "listed_months = 3"))
    monkeypatch.setenv("MARKET_SPINE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    args = ["process", "--date", "2024-03-05", "--domain", "warehouse"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "[instruments.6E]: listed_months = 3 has the wrong type" in " ".join(
        result.output.split()
    )
    assert not (home / "warehouse").exists() and not (home / "dagster").exists()


def test_a_configured_home_loads_its_seeds_on_every_build(tmp_path: Path) -> None:
    """dbt reuses its parse of the home's seeds from one build to the next (an absolute seed
    folder broke the second build) and reloads them when the instruments change."""
    home = tmp_path / "home"
    toml = _euro(home)
    warehouse = WarehouseResource(home=str(home))
    for _ in range(2):
        assert warehouse.run(["seed"]).process.returncode == 0
    pound = EXAMPLE.read_text().split("[instruments.6E]")[1].replace("Euro FX", "Pound")
    toml.write_text(f"{EXAMPLE.read_text()}\n[instruments.6B]{pound}")
    assert warehouse.run(["seed"]).process.returncode == 0
    with warehouse.reading() as conn:
        roots = conn.execute("select root from reference.ref_futures_roots order by 1").fetchall()
        venues = conn.execute(
            "select distinct venue from reference.ref_trading_sessions"
        ).fetchall()
    assert [r for (r,) in roots] == ["6B", "6E", "CL", "ES", "NG"]
    assert ("CME_Currency",) in venues
