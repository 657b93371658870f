"""A damaged data file is repaired by replacing it, never by reading it: the replacement a repair
makes drops the damaged file unread (its rows are missing from the rows replaced, and the
caller is told which file), on a local lake and on object storage; the command `market-spine
verify` prints succeeds as printed, and certification says the old rows were unreadable.

Meanwhile one damaged file blocks only the reads that reach it: `Spine.sql` and the warehouse's
lake views answer queries over every other partition, and refuse one that reaches the damaged
rows with the file, the partition and the repair.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from market_spine.certification.tables import CERTIFICATIONS
from market_spine.cli import app
from market_spine.client import Spine
from market_spine.errors import LakeDamaged
from market_spine.lake import Lake
from market_spine.lake.verify import verify_lake
from market_spine.settings import Settings
from market_spine.warehouse.build import _lake_minute_dates as lake_minute_dates
from market_spine.warehouse.dbt_plugin.lake_views import refresh_views
from market_spine_tests.kit.damage import forget_lake_caches
from market_spine_tests.kit.frames import DS, day_frame, put
from market_spine_tests.kit.homes import WEEK, settings_for

DAY = date(2024, 1, 2)
BARS = "normalized/futures_bars_1m"
runner = CliRunner()


def _cut_short(lake: Lake, dataset: str, symbol: str) -> str:
    """Cut the first file of `symbol` in `dataset` to half its bytes; its table-relative path."""
    f = next(f for f in lake.snapshot(dataset).files if f.partition_raw.get("symbol") == symbol)
    data = lake.storage.read(f.path)
    lake.storage.put(f.path, data[: len(data) // 2])
    return f.rel


@pytest.fixture(params=["local", "s3"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A home whose lake is a local folder, or a bucket of the S3-compatible server."""
    if request.param == "local":
        yield settings_for(tmp_path / "home")
    else:
        s3 = request.getfixturevalue("s3")
        yield s3.settings(tmp_path / "home", s3.bucket())
    forget_lake_caches()


def test_a_replacement_drops_a_damaged_file_unread(settings: Settings) -> None:
    lake = settings.lake()
    put(lake, DAY, "CL", 1.0)
    put(lake, DAY, "ES", 2.0)
    rel = _cut_short(lake, DS, "CL")
    forget_lake_caches()
    lake = settings.lake()
    with pytest.raises(LakeDamaged, match="symbol=CL"):
        lake.read(DS, equals={"symbol": "CL"})
    assert lake.read(DS, equals={"symbol": "ES"}).height == 60

    done = lake.replace(
        DS,
        day_frame(DAY, "CL", 3.0),
        equals={"trade_date": DAY, "symbol": "CL"},
        partition_by=["symbol"],
        return_replaced=True,
    )

    assert [u.damage.path for u in done.damaged] == [rel]
    assert done.damaged[0].covers("CL", DAY) and not done.damaged[0].covers("ES", DAY)
    assert done.replaced is not None and done.replaced.height == 0
    forget_lake_caches()
    lake = settings.lake()
    assert lake.read(DS, equals={"symbol": "CL"})["close"].unique().to_list() == [3.0]
    assert not verify_lake(lake, [DS], deep=True).damaged


def test_sql_and_warehouse_views_refuse_only_what_reaches_the_damage(copy: Path) -> None:
    rel = _cut_short(Lake(copy / "lake"), BARS, "CL")
    forget_lake_caches()
    spine = Spine(settings=settings_for(copy), warn_empty=False)

    es = spine.sql("select count(*) as n from futures_bars_1m where symbol = 'ES'")
    assert es["n"][0] == spine.bars("ES", *WEEK).height > 0
    assert spine.sql("select count(*) as n from futures_bars_daily")["n"][0] > 0
    assert spine.sql("select 1 as one")["one"][0] == 1
    later = "select count(*) as n from futures_bars_1m where trade_date > DATE '2024-03-20'"
    assert spine.sql(later)["n"][0] == 0
    for query in (
        "select count(*) from futures_bars_1m",
        "select max(close) from futures_bars_1m where symbol = 'CL'",
    ):
        with pytest.raises(LakeDamaged) as refused:
            spine.sql(query)
        assert refused.value.path == rel and "symbol=CL" in refused.value.partition
        assert "market-spine process" in refused.value.repair

    conn = duckdb.connect()
    refresh_views(conn, Lake(copy / "lake"))
    held = conn.execute(
        "select count(*) from normalized.futures_bars_1m where symbol = 'ES'"
    ).fetchone()
    assert held is not None and held[0] == es["n"][0]
    with pytest.raises(duckdb.Error, match=f"{rel}.*market-spine process"):
        conn.execute("select sum(close) from normalized.futures_bars_1m").fetchall()
    # Planning a warehouse build reads every date the minute bars hold: one clear refusal.
    with pytest.raises(LakeDamaged) as planned:
        lake_minute_dates(Lake(copy / "lake"))
    assert planned.value.path == rel


def _repair_of(output: str, rel: str) -> list[str]:
    """The command `verify` printed as the repair of `rel`, as arguments of the CLI."""
    text = " ".join(output.split())
    assert f"{BARS}: {rel}" in text, output
    command = text.split("repair: ", 1)[1].split("`")[1]
    assert command.startswith("market-spine process "), command
    return shlex.split(command)[1:]


@pytest.mark.parametrize("extra", [[], ["--replace"]], ids=["as printed", "with --replace"])
def test_the_repair_verify_prints_succeeds(
    copy: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str]
) -> None:
    monkeypatch.setenv("MARKET_SPINE_HOME", str(copy))
    truth = Spine(settings=settings_for(copy), warn_empty=False).bars("CL", *WEEK)
    rel = _cut_short(Lake(copy / "lake"), BARS, "CL")
    forget_lake_caches()
    found = runner.invoke(app, ["verify"])
    assert found.exit_code == 1, found.output
    command = _repair_of(found.output, rel)

    repaired = runner.invoke(app, [*command, *extra])

    assert repaired.exit_code == 0, repaired.output
    forget_lake_caches()
    clean = runner.invoke(app, ["verify", "--deep"])
    assert clean.exit_code == 0 and "no damage" in clean.output, clean.output
    bars = Spine(settings=settings_for(copy), warn_empty=False).bars("CL", *WEEK)
    assert bars["close"].to_list() == truth["close"].to_list()
    reasons = Lake(copy / "lake").read(CERTIFICATIONS, equals={"symbol": "CL"})["reason"]
    assert any(f"damaged file {rel}" in r for r in reasons.to_list()), reasons.to_list()
