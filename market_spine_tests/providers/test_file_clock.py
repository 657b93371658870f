"""A vendor file's clock: timestamps without a UTC offset are refused unless `--tz` names their
zone (or their column's name says UTC), a bad zone name is a clear error, and bars no session
holds (a Saturday, the daily maintenance break) are refused naming them and the root's hours,
with nothing written."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from market_spine.errors import InvalidDate
from market_spine.lake import Lake
from market_spine.providers.file import read_bars
from market_spine.providers.file_formats import FileImportError
from market_spine.runs.vendor_import import import_bars
from market_spine_tests.kit.homes import DATA, settings_for

HEADER = "timestamp,open,high,low,close,volume\n"
RAW = "raw/futures_bars_1m"


def _csv(tmp_path: Path, *stamps: str, header: str = HEADER) -> Path:
    """An ES CSV with one valid bar at each of `stamps` (written as given)."""
    path = tmp_path / "es.csv"
    rows = "".join(f"{ts},5100.25,5101.0,5099.5,5100.5,{10 + i}\n" for i, ts in enumerate(stamps))
    path.write_text(header + rows)
    return path


def test_bars_outside_every_session_are_refused_naming_them_and_the_hours(
    home: Path, tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        "2024-03-05T14:30:00Z",
        "2024-03-05T14:31:00Z",
        "2024-03-09T15:00:00Z",  # a Saturday
        "2024-03-05T22:30:00Z",  # 16:30 CT: the daily maintenance break
    )
    with pytest.raises(FileImportError) as err:
        import_bars(settings_for(home), path, "ES")
    text = str(err.value)
    assert text.startswith("es.csv: 2 bar(s) fall outside every ES session")
    assert "line 4 at 2024-03-09 15:00 UTC (Saturday 09:00 CST)" in text
    assert "line 5 at 2024-03-05 22:30 UTC (Tuesday 16:30 CST)" in text
    assert "ES trades 17:00 to 16:00 America/Chicago" in text
    assert "daily 16:00-17:00 break" in text and "at weekends or on holidays" in text
    assert "--stamp close" in text and "--tz" in text and "remove those bars" in text
    assert text.endswith("(nothing was imported)")
    assert not Lake(home / "lake").exists(RAW)


def test_a_bar_in_a_holiday_break_is_refused_but_the_holiday_segment_imports(
    tmp_path: Path,
) -> None:
    # MLK day 2024-01-15: Globex trades the morning into trade date 2024-01-16, then halts
    # 12:00-17:00 CT; a bar at 13:00 CT is in that break.
    morning = _csv(tmp_path, "2024-01-15T15:00:00Z")
    assert read_bars(morning, "ES").bars["trade_date"].to_list() == [datetime(2024, 1, 16).date()]
    halted = _csv(tmp_path, "2024-01-15T15:00:00Z", "2024-01-15T19:00:00Z")
    with pytest.raises(FileImportError, match=r"line 3 at 2024-01-15 19:00 UTC \(Monday 13:00"):
        read_bars(halted, "ES")


def test_naive_timestamps_are_refused_with_the_fix(home: Path, tmp_path: Path) -> None:
    path = _csv(tmp_path, "2024-03-05 08:30:00", "2024-03-05 08:31:00")
    with pytest.raises(FileImportError) as err:
        import_bars(settings_for(home), path, "ES")
    text = str(err.value)
    assert "line 2: timestamp '2024-03-05 08:30:00' has no time zone" in text
    assert "(2 row(s) like this)" in text
    assert "write each timestamp with its offset" in text and "--tz America/Chicago" in text
    assert not Lake(home / "lake").exists(RAW)


def test_tz_reads_naive_timestamps_on_that_clock_and_offsets_as_written(tmp_path: Path) -> None:
    path = _csv(tmp_path, "2024-03-05 08:30:00", "2024-03-05T08:31:00-06:00", "2024-03-05 08:32")
    chicago = read_bars(path, "ES", tz="America/Chicago")
    assert chicago.bars["ts"].to_list() == [
        datetime(2024, 3, 5, 14, m, tzinfo=UTC) for m in (30, 31, 32)
    ]
    assert chicago.tz == "America/Chicago"
    assert {c.request["tz"] for _, c in chicago.captures()} == {"America/Chicago"}
    # On the UTC clock the naive bars stay where they are; the one with an offset does not move.
    utc = read_bars(path, "ES", tz="UTC").bars["ts"].to_list()
    assert utc == [
        datetime(2024, 3, 5, 8, 30, tzinfo=UTC),
        datetime(2024, 3, 5, 8, 32, tzinfo=UTC),
        datetime(2024, 3, 5, 14, 31, tzinfo=UTC),
    ]


def test_a_column_named_utc_says_the_zone(tmp_path: Path) -> None:
    path = _csv(
        tmp_path, "2024-03-05 14:30:00", header=HEADER.replace("timestamp", "Timestamp_UTC")
    )
    assert read_bars(path, "ES").bars["ts"][0] == datetime(2024, 3, 5, 14, 30, tzinfo=UTC)


def test_parquet_naive_datetimes_need_tz_too(tmp_path: Path) -> None:
    pq = tmp_path / "es.parquet"
    pl.read_csv(_csv(tmp_path, "2024-03-05 08:30:00")).with_columns(
        pl.col("timestamp").str.to_datetime()
    ).write_parquet(pq)
    with pytest.raises(FileImportError, match="row 1: timestamp '2024-03-05 08:30:00' has no"):
        read_bars(pq, "ES")
    bars = read_bars(pq, "ES", tz="America/Chicago").bars
    assert bars["ts"][0] == datetime(2024, 3, 5, 14, 30, tzinfo=UTC)


def test_a_wall_clock_the_zone_repeats_names_no_instant(tmp_path: Path) -> None:
    # 01:30 happens twice in Chicago on 2024-11-03, when clocks go back.
    path = _csv(tmp_path, "2024-11-04 08:30:00", "2024-11-03 01:30:00")
    with pytest.raises(FileImportError) as err:
        read_bars(path, "ES", tz="America/Chicago")
    text = str(err.value)
    assert "line 3: timestamp '2024-11-03 01:30:00' is skipped or repeated" in text
    assert "write those timestamps with their UTC offset" in text


def test_a_bad_zone_is_a_clear_error(tmp_path: Path) -> None:
    path = _csv(tmp_path, "2024-03-05 08:30:00")
    with pytest.raises(InvalidDate) as err:
        read_bars(path, "ES", tz="Chicago")
    assert "--tz 'Chicago' is not an IANA time zone (did you mean America/Chicago" in str(err.value)
    with pytest.raises(InvalidDate, match="pass a name like America/Chicago"):
        read_bars(path, "ES", tz="Mars/Olympus")
    dbn = DATA / "glbx-es-nq_ohlcv-1m_2024-07-01T23-40_2024-07-02T00-10.dbn.zst"
    with pytest.raises(FileImportError, match=r"DBN timestamps are nanoseconds .* drop --tz"):
        read_bars(dbn, "ES", tz="UTC")
