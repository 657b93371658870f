"""The roll table, the continuous series and their checks, from simulated captures of CL around
its March 2024 roll (the front, the next month and, in the roll window, the one after)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import polars as pl
import pytest

from market_spine.check_kit import CheckOutcome
from market_spine.futures import checks
from market_spine.futures.continuous import (
    adjusted_view_sql,
    back_adjust,
    continuous_minutes,
    unadjustable,
)
from market_spine.futures.normalized_bars import accepted_capture
from market_spine.futures.raw_bars import capture_frame
from market_spine.futures.rolls import (
    capture_fix,
    contract_bars,
    held_contracts,
    holdings,
    measure_rolls,
    session_contracts,
    session_volumes,
    unmeasured_gap,
    unrecorded_rolls,
)
from market_spine.markets import calendars, instruments, rolls
from market_spine.providers.simulated import SimulatedMarket, SimulatedProvider

ROOT = "CL"
FIRST, LAST = date(2024, 2, 20), date(2024, 3, 20)
RUN_START = date(2024, 3, 1)
ROLL_DAY, OLD, NEW = instruments.roll_dates(ROOT, RUN_START, LAST)[0]


def captures(days: list[date], skip: set[tuple[date, str]] = frozenset()) -> pl.DataFrame:
    provider = SimulatedProvider(SimulatedMarket(clock=lambda: datetime(2030, 1, 1, tzinfo=UTC)))
    frames = [
        capture_frame(
            provider.fetch_bars(ROOT, d, c.local_symbol), d.isoformat(), datetime.now(UTC)
        )
        for d in days
        for c in rolls.captured_contracts(ROOT, d)
        if (d, c.local_symbol) not in skip
    ]
    return pl.concat(frames)


@pytest.fixture(scope="module")
def days() -> list[date]:
    return calendars.trading_days(ROOT, FIRST, LAST)


@pytest.fixture(scope="module")
def bars(days: list[date]) -> pl.DataFrame:
    return contract_bars(captures(days))


@pytest.fixture(scope="module")
def run(days: list[date]) -> list[date]:
    return [d for d in days if d >= RUN_START]


def build(bars: pl.DataFrame, run: list[date]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rolls, continuous minutes from the session before the run on)."""
    prev = calendars.previous_trading_day(ROOT, run[0])
    held = holdings(ROOT, [prev, *run], session_volumes(bars))
    return measure_rolls(ROOT, run, bars), continuous_minutes(bars, held)


def judge(
    minutes: pl.DataFrame,
    recorded: pl.DataFrame,
    run: list[date],
    before: pl.DataFrame | None = None,
) -> dict[str, set[str]]:
    """The failing checks of each failing partition; `before` (default: the minutes before the
    run) is the context the asset passes beside the run's rows."""
    inside = pl.col("trade_date") >= run[0]
    verdicts = checks.judge_rolls_partitions(
        checks.CONTINUOUS_BARS_CHECKS,
        minutes.filter(inside),
        recorded,
        [(ROOT, d) for d in run],
        before=minutes.filter(~inside) if before is None else before,
    )
    out = {k: {n for n, o in v.items() if not o.passed} for k, v in verdicts.items()}
    return {k: v for k, v in out.items() if v}


def test_calendar_rolls_take_effect_on_the_rule_s_roll_date(bars, run) -> None:
    recorded = measure_rolls(ROOT, run, bars)
    calendar = recorded.filter(pl.col("rule") == "calendar").sort("rank")
    assert calendar["series"].to_list() == ["CL.c.0", "CL.c.1"]
    assert calendar["trade_date"].to_list() == [ROLL_DAY, ROLL_DAY]
    assert calendar.row(0, named=True)["from_contract"] == OLD.local_symbol
    assert calendar.row(0, named=True)["to_contract"] == NEW.local_symbol
    after = instruments.next_contract(NEW)
    assert calendar.row(1, named=True)["from_contract"] == NEW.local_symbol
    assert calendar.row(1, named=True)["to_contract"] == after.local_symbol
    open_ = calendars.session(ROOT, ROLL_DAY).open.to_pydatetime()
    assert calendar["roll_ts"].to_list() == [open_, open_]


def test_the_volume_roll_follows_the_first_session_the_next_month_traded_more(bars, run):
    volumes = session_volumes(bars)
    window = [d for d in calendars.trading_days(ROOT, FIRST, ROLL_DAY) if d < ROLL_DAY]
    crossing = next(
        d for d in window if volumes[(d, NEW.local_symbol)] > volumes[(d, OLD.local_symbol)]
    )
    expected = calendars.trading_days(ROOT, crossing, LAST)[1]  # the session after, no peeking
    recorded = measure_rolls(ROOT, run, bars).filter(pl.col("series") == "CL.v.0")
    assert recorded["trade_date"].to_list() == [expected]
    assert expected < ROLL_DAY
    assert recorded["to_contract"].to_list() == [NEW.local_symbol]


def test_without_a_crossing_the_volume_roll_comes_with_the_calendar() -> None:
    thin = {}  # no volumes at all: nothing ever out-trades the front
    before = calendars.previous_trading_day(ROOT, ROLL_DAY)
    held = {s.name: c for s, c in held_contracts(ROOT, before, thin).items()}
    assert held["CL.v.0"] == OLD
    held = {s.name: c for s, c in held_contracts(ROOT, ROLL_DAY, thin).items()}
    assert held["CL.v.0"] == held["CL.c.0"] == NEW


def test_the_gap_is_measured_at_the_last_minute_both_months_traded(bars, run) -> None:
    roll = measure_rolls(ROOT, run, bars).filter(pl.col("series") == "CL.c.0").row(0, named=True)
    prev = calendars.previous_trading_day(ROOT, ROLL_DAY)
    session = bars.filter(pl.col("trade_date") == prev)
    old = session.filter(pl.col("contract") == OLD.local_symbol).select("ts", "close")
    new = session.filter(pl.col("contract") == NEW.local_symbol).select("ts", "close")
    both = old.join(new, on="ts", suffix="_new").sort("ts").row(-1, named=True)
    assert roll["gap_ts"] == both["ts"]
    assert roll["gap"] == pytest.approx(both["close_new"] - both["close"])
    assert roll["ratio"] == pytest.approx(both["close_new"] / both["close"])
    assert roll["gap"] > 0  # the simulated market is in contango


def test_each_series_holds_its_contract_and_every_check_passes(bars, run) -> None:
    recorded, minutes = build(bars, run)
    assert judge(minutes, recorded, run) == {}
    on_roll_day = minutes.filter(pl.col("trade_date") == ROLL_DAY)
    held = dict(on_roll_day.select("series", "contract").unique().iter_rows())
    after = instruments.next_contract(NEW).local_symbol
    assert held == {
        "CL.c.0": NEW.local_symbol,
        "CL.c.1": after,
        "CL.v.0": NEW.local_symbol,
        "CL.v.1": after,
    }
    # The calendar front series is the normalized front, minute for minute.
    front = accepted_capture(captures([ROLL_DAY])).drop("capture_id")
    c0 = on_roll_day.filter(pl.col("series") == "CL.c.0").drop("series", "capture_id")
    assert c0.select(front.columns).equals(front)


def first_validity(
    minutes: pl.DataFrame, recorded: pl.DataFrame, run: list[date], before: pl.DataFrame
) -> CheckOutcome:
    """The validity outcome of the run's first session, judged with `before` as context."""
    verdicts = checks.judge_rolls_partitions(
        checks.CONTINUOUS_BARS_CHECKS,
        minutes.filter(pl.col("trade_date") >= run[0]),
        recorded,
        [(ROOT, run[0])],
        before=before,
    )
    return verdicts[f"{run[0]}|{ROOT}"]["validity"]


def test_context_rows_of_a_session_the_run_also_rebuilt_count_once(bars, run) -> None:
    """The asset's context rows (the session before each block) can be a session the same run
    rebuilt in another block, when a weekday holiday splits them: that session is judged on
    the run's rows alone, so its validity sees no duplicate keys."""
    recorded, minutes = build(bars, run)
    assert judge(minutes, recorded, run, before=minutes) == {}
    validity = first_validity(minutes, recorded, run, before=minutes)
    session = minutes.filter(pl.col("trade_date") == run[0])
    assert validity.passed
    assert (validity.metadata["rows"], validity.metadata["duplicate_keys"]) == (session.height, 0)


def test_a_minute_a_series_holds_twice_fails_validity(bars, run) -> None:
    """A real duplicate in the run's rows fails, with or without context rows of its session."""
    recorded, minutes = build(bars, run)
    twice = pl.concat([minutes, minutes.filter(pl.col("trade_date") == run[0]).head(1)])
    assert judge(twice, recorded, run) == {f"{run[0]}|{ROOT}": {"validity"}}
    # Also when the context holds that session too: the run's rows are judged as they are.
    assert judge(twice, recorded, run, before=minutes) == {f"{run[0]}|{ROOT}": {"validity"}}
    validity = first_validity(twice, recorded, run, before=minutes)
    assert validity.metadata["duplicate_keys"] == 2


def test_a_jump_the_recorded_gap_does_not_explain_fails(bars, run) -> None:
    recorded, minutes = build(bars, run)
    wrong = recorded.with_columns(
        gap=pl.when(pl.col("series") == "CL.c.0").then(pl.col("gap") + 1.0).otherwise("gap")
    )
    assert judge(minutes, wrong, run) == {f"{ROLL_DAY}|{ROOT}": {"roll_jumps"}}
    unrecorded = recorded.filter(pl.col("series") != "CL.c.1")
    assert judge(minutes, unrecorded, run) == {f"{ROLL_DAY}|{ROOT}": {"roll_jumps"}}


def test_a_missing_capture_of_the_next_month_fails_completeness_and_the_gap(days, run) -> None:
    prev = calendars.previous_trading_day(ROOT, ROLL_DAY)
    partial = contract_bars(captures(days, skip={(prev, NEW.local_symbol)}))
    recorded, minutes = build(partial, run)
    assert judge(minutes, recorded, run)[f"{prev}|{ROOT}"] == {"completeness"}
    on_day = recorded.filter(pl.col("trade_date") == ROLL_DAY)
    unmeasured = checks.rolls_recorded(
        checks.RollsPartition(ROOT, ROLL_DAY, on_day, on_day, on_day)
    )
    # Both calendar series roll from or to the missing month.
    assert not unmeasured.passed
    assert unmeasured.metadata["gap_not_measured"] == ["CL.c.0", "CL.c.1"]


def test_back_adjustment_joins_the_series_at_its_rolls(bars, run) -> None:
    recorded, minutes = build(bars, run)
    c0 = minutes.filter(pl.col("series") == "CL.c.0")
    rolled = recorded.filter(pl.col("series") == "CL.c.0")
    roll = rolled.row(0, named=True)
    at_gap = pl.col("ts") == roll["gap_ts"]
    for how, expected in (("difference", roll["to_price"]), ("ratio", roll["to_price"])):
        adjusted = back_adjust(c0, rolled, how)
        # The old month's close at the gap minute becomes the new month's price there.
        assert adjusted.filter(at_gap)["close"][0] == pytest.approx(expected)
        # After the last roll the prices are the traded ones.
        later = adjusted.filter(pl.col("trade_date") >= ROLL_DAY)
        assert later["close"].equals(c0.filter(pl.col("trade_date") >= ROLL_DAY)["close"])
    assert back_adjust(c0, rolled, "none").equals(c0)
    # A read ending before the roll is anchored to its own last bar: nothing to adjust.
    early = c0.filter(pl.col("trade_date") < ROLL_DAY)
    assert back_adjust(early, rolled, "difference")["close"].equals(early["close"])


def test_an_unmeasured_gap_leaves_earlier_adjusted_prices_null(bars, run) -> None:
    recorded, minutes = build(bars, run)
    c0 = minutes.filter(pl.col("series") == "CL.c.0")
    rolled = recorded.filter(pl.col("series") == "CL.c.0").with_columns(gap=None)
    adjusted = back_adjust(c0, rolled, "difference")
    assert adjusted.filter(pl.col("trade_date") < ROLL_DAY)["close"].null_count() > 0
    assert adjusted.filter(pl.col("trade_date") >= ROLL_DAY)["close"].null_count() == 0


def test_normalized_keeps_the_front_even_when_a_later_month_was_captured_last() -> None:
    raw = captures([calendars.previous_trading_day(ROOT, ROLL_DAY)])
    assert raw["contract"].n_unique() == 3
    assert accepted_capture(raw)["contract"].unique().to_list() == [OLD.local_symbol]


def test_a_session_without_its_front_contract_gives_the_root_no_other_months_bars() -> None:
    day = calendars.previous_trading_day(ROOT, ROLL_DAY)
    raw = captures([day], skip={(day, OLD.local_symbol)})
    assert OLD.local_symbol not in raw["contract"].to_list() and raw.height
    assert accepted_capture(raw).is_empty()


def test_an_unmeasured_roll_names_the_missing_contract_its_day_and_the_capture(days, run) -> None:
    prev = calendars.previous_trading_day(ROOT, ROLL_DAY)
    partial = contract_bars(captures(days, skip={(prev, NEW.local_symbol)}))
    recorded = measure_rolls(ROOT, run, partial)
    verdicts = checks.judge_rolls_partitions(
        checks.ROLLS_CHECKS,
        recorded,
        recorded,
        [(ROOT, ROLL_DAY)],
        held={(ROOT, d): c for d, c in session_contracts(partial).items()},
    )
    found = verdicts[f"{ROLL_DAY}|{ROOT}"]["rolls_recorded"]
    assert not found.passed
    c0 = found.metadata["worst"][0]
    assert (c0["series"], c0["from_contract"], c0["to_contract"]) == (
        "CL.c.0",
        OLD.local_symbol,
        NEW.local_symbol,
    )
    assert c0["missing_contracts"] == [NEW.local_symbol]
    assert c0["fix"].startswith(
        f"CL.c.0 rolls {OLD.local_symbol} → {NEW.local_symbol} on {ROLL_DAY}, but the lake "
        f"holds no {NEW.local_symbol} bars on {prev}, the session before"
    )
    assert f"`market-spine process --date {prev} --symbols {ROOT} --domain futures`" in c0["fix"]
    assert f"`market-spine import bars FILE --symbol {NEW.local_symbol}`" in c0["fix"]
    assert found.metadata["fix"].startswith(c0["fix"]) and "(and 1 more)" in found.metadata["fix"]


def test_a_read_across_an_unknown_or_unmeasured_roll_is_refused_with_the_fix(bars, run) -> None:
    """A roll the roll table lacks, or one whose gap was not measured, would leave the earlier
    prices unadjusted or null: `unadjustable` says which roll and how to read instead."""
    recorded, minutes = build(bars, run)
    c0 = minutes.filter(pl.col("series") == "CL.c.0")
    rolled = recorded.filter(pl.col("series") == "CL.c.0")
    assert unadjustable("CL.c.0", c0, rolled, "difference") is None
    assert unadjustable("CL.c.0", c0, rolled.head(0), "none") is None
    lost = unadjustable("CL.c.0", c0, rolled.head(0), "ratio")
    assert lost and f"changes from {OLD.local_symbol} to {NEW.local_symbol}" in lost
    assert "holds no roll between them" in lost and "adjust=none" in lost
    unmeasured = unadjustable("CL.c.0", c0, rolled.with_columns(gap=None), "difference")
    assert unmeasured and f"on {ROLL_DAY} has no measured gap" in unmeasured
    # The ratio was measured: a ratio read stands.
    assert unadjustable("CL.c.0", c0, rolled.with_columns(gap=None), "ratio") is None
    # A read that starts on the roll's day has the roll behind its first bar: nothing to adjust.
    after = c0.filter(pl.col("trade_date") >= ROLL_DAY)
    assert unadjustable("CL.c.0", after, rolled.with_columns(gap=None), "difference") is None


def _adjusted_view(minutes: pl.DataFrame, rolls: pl.DataFrame) -> pl.DataFrame:
    """The SQL view `futures_continuous_adjusted_1m` over these minutes and rolls."""
    with duckdb.connect() as con:
        con.register("minutes", minutes.to_arrow())
        con.register("rolls", rolls.to_arrow())
        return pl.from_arrow(
            con.execute(f"{adjusted_view_sql('minutes', 'rolls')} order by ts").arrow()
        )


def test_the_sql_view_adjusts_only_across_known_measured_rolls(bars, run) -> None:
    """The SQL view leaves an adjustment NULL wherever a Spine read is refused: across a roll
    the table lacks, a roll that does not lead to the next, or an unmeasured gap."""
    recorded, minutes = build(bars, run)
    c0 = minutes.filter(pl.col("series") == "CL.c.0")
    rolled = recorded.filter(pl.col("series") == "CL.c.0")
    before, after = pl.col("trade_date") < ROLL_DAY, pl.col("trade_date") >= ROLL_DAY

    known = _adjusted_view(c0, rolled)
    assert known["close_difference"].to_list() == pytest.approx(
        back_adjust(c0, rolled, "difference")["close"].to_list()
    )
    assert known["close_ratio"].to_list() == pytest.approx(
        back_adjust(c0, rolled, "ratio")["close"].to_list()
    )
    # Every adjustment known: nothing to explain.
    assert known["adjustment_note"].null_count() == c0.height
    newest = f"the series' newest contract {NEW.local_symbol}"
    between = f"a roll between {OLD.local_symbol} and {newest}"
    missing_roll = f"{between} is not in the roll table"
    for table in (
        rolled.head(0),  # the roll is missing
        rolled.with_columns(to_contract=pl.lit("CLZ9")),  # it leads elsewhere
    ):
        unknown = _adjusted_view(c0, table)
        assert unknown.filter(before)["adj_difference"].null_count() == c0.filter(before).height
        assert unknown.filter(before)["close_ratio"].null_count() == c0.filter(before).height
        assert (unknown.filter(after)["adj_difference"] == 0).all()
        # Each unknown adjustment says why, the known ones nothing.
        notes = unknown.filter(before)["adjustment_note"].unique().to_list()
        assert len(notes) == 1 and notes[0].startswith(missing_roll), notes
        assert unknown.filter(after)["adjustment_note"].null_count() == c0.filter(after).height
    unmeasured = _adjusted_view(c0, rolled.with_columns(gap=None))
    assert unmeasured.filter(before)["close_difference"].null_count() == c0.filter(before).height
    assert unmeasured["close_ratio"].null_count() == 0
    [note] = unmeasured.filter(before)["adjustment_note"].unique().to_list()
    assert note.startswith(f"{between} has no measured gap or ratio")


def test_a_session_imported_from_a_file_is_loaded_by_import_or_a_replacing_capture() -> None:
    """The one-source rule refuses a capture over imported bars: the fix names the file
    first and the capture with `--replace`, never a bare `process`."""
    day = date(2024, 3, 6)
    captured = capture_fix("ES", day, ["ESM4"])
    assert captured.startswith("capture them with `market-spine process --date 2024-03-06")
    imported = capture_fix("ES", day, ["ESM4"], imported=True)
    assert imported.startswith("import a vendor file of them (`market-spine import bars FILE")
    assert "--symbols ES --domain futures --replace`" in imported
    assert "`market-spine process --date 2024-03-06 --symbols ES --domain futures`" not in imported


def test_a_change_of_contract_without_rolls_names_the_root_and_the_sessions_missing() -> None:
    change = ("ESM4", date(2024, 3, 8), "ESZ6", date(2026, 11, 17))
    said = unrecorded_rolls("ES.c.0", change, {})
    assert "holds ESM4 through 2024-03-08 and ESZ6 from 2026-11-17" in said
    assert "calendar rolls of ES fall between, the first ESM4 → ESU4 on 2024-06-" in said
    assert "`market-spine process --start 2024-03-11 --end 2026-11-16 --symbols ES" in said
    assert "ROOT" not in said and "--date 2026-11-17" not in said
    # Sessions between that came from vendor files: the capture over them needs --replace.
    imported = unrecorded_rolls("ES.c.0", change, {date(2024, 6, 12): True})
    assert (
        "--domain futures --replace`" in imported and "import bars FILE --symbol ES.c.0" in imported
    )


def test_an_unmeasured_gap_is_said_of_the_session_it_is_measured_on(bars, run) -> None:
    """A refused read names the session before the roll and the contract without bars there,
    as the roll table's check does (one message, `unmeasured_gap`)."""
    recorded, minutes = build(bars, run)
    c0 = minutes.filter(pl.col("series") == "CL.c.0")
    rolled = recorded.filter(pl.col("series") == "CL.c.0").with_columns(gap=None)
    prev = calendars.previous_trading_day(ROOT, ROLL_DAY)

    class Fixes:
        def unrecorded(self, series: str, change: tuple) -> str:
            raise AssertionError("the roll is recorded")

        def unmeasured(self, roll: dict) -> str:
            held = frozenset({OLD.local_symbol})
            return str(unmeasured_gap(ROOT, roll, held, imported=True)["fix"])

    said = unadjustable("CL.c.0", c0, rolled, "difference", Fixes())
    assert said is not None
    assert f"holds no {NEW.local_symbol} bars on {prev}, the session before" in said
    assert "--replace`" in said and "shared no traded minute" not in said
