"""Vendor file import: the real CME 6E CSV and ES/NQ DBN files, configured roots, and malformed
files (a clear error naming the row and fix, and nothing written).

The 6E pipeline runs through the CLI in a subprocess: the code location its runs belong to builds
its definitions from the environment's settings (`MARKET_SPINE_INSTRUMENTS`) when loaded.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from market_spine.errors import InvalidInput, UnknownSymbol
from market_spine.lake import Lake
from market_spine.markets import calendars, instruments
from market_spine.markets.instrument_config import configured_roots, load_instruments
from market_spine.providers.file import read_bars
from market_spine.providers.file_formats import FileImportError
from market_spine.runs.vendor_import import import_bars
from market_spine.settings import Settings
from market_spine_tests.kit.homes import DATA, REPO, settings_for

EURO = DATA / "6EH4.XCME_1min_bars_20240101_20240131.csv.gz"
DBN = DATA / "glbx-es-nq_ohlcv-1m_2024-07-01T23-40_2024-07-02T00-10.dbn.zst"
EXAMPLE = REPO / "instruments.example.toml"
RAW = "raw/futures_bars_1m"
NORMALIZED = "normalized/futures_bars_1m"
CONTINUOUS = ("normalized/futures_continuous_1m", "analytics/futures_continuous_daily")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def euro(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """6E configured from a copy of the example file, in a registry this test alone sees."""
    monkeypatch.setattr(instruments, "_INSTRUMENTS", dict(instruments._INSTRUMENTS))
    toml = tmp_path / "instruments.toml"
    toml.write_text(EXAMPLE.read_text())
    assert configured_roots(toml) == ("6E",)
    return toml


@pytest.fixture(scope="module")
def shared_instance() -> Iterator[dg.DagsterInstance]:
    """One instance for the tests whose import must fail before any run (setup is slow)."""
    with dg.instance_for_test() as inst:
        yield inst


# --- configuration ---------------------------------------------------------------------------


def test_example_file_defines_euro_fx() -> None:
    (inst,) = load_instruments(EXAMPLE)
    assert (inst.root, inst.exchange, inst.calendar) == ("6E", "CME", "CME_Currency")
    assert (inst.tick_size, inst.multiplier, inst.listed_months) == (0.00005, 125000, "HMUZ")
    assert inst.expiry_rule == "fx_third_wednesday"


def test_configured_root_has_sessions_and_contracts(euro: Path) -> None:
    # 6EH4: two business days before Wednesday March 20, 2024.
    assert instruments.front_contract("6E", date(2024, 1, 10)).local_symbol == "6EH4"
    assert instruments.parse_local_symbol("6EH4", near=date(2024, 1, 1)).last_trade_date == date(
        2024, 3, 18
    )
    mlk = calendars.require_session("6E", date(2024, 1, 16))
    assert mlk.open == utc(2024, 1, 14, 23) and len(mlk.expected_minutes()) == 2 * 1380
    assert calendars.session("6E", date(2024, 1, 15)) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[instruments.6E\nname = 1", "not valid TOML"),
        ('[instruments.6E]\nname = "Euro FX"', "missing field(s) exchange"),
        ("[other]\nx = 1", "expected only [instruments.<ROOT>] tables"),
        (EXAMPLE.read_text().replace("tick_size = 0.00005", 'tick_size = "tiny"'), "tick_size"),
        (EXAMPLE.read_text().replace("tick_size = 0.00005", "tick_size = -1.0"), "positive"),
        (EXAMPLE.read_text().replace('"CME_Currency"', '"CME_Nope"'), "calendar 'CME_Nope'"),
        (EXAMPLE.read_text().replace('"HMUZ"', '"HMUA"'), "listed_months"),
        (EXAMPLE.read_text() + "colour = 'blue'\n", "unknown field(s) colour"),
        (EXAMPLE.read_text().replace("[instruments.6E]", "[instruments.6e]"), "invalid root"),
    ],
)
def test_bad_instruments_file_is_a_clear_error(
    text: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(instruments, "_INSTRUMENTS", dict(instruments._INSTRUMENTS))
    toml = tmp_path / "instruments.toml"
    toml.write_text(text)
    with pytest.raises(InvalidInput, match="instruments") as err:
        configured_roots(toml)
    assert expected in str(err.value) and str(toml) in str(err.value)
    assert instruments.known_symbols() == ["CL", "ES", "NG"]


def test_missing_instruments_file_named_by_env_is_an_error(tmp_path: Path) -> None:
    missing = {"MARKET_SPINE_HOME": str(tmp_path), "MARKET_SPINE_INSTRUMENTS": str(tmp_path / "x")}
    with pytest.raises(InvalidInput, match=r"MARKET_SPINE_INSTRUMENTS=.* does not exist"):
        Settings.from_env(missing)
    assert Settings.from_env({"MARKET_SPINE_HOME": str(tmp_path)}).configured_roots() == ()


# --- the real 6E file -----------------------------------------------------------------------


def test_real_6e_file_reads_as_open_stamped_sessions(euro: Path) -> None:
    fb = read_bars(EURO, "6E", stamp="close")
    bars = fb.bars
    assert bars.height == 29_996 and fb.mapping["ts"] == "timestamp_utc"
    # The file's first bar is labelled 23:01 (its close): it opened at 17:00 CT, the session open.
    assert bars["ts"][0] == utc(2024, 1, 1, 23, 0) and bars["trade_date"][0] == date(2024, 1, 2)
    assert bars["ts"][-1] == utc(2024, 1, 31, 23, 58)
    per_day = dict(bars.group_by("trade_date").len().iter_rows())
    assert len(per_day) == 22 and date(2024, 1, 15) not in per_day
    # MLK (Monday 2024-01-15) trades into trade date 2024-01-16, from Sunday's 17:00 CT open.
    mlk = bars.filter(pl.col("trade_date") == date(2024, 1, 16))
    assert mlk["ts"].min() == utc(2024, 1, 14, 23) and per_day[date(2024, 1, 16)] == 2631
    assert mlk.filter(pl.col("ts").dt.date() == date(2024, 1, 15)).height > 1000
    assert per_day[date(2024, 2, 1)] == 59  # the file stops an hour into that session
    assert set(bars["contract"]) == {"6EH4"} and set(bars["symbol"]) == {"6E"}
    assert bars["vwap"].is_null().all() and bars["trades"].is_null().all()
    assert not any("outside" in n for n in fb.notes)
    # One capture per session, each carrying the file's hash rather than a copy of the file.
    captures = fb.captures()
    assert len(captures) == 22
    assert captures[0][1].request["sha256"] == hashlib.sha256(EURO.read_bytes()).hexdigest()
    assert sum(c.bars.height for _, c in captures) == 29_996


def test_real_6e_file_read_as_open_stamped_is_refused_naming_the_off_session_bars(
    euro: Path,
) -> None:
    with pytest.raises(FileImportError) as err:
        read_bars(EURO, "6E")  # wrong: the file stamps bars at their close
    text = str(err.value)
    # Each session's last bar (16:00 CT) then falls in the daily break: 21 sessions + MLK's break.
    assert "22 bar(s) fall outside every 6E session" in text
    assert "line 1367 at 2024-01-02 22:00 UTC (Tuesday 16:00 CST)" in text
    assert "6E trades 17:00 to 16:00 America/Chicago" in text
    assert "--stamp close" in text and "nothing was imported" in text


def test_real_6e_file_contract_symbol_filters_nothing_and_labels(euro: Path) -> None:
    fb = read_bars(EURO, "6EH4", stamp="close")
    assert fb.bars.height == 29_996 and set(fb.bars["contract"]) == {"6EH4"} and not fb.notes


def _cli(home: Path, toml: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MARKET_SPINE_HOME": str(home),
        "MARKET_SPINE_PROFILE": "dev",
        "MARKET_SPINE_INSTRUMENTS": str(toml),
    }
    return subprocess.run(
        [sys.executable, "-m", "market_spine.cli.importing", "bars", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=home.parent,
    )


def test_real_6e_import_runs_the_normalized_assets_and_completeness(
    euro: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    done = _cli(home, euro, str(EURO), "--symbol", "6E", "--stamp", "close", "--json")
    # The file ends an hour into its last session, which its checks leave FAILED: exit 3.
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert all(r["success"] for r in report["runs"])
    assert {(f["dataset"], f["partition"], f["series"]) for f in report["failed"]} == {
        ("normalized/futures_bars_1m", "2024-02-01|6E", None),
        ("analytics/futures_bars_daily", "2024-02-01|6E", None),
        *(
            (dataset, "2024-02-01|6E", series)
            for dataset in CONTINUOUS
            for series in ("6E.c.0", "6E.v.0")
        ),
    }
    assert report["rows"] == 29_996 and report["raw_version"] == 0
    days = {d["trade_date"]: d for d in report["days"]}
    # Every full session is complete: its absent minutes are short quiet runs (no trades), the
    # longest 6 minutes on the MLK holiday afternoon; none counts as missing data.
    expected = {
        s.trade_date.isoformat(): len(s.expected_minutes())
        for s in calendars.sessions("6E", date(2024, 1, 2), date(2024, 2, 1))
    }
    assert {d: v["expected_bars"] for d, v in days.items()} == expected
    full = [d for d in days.values() if d["trade_date"] != "2024-02-01"]
    assert len(full) == 21 and all(d["missing_minutes"] == 0 for d in full)
    assert all(d["unexpected_bars"] == 0 for d in days.values())
    assert days["2024-01-16"]["no_trade_minutes"] == 2760 - 2631
    # The file ends 23:59 UTC on Jan 31, an hour into trade date 2024-02-01: the rest is missing.
    last = days["2024-02-01"]
    assert last["missing_minutes"] == 1380 - 59 and "file ends inside" in last["note"]
    assert last["missing_runs"] == ["2024-01-31T23:59:00Z +1321m"]
    # The Dagster completeness check on the normalized asset finds the same, partition by
    # partition: only the last session fails.
    complete = {
        c["partition"]: c
        for c in report["checks"]
        if c["check"] == "completeness" and c["asset"] == "normalized/futures_bars_1m"
    }
    assert {f"{d}|6E" for d in expected} <= set(complete)  # and MLK day, which owes nothing
    assert [p for p, c in complete.items() if not c["passed"]] == ["2024-02-01|6E"]
    meta = complete["2024-02-01|6E"]["metadata"]
    assert meta["missing_minutes"] == 1321 and meta["unexpected_bars"] == 0
    assert sum(c["metadata"]["expected_bars"] for c in complete.values()) == sum(expected.values())
    assert sum(c["metadata"]["present_bars"] for c in complete.values()) == 29_996
    assert {c["check"] for c in report["checks"]} >= {"completeness", "validity", "anomalies"}
    # The rows are raw captures with provenance, and the normalized asset holds them.
    lake = Lake(home / "lake")
    raw = lake.read(RAW)
    assert raw.height == 29_996 and set(raw["source"]) == {"file"}
    assert raw["capture_id"].n_unique() == 22
    request = json.loads(raw["request"][0])
    assert request["sha256"] == hashlib.sha256(EURO.read_bytes()).hexdigest()
    assert request["stamp"] == "close" and request["format"] == "csv"
    normalized = lake.read(NORMALIZED, equals={"symbol": "6E"})
    assert normalized.height == 29_996 and normalized["ts"].min() == utc(2024, 1, 1, 23)


# --- the DBN file -----------------------------------------------------------------------------


def test_dbn_file_filters_es_and_scales_prices() -> None:
    fb = read_bars(DBN, "ES")
    bars = fb.bars
    assert bars.height == 30 and fb.skipped == {"NQU4": 30}
    assert set(bars["contract"]) == {"ESU4"} and set(bars["trade_date"]) == {date(2024, 7, 2)}
    assert bars["ts"][0] == utc(2024, 7, 1, 23, 40) and bars["ts"][-1] == utc(2024, 7, 2, 0, 9)
    assert (bars["open"][0], bars["high"][0], bars["low"][0], bars["volume"][0]) == (
        5527.25,
        5527.5,
        5527.0,
        180,
    )
    assert read_bars(DBN, "ESU4").bars.equals(bars)


def test_dbn_symbol_not_in_file_or_unknown() -> None:
    with pytest.raises(FileImportError, match=r"no rows for CL \(the file holds ESU4, NQU4\)"):
        read_bars(DBN, "CL")
    with pytest.raises(FileImportError, match="no rows for ESZ4"):
        read_bars(DBN, "ESZ4")
    with pytest.raises(UnknownSymbol, match="unknown symbol 'NQ'"):
        read_bars(DBN, "NQ")
    with pytest.raises(FileImportError, match="stamped at their open"):
        read_bars(DBN, "ES", stamp="close")


def test_dbn_import_end_to_end(home: Path, instance: dg.DagsterInstance) -> None:
    report = import_bars(settings_for(home), DBN, "ES", instance=instance)
    assert report.rows == 30 and report.raw_version == 0 and report.skipped == {"NQU4": 30}
    (day,) = report.days
    assert day.trade_date == date(2024, 7, 2) and day.rows == 30
    assert "file starts inside" in day.note
    (complete,) = [
        c
        for c in report.checks
        if c.check == "completeness" and c.asset == "normalized/futures_bars_1m"
    ]
    assert complete.metadata["present_bars"] == 30
    assert Lake(home / "lake").read(NORMALIZED).height == 30
    # A bad file afterwards leaves the lake exactly as it was.
    bad = home.parent / "bad.csv"
    bad.write_text("ts,open,high,low,close\n2024-07-02 14:00:00,1,2,1,2\n")
    with pytest.raises(FileImportError, match="no 'volume' column"):
        import_bars(settings_for(home), bad, "ES", instance=instance)
    assert Lake(home / "lake").version(RAW) == 0


# --- malformed files ----------------------------------------------------------------------------

HEADER = "timestamp,open,high,low,close,volume\n"


def _es_rows(n: int = 5) -> list[str]:
    """n valid ES bars from 14:00 UTC on 2024-07-02."""
    return [f"2024-07-02T14:{m:02d}:00Z,5500.25,5501.0,5499.5,5500.5,{10 + m}\n" for m in range(n)]


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_baseline_csv_is_valid_and_mapping_and_parquet_work(tmp_path: Path) -> None:
    path = _write(tmp_path, "es.csv", HEADER + "".join(_es_rows()))
    bars = read_bars(path, "ESU4").bars
    assert bars.height == 5 and bars["ts"][0] == utc(2024, 7, 2, 14)
    assert set(bars["contract"]) == {"ESU4"}
    renamed = _write(
        tmp_path, "es2.csv", HEADER.replace("timestamp", "bar_time") + "".join(_es_rows())
    )
    assert read_bars(renamed, "ESU4", mapping={"ts": "bar_time"}).bars.equals(bars)
    pq = tmp_path / "es.parquet"
    pl.read_csv(path).with_columns(
        pl.col("timestamp").str.to_datetime(time_zone="UTC")
    ).write_parquet(pq)
    assert read_bars(pq, "ESU4").bars.equals(bars)
    closes = read_bars(path, "ESU4", stamp="close").bars
    assert closes["ts"][0] == utc(2024, 7, 2, 13, 59)


def _malformed() -> list[tuple[str, str | bytes, str, str]]:
    rows = _es_rows()
    truncated = gzip.compress((HEADER + "".join(rows)).encode())[:-12]
    return [
        ("truncated.csv.gz", truncated, "ES", "gzip stream is truncated or corrupt"),
        ("real_truncated.csv.gz", EURO.read_bytes()[:50_000], "ES", "truncated or corrupt"),
        ("empty.csv", "", "ES", "the file is empty"),
        ("header_only.csv", HEADER, "ES", "header but no bars"),
        (
            "no_high.csv",
            HEADER.replace("high,", "") + "2024-07-02 14:00:00,1,1,1,1\n",
            "ES",
            "no 'high' column",
        ),
        (
            "bad_ts.csv",
            HEADER + rows[0] + "2024-07-02 25:61:00,1,1,1,1,1\n",
            "ES",
            "line 3: timestamp '2024-07-02 25:61:00' does not parse as ts",
        ),
        (
            "bad_price.csv",
            HEADER + rows[0] + rows[1].replace("5501.0", "abc"),
            "ES",
            "line 3: high 'abc' does not parse",
        ),
        (
            "high_low.csv",
            HEADER + rows[0] + rows[1] + "2024-07-02T14:02:00Z,5500,5498,5499,5500,1\n",
            "ES",
            "line 4: high 5498.0 is below low 5499.0",
        ),
        (
            "neg_vol.csv",
            HEADER + rows[0] + rows[1].replace(",11\n", ",-11\n"),
            "ES",
            "line 3: volume -11 is negative",
        ),
        (
            "dupe.csv",
            HEADER + rows[0] + rows[1] + rows[1],
            "ES",
            "lines 3, 4: duplicate bar at 2024-07-02 14:01:00",
        ),
        (
            "odd_minute.csv",
            HEADER + rows[0].replace("14:00:00Z", "14:00:30Z"),
            "ES",
            "not on a whole minute",
        ),
        (
            "mixed.csv",
            "ts,open,high,low,close,volume,contract\n"
            + rows[0].replace("\n", ",ESU4\n")
            + rows[0].replace("\n", ",ESZ4\n"),
            "ES",
            "several ES contracts (ESU4, ESZ4) share minute",
        ),
        (
            "other.csv",
            "ts,open,high,low,close,volume,symbol\n" + rows[0].replace("\n", ",NQU4\n"),
            "ES",
            "no rows for ES (the file holds NQU4)",
        ),
        ("cut.dbn.zst", DBN.read_bytes()[:-5], "ES", "zstd stream is truncated"),
        ("short.dbn", b"DBN\x03garbage", "ES", "truncated: it ends inside its metadata header"),
        ("bad.dbn", b"PAR1 is not a DBN header at all", "ES", "not a valid DBN stream"),
        ("bars.xlsx", "x", "ES", "cannot tell the format"),
    ]


@pytest.mark.parametrize(("name", "content", "symbol", "message"), _malformed())
def test_malformed_file_is_a_clear_error_and_writes_nothing(
    name: str,
    content: str | bytes,
    symbol: str,
    message: str,
    home: Path,
    shared_instance: dg.DagsterInstance,
) -> None:
    path = _write(home.parent, name, content)
    with pytest.raises(FileImportError) as err:
        import_bars(settings_for(home), path, symbol, instance=shared_instance)
    text = str(err.value)
    assert message in text and text.startswith(name) and "nothing was imported" in text
    assert not Lake(home / "lake").exists(RAW)


def test_unknown_symbol_and_bad_options_write_nothing(
    home: Path, shared_instance: dg.DagsterInstance
) -> None:
    path = _write(home.parent, "es.csv", HEADER + "".join(_es_rows()))
    with pytest.raises(UnknownSymbol, match="unknown symbol 'XX'"):
        import_bars(settings_for(home), path, "XX", instance=shared_instance)
    with pytest.raises(InvalidInput, match="--stamp 'middle'"):
        import_bars(settings_for(home), path, "ES", stamp="middle", instance=shared_instance)
    with pytest.raises(FileImportError, match="unknown field 'price'"):
        from market_spine.providers.file_formats import parse_mapping

        parse_mapping(["price=px"])
    assert not Lake(home / "lake").exists(RAW)


def test_unconfigured_partition_root_is_refused_before_writing(
    euro: Path, home: Path, shared_instance: dg.DagsterInstance
) -> None:
    # 6E is a known root in this process, but not a partition of this home (no instruments
    # file): the import refuses rather than half-writes.
    with pytest.raises(FileImportError, match="6E is not a futures partition of this home"):
        import_bars(settings_for(home), EURO, "6E", stamp="close", instance=shared_instance)
    assert not Lake(home / "lake").exists(RAW)


@pytest.mark.parametrize(
    ("symbol", "said"),
    [
        ("ZZ.C.1", "ZZ.C.1 is the continuous series ZZ.c.1 of the root ZZ, which is not"),
        ("6E.C.1", "6E.C.1 (the continuous series 6E.c.1, filed under 6E's contracts): 6E is"),
        ("6EH4", "6EH4 (a contract of 6E): 6E is not a futures partition of this home"),
        ("ES.c.9", "ES.c.9 is not served: continuous series are ranked (0, 1)"),
    ],
)
def test_a_refusal_by_the_symbol_alone_comes_before_the_file_is_read(
    euro: Path, home: Path, shared_instance: dg.DagsterInstance, symbol: str, said: str
) -> None:
    """A symbol that cannot be imported is refused before the file is opened: the path names
    no file, which reading would refuse differently; the refusal says what the symbol maps to."""
    absent = home.parent / "no-such-file.csv"
    with pytest.raises(InvalidInput) as refused:
        import_bars(settings_for(home), absent, symbol, instance=shared_instance)
    text = str(refused.value)
    assert said in text and "does not exist" not in text, text
    assert not Lake(home / "lake").exists(RAW)


def test_a_volume_series_is_judged_by_its_file_not_refused_by_the_symbol(
    home: Path, shared_instance: dg.DagsterInstance
) -> None:
    """A volume series imports from a file naming each bar's contract and is refused, with the
    request that gives one, by a file that does not: the file decides, so the symbol alone
    refuses nothing and a missing file is what is said."""
    absent = home.parent / "no-such-file.csv"
    with pytest.raises(InvalidInput, match="does not exist") as refused:
        import_bars(settings_for(home), absent, "es.V.1", instance=shared_instance)
    assert "volume continuous series" not in str(refused.value)
    assert not Lake(home / "lake").exists(RAW)
