"""A capture never silently replaces another source's session: `process` over a vendor import
(and an import over a provider's capture) is refused in one line naming the day, what it holds
and `--replace`, and writes nothing; a scheduled run skips that session with a logged reason;
`--replace` proceeds and records the revision today; an import that would remove certified
minutes is refused with how many. Real Delta lake, real Dagster instance, the real CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from typer.testing import CliRunner

from market_spine.certification.tables import REVISIONS
from market_spine.cli import app
from market_spine.futures import keys
from market_spine.futures.capture_guard import FILE_SOURCE, WouldReplace, source_conflicts
from market_spine.futures.partitions import partition_key
from market_spine.lake import Lake
from market_spine.providers.simulated import SimulatedMarket
from market_spine.runs.launch import domain_assets, launch, materialize_range
from market_spine.runs.vendor_import import import_bars
from market_spine_tests.kit.home_copies import copied_with_instance, kept_instance
from market_spine_tests.kit.homes import settings_for

#: A session before ES's March roll: the front month is ESH4, the next ESM4.
DAY = date(2024, 3, 5)
FRONT = "ESH4"
NORMALIZED = keys.table(keys.NORMALIZED_BARS)
RAW = keys.table(keys.RAW_BARS)
runner = CliRunner()


@pytest.fixture(scope="module")
def _captured_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a home (`home`) whose lake holds the simulated market's ES capture of
    DAY, and the Dagster instance (`dagster`) that ran it: made once for the module."""
    prepared = tmp_path_factory.mktemp("captured")
    with kept_instance(prepared) as instance:
        [run] = materialize_range(
            settings_for(prepared / "home"), ["ES"], DAY, DAY, instance=instance
        )
    assert run.success
    return prepared


@pytest.fixture
def captured(_captured_once: Path, tmp_path: Path) -> Iterator[tuple[Path, dg.DagsterInstance]]:
    """A home and its instance after the simulated market's ES capture of DAY (a copy of
    `_captured_once`, so each test changes its own)."""
    with copied_with_instance(_captured_once, tmp_path / "captured") as copied:
        yield copied


def vendor_csv(path: Path, day: date, contract: str, minutes: int | None = None) -> Path:
    """A vendor CSV of one ES contract's bars of `day`, priced a point above the simulated
    market's so a replacement by a simulated capture shows in every close."""
    bars = SimulatedMarket().bars("ES", day, contract)
    bars = bars.head(minutes) if minutes else bars
    bars.select(
        pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("ts"),
        *(pl.col(c) + 1.0 for c in ("open", "high", "low", "close")),
        "volume",
        "contract",
    ).write_csv(path)
    return path


def one_line(output: str) -> str:
    return " ".join(output.split())


def test_process_over_an_imported_day_is_refused_and_replace_proceeds(
    env_home: Path, tmp_path: Path
) -> None:
    path = vendor_csv(tmp_path / "es-h4.csv", DAY, FRONT)
    imported = runner.invoke(app, ["import", "bars", str(path), "--symbol", "ES"])
    assert imported.exit_code == 0, imported.output
    lake = Lake(env_home / "lake")
    before = lake.read(NORMALIZED).sort("ts")
    version = lake.version(NORMALIZED)
    process = ["process", "--date", str(DAY), "--symbols", "ES", "--domain", "futures"]
    refused = runner.invoke(app, process)
    assert refused.exit_code == 2, refused.output
    said = one_line(refused.output)
    assert f"ES {DAY} holds {FRONT} from vendor file {path}" in said
    assert "a new simulated capture would replace" in said and "--replace" in said
    # Nothing was written: no new version, the imported bars as they were.
    assert lake.version(NORMALIZED) == version
    assert lake.read(NORMALIZED).sort("ts").equals(before)
    assert set(lake.read(RAW)["source"].to_list()) == {"file"}

    replaced = runner.invoke(app, [*process, "--replace"])
    assert replaced.exit_code == 0, replaced.output
    after = lake.read(NORMALIZED).sort("ts")
    simulated = SimulatedMarket().bars("ES", DAY, FRONT)
    assert after["close"].to_list() == simulated["close"].to_list()
    [revision] = lake.read(REVISIONS).filter(pl.col("dataset") == NORMALIZED).to_dicts()
    assert revision["trade_date"] == DAY and revision["rows_changed"] == simulated.height
    assert revision["recorded_at"].date() == datetime.now(UTC).date()
    assert revision["old_capture_id"] == before["capture_id"][0]
    # The session is the provider's now: its hourly re-capture goes on unasked.
    again = runner.invoke(app, process)
    assert again.exit_code == 0, again.output


def test_a_scheduled_capture_skips_the_imported_day_with_a_reason_and_runs_the_rest(
    home: Path, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    settings = settings_for(home)
    import_bars(settings, vendor_csv(tmp_path / "es-h4.csv", DAY, FRONT), "ES", instance=instance)
    lake = Lake(home / "lake")
    before = lake.read(NORMALIZED).sort("ts")
    nxt = date(2024, 3, 6)
    # What the hourly schedule launches: every futures asset, no replace tag.
    run = launch(
        settings,
        [k for a in domain_assets(settings, "futures") for k in a.keys],
        instance=instance,
        partition_range=(str(partition_key(DAY, "ES")), str(partition_key(nxt, "ES"))),
        launched_from="schedule",
    )
    assert run.success, run.failure
    after = lake.read(NORMALIZED)
    assert after.filter(pl.col("trade_date") == DAY).sort("ts").equals(before)
    assert after.filter(pl.col("trade_date") == nxt).height > 0
    raw = lake.read(RAW)
    assert set(raw.filter(pl.col("trade_date") == DAY)["source"].to_list()) == {"file"}
    logged = [
        r.user_message
        for r in instance.all_logs(run.run_id)
        if r.level >= 30 and "skipped" in r.user_message
    ]
    assert any(f"ES {DAY} holds {FRONT} from vendor file" in m for m in logged), logged


def test_importing_over_a_provider_capture_is_refused_and_writes_nothing(
    captured: tuple[Path, dg.DagsterInstance], tmp_path: Path
) -> None:
    home, instance = captured
    settings = settings_for(home)
    lake = Lake(home / "lake")
    version = lake.version(RAW)
    held = lake.read(RAW).filter(pl.col("contract") == FRONT)
    captured = held["capture_id"][0]
    # A cut-down file over the provider's day counts what it would take away, as any other.
    cut = vendor_csv(tmp_path / "es-h4-cut.csv", DAY, FRONT, 120)
    with pytest.raises(WouldReplace) as refused:
        import_bars(settings, cut, "ES", instance=instance)
    message = str(refused.value)
    assert "\n" not in message
    assert (
        f"{FRONT} on {DAY} holds {held.height:,} minutes (from simulated, capture {captured}) "
        f"and the file would remove {held.height - 120:,} of them" in message
    )
    assert "importing this file would replace bars from another source" in message
    assert "--replace" in message and "leave that day out of the file" in message
    # The next month the simulated market captured for the roll stays: the file has none of it.
    assert "ESM4 on" in message and "the file brings none of that contract" in message
    path = vendor_csv(tmp_path / "es-h4.csv", DAY, FRONT)
    with pytest.raises(WouldReplace) as refused:
        import_bars(settings, path, "ES", instance=instance)
    assert f"{FRONT} on {DAY} holds {held.height:,} minutes (from simulated" in str(refused.value)
    assert "the file would replace every one of them" in str(refused.value)
    assert lake.version(RAW) == version
    report = import_bars(settings, path, "ES", instance=instance, replace=True)
    assert report.success
    assert lake.read(NORMALIZED)["capture_id"].unique().to_list() == [
        lake.read(RAW).filter(pl.col("source") == "file")["capture_id"][0]
    ]


def test_a_cut_down_file_over_a_certified_day_is_refused_naming_the_minutes(
    home: Path, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    settings = settings_for(home)
    day, front = date(2024, 3, 11), "ESM4"
    full = import_bars(
        settings, vendor_csv(tmp_path / "full.csv", day, front), "ES", instance=instance
    )
    assert full.success and full.rows == 1380
    lake = Lake(home / "lake")
    version = lake.version(RAW)
    cut = vendor_csv(tmp_path / "cut.csv", day, front, 120)
    with pytest.raises(WouldReplace) as refused:
        import_bars(settings, cut, "ES", instance=instance)
    message = str(refused.value)
    assert "\n" not in message
    first = lake.read(RAW)["capture_id"][0]
    assert (
        f"{front} on {day} is certified with 1,380 minutes (from vendor file "
        f"{tmp_path / 'full.csv'}, capture {first})" in message
    )
    assert f"ES {day}" not in message
    assert "remove 1,260 of them" in message and "--replace" in message
    assert lake.version(RAW) == version and lake.read(NORMALIZED).height == 1380
    # The complete day again removes nothing: no confirmation needed.
    assert import_bars(
        settings, vendor_csv(tmp_path / "again.csv", day, front), "ES", instance=instance
    ).success
    assert import_bars(settings, cut, "ES", instance=instance, replace=True).success
    assert lake.read(NORMALIZED).height == 120


def test_a_one_bar_file_over_a_complete_uncertified_contract_day_is_refused_naming_it(
    env_home: Path, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    """The newest capture of a contract's session is the one read: a file of one minute of
    ESM4 would drop the 1,379 others the lake holds, though no certified minute (the front's)
    changes; a file adding minutes needs no confirmation."""
    settings = settings_for(env_home)
    nxt = "ESM4"  # the next contract on DAY: its bars feed ES.c.1 and the roll, not the front
    front = import_bars(
        settings, vendor_csv(tmp_path / "h4.csv", DAY, FRONT), "ES", instance=instance
    )
    assert front.success
    cut = vendor_csv(tmp_path / "m4-cut.csv", DAY, nxt, 120)
    assert import_bars(settings, cut, nxt, instance=instance).success
    full = vendor_csv(tmp_path / "m4.csv", DAY, nxt)
    added = import_bars(settings, full, nxt, instance=instance)
    assert added.success and added.rows == 1380
    lake = Lake(env_home / "lake")
    version = lake.version(RAW)
    one = vendor_csv(tmp_path / "m4-one.csv", DAY, nxt, 1)
    with pytest.raises(WouldReplace) as refused:
        import_bars(settings, one, nxt, instance=instance)
    message = str(refused.value)
    assert "\n" not in message
    assert f"{nxt} on {DAY} holds 1,380 minutes (from vendor file {full}" in message
    assert "the file would remove 1,379 of them" in message
    assert "nothing was imported" in message and "--replace" in message
    assert lake.version(RAW) == version
    through_cli = runner.invoke(app, ["import", "bars", str(one), "--symbol", nxt])
    assert through_cli.exit_code == 2, through_cli.output
    assert "would remove 1,379 of them" in one_line(through_cli.output)
    assert lake.version(RAW) == version
    assert import_bars(settings, one, nxt, instance=instance, replace=True).success
    raw = lake.read(RAW).filter(pl.col("contract") == nxt)
    newest = raw.filter(pl.col("capture_id") == pl.col("capture_id").max())
    assert newest.height == 1


def test_providers_replace_one_another_and_only_a_vendor_file_is_another_kind(
    _captured_once: Path,
) -> None:
    """A simulated capture over minutes the fake TWS stream landed (source `ib`), or an IB
    capture over a simulated one, is the usual re-capture; only a vendor file is guarded."""
    lake = Lake(_captured_once / "home" / "lake")
    assert source_conflicts(lake, "ES", [DAY], "ib") == []
    [conflict] = source_conflicts(lake, "ES", [DAY], FILE_SOURCE)
    assert conflict.trade_date == DAY and {h.source for h in conflict.held} == {"simulated"}


def test_a_one_bar_file_over_minutes_no_raw_capture_holds_is_refused(
    home: Path, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    """The stream lands minutes into the normalized table alone: a file of one front minute
    would replace the session's 1,380 with it though no raw capture of the contract is cut."""
    from market_spine.streaming.lander import land_minutes, new_capture_id

    lake = Lake(home / "lake")
    streamed = (
        SimulatedMarket()
        .bars("ES", DAY, FRONT)
        .with_columns(trade_date=pl.lit(DAY), capture_id=pl.lit(new_capture_id()))
    )
    land_minutes(lake, streamed.to_dicts(), {"source": "ib"})
    assert lake.read(NORMALIZED).height == 1380 and not lake.exists(RAW)
    one = vendor_csv(tmp_path / "h4-one.csv", DAY, FRONT, 1)
    with pytest.raises(WouldReplace) as refused:
        import_bars(settings_for(home), one, "ES", instance=instance)
    message = str(refused.value)
    assert f"{FRONT} on {DAY} holds 1,380 minutes (from the stream" in message
    assert "the file would remove 1,379 of them" in message and "--replace" in message
    assert lake.read(NORMALIZED).height == 1380 and not lake.exists(RAW)
