"""A vendor CSV of a continuous series: `--symbol ES.c.1` (or a contract column naming the
series in every row, as a vendor's export writes it) files each session's bars under the
contract ES.c.1 held that day, mapped as DBN files of it are, so they serve as ES.c.1 and
never as ES.c.0; a volume series, whose contracts follow volumes the file lacks, is refused
naming what to pass. Real CLI, Dagster instance and Delta lake."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.client import Spine
from market_spine.futures import keys
from market_spine.lake import Lake
from market_spine.providers.file import read_bars
from market_spine.providers.file_formats import FileImportError
from market_spine.providers.simulated import SimulatedMarket

#: Outside ES's March roll window: the front month is ESH4, the next ESM4.
DAY = date(2024, 2, 27)
FRONT, NEXT = "ESH4", "ESM4"
runner = CliRunner()


def series_csv(path: Path, day: date, contract: str, written: str | None = None) -> Path:
    """A CSV of `contract`'s session of `day` naming no contract, or naming `written` (a
    continuous symbol) in a symbol column on every row."""
    bars = (
        SimulatedMarket()
        .bars("ES", day, contract)
        .select(
            pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ"), "open", "high", "low", "close", "volume"
        )
    )
    if written is not None:
        bars = bars.with_columns(symbol=pl.lit(written))
    bars.write_csv(path)
    return path


def test_a_c1_import_files_the_next_contract_and_serves_it_as_c1_only(
    env_home: Path, tmp_path: Path
) -> None:
    path = series_csv(tmp_path / "es-c1.csv", DAY, NEXT)
    done = runner.invoke(app, ["import", "bars", str(path), "--symbol", "ES.c.1"])
    assert done.exit_code == 0, done.output
    # The session holds no bars of its front month: the checks counting them say it is
    # missing, naming the contract, as readiness judges it; nothing failed.
    shown = " ".join(done.output.split())
    assert shown.startswith("ES.c.1 from ") and "failed" not in shown, shown
    lacks = f"│ missing │ no bars of {FRONT}, the front contract of ES, on {DAY}"
    assert shown.count(lacks) == 2, shown
    raw = Lake(env_home / "lake").read(keys.table(keys.RAW_BARS))
    assert raw["contract"].unique().to_list() == [NEXT]
    spine = Spine(env_home, warn_empty=False)
    series = spine.bars("ES.c.1", DAY)
    assert series.height == 1380
    assert series["contract"].unique().to_list() == [NEXT]
    assert series["certification"].unique().to_list() == ["certified"]
    assert spine.bars("ES.c.0", DAY).is_empty()
    assert spine.daily("ES.c.0", DAY).is_empty()


def test_a_contract_column_naming_the_series_maps_like_the_symbol(tmp_path: Path) -> None:
    named = read_bars(series_csv(tmp_path / "export.csv", DAY, NEXT, "ES.c.1"), "ES")
    assert named.bars["contract"].unique().to_list() == [NEXT]
    by_symbol = read_bars(series_csv(tmp_path / "plain.csv", DAY, NEXT), "es.c.1")
    assert by_symbol.bars["contract"].unique().to_list() == [NEXT]
    with pytest.raises(FileImportError, match=r"its bars are of ES\.c\.1, not ES\.c\.0"):
        read_bars(tmp_path / "export.csv", "ES.c.0")


def test_between_the_roll_and_expiry_the_file_keeps_its_contract_and_says_so(
    tmp_path: Path,
) -> None:
    # ESH4 expires on 2024-03-15, a week after our roll (2024-03-07): Databento's ES.c.1 is
    # still ESM4, which the roll rule holds as ES.c.0; its ES.c.1 is ESU4.
    day = date(2024, 3, 12)
    found = read_bars(series_csv(tmp_path / "late.csv", day, NEXT), "ES.c.1")
    assert found.bars["contract"].unique().to_list() == [NEXT]
    [mapped, note] = found.notes
    assert "ES.c.1 held that day" in mapped
    assert "hold ESM4, not the roll rule's ES.c.1 contract (ESU4)" in note


@pytest.mark.parametrize("symbol", ["ES.v.0", "ES.n.1"])
def test_a_volume_or_open_interest_series_without_contracts_is_refused(
    tmp_path: Path, symbol: str
) -> None:
    path = series_csv(tmp_path / "es-v0.csv", DAY, FRONT)
    with pytest.raises(FileImportError) as refused:
        read_bars(path, symbol)
    said = str(refused.value)
    # Refused by what the file holds (no contract per bar), not by the symbol alone: the
    # example contract is the front one of the file's first session.
    assert f"{symbol} is a" in said and "continuous series" in said
    assert f"--symbol {FRONT}" in said and "(nothing was imported)" in said
