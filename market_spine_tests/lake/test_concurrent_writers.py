"""Two writers of one table at once: a partition ends with exactly one writer's rows, and writers
of different partitions (or appends) all land, each once."""

from __future__ import annotations

import json
import multiprocessing as mp
import threading
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from market_spine.lake import Lake
from market_spine_tests.kit.frames import day_frame

DS = "normalized/race_bars"
RAW = "raw/race_bars"
DAY = date(2024, 3, 5)
BEFORE = date(2024, 3, 4)


def frame(day: date, symbol: str, writer: str) -> pl.DataFrame:
    """An hour of bars tagged with the writer that wrote them."""
    return day_frame(day, symbol, 1.0).with_columns(writer=pl.lit(writer))


def replace(lake: Lake, day: date, symbol: str, writer: str) -> int:
    return lake.replace(
        DS,
        frame(day, symbol, writer),
        equals={"symbol": symbol},
        between={"trade_date": (day, day)},
        partition_by=["symbol"],
    ).version


def append(lake: Lake, day: date, symbol: str, writer: str) -> int:
    return lake.append(RAW, frame(day, symbol, writer), partition_by=["symbol"]).version


def rows(lake: Lake, dataset: str, day: date, symbol: str) -> pl.DataFrame:
    return Lake(lake.root).read(
        dataset, equals={"symbol": symbol}, between={"trade_date": (day, day)}
    )


def orphans(root: Path) -> set[str]:
    """Data files on disk that no version of any table references."""
    found = set()
    for log in root.glob("*/*/_delta_log"):
        referenced = set()
        for entry in log.glob("*.json"):
            for line in entry.read_text().splitlines():
                action = json.loads(line)
                if "add" in action:
                    referenced.add(action["add"]["path"])
        table = log.parent
        # Checkpoints are Parquet files too, but the log's own.
        data = (p for p in table.rglob("*.parquet") if "_delta_log" not in p.parts)
        found |= {str(p) for p in data if str(p.relative_to(table)) not in referenced}
    return found


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], dict[str, int]]]:
    """Both writers plan from the same snapshot: each racing thread's first commit waits until
    the other has planned too (the test's own setup writes run unhindered). Yields a function
    returning how often each racing thread planned a replacement."""
    barrier = threading.Barrier(2, timeout=30)
    local = threading.local()
    plans: dict[str, int] = {}
    commit, plan = Lake._commit, Lake._plan_replace

    def first_commit_waits(self: Lake, *args: Any, **kwargs: Any) -> int:
        racing = threading.current_thread() is not threading.main_thread()
        if racing and not getattr(local, "waited", False):
            local.waited = True
            barrier.wait()
        return commit(self, *args, **kwargs)

    def counted_plan(self: Lake, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            name = threading.current_thread().name
            plans[name] = plans.get(name, 0) + 1
        return plan(self, *args, **kwargs)

    monkeypatch.setattr(Lake, "_commit", first_commit_waits)
    monkeypatch.setattr(Lake, "_plan_replace", counted_plan)
    yield lambda: dict(plans)


def race(lakes: tuple[Lake, Lake], write: Callable[..., int], *jobs: tuple[Any, ...]) -> list[int]:
    """Run two writes in two threads at once; returns their versions, raising their errors."""
    versions: dict[str, int] = {}
    errors: list[BaseException] = []

    def run(name: str, lake: Lake, job: tuple[Any, ...]) -> None:
        try:
            versions[name] = write(lake, *job)
        except BaseException as e:  # re-raised below, in the test's thread
            errors.append(e)

    threads = [
        threading.Thread(target=run, args=(n, lake, job), name=n)
        for n, lake, job in zip(("A", "B"), lakes, jobs, strict=True)
    ]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    if errors:
        raise errors[0]
    return sorted(versions.values())


def lakes_for(root: Path, shared: bool) -> tuple[Lake, Lake]:
    """One Lake for both threads (one process), or one each (as two processes have)."""
    one = Lake(root)
    return (one, one) if shared else (one, Lake(root))


@pytest.mark.parametrize("shared", [True, False], ids=["one-lake", "two-lakes"])
@pytest.mark.parametrize("empty", [True, False], ids=["empty", "non-empty"])
def test_two_replacements_of_one_partition_leave_one_writers_rows(
    tmp_path: Path, pinned: Callable[[], dict[str, int]], empty: bool, shared: bool
) -> None:
    root = tmp_path / "lake"
    base = Lake(root)
    replace(base, BEFORE, "CL", "base")
    replace(base, BEFORE, "NG", "base")
    if not empty:
        # Same month as BEFORE: one file straddles both days, so the replacement rewrites it.
        base.replace(
            DS,
            pl.concat([frame(BEFORE, "CL", "base"), frame(DAY, "CL", "base")]),
            equals={"symbol": "CL"},
            between={"trade_date": (BEFORE, DAY)},
            partition_by=["symbol"],
        )
    start = base.version(DS)
    assert start is not None

    versions = race(lakes_for(root, shared), replace, (DAY, "CL", "A"), (DAY, "CL", "B"))

    assert versions == [start + 1, start + 2]
    day = rows(base, DS, DAY, "CL")
    assert day.height == 60, "both replacements landed"
    assert day["writer"].n_unique() == 1 and day["writer"][0] in ("A", "B")
    assert day["ts"].is_unique().all()
    assert rows(base, DS, BEFORE, "CL")["writer"].to_list() == ["base"] * 60
    assert rows(base, DS, BEFORE, "NG")["writer"].to_list() == ["base"] * 60
    assert sorted(pinned().values()) == [1, 2], "the loser re-plans once on the winner's version"
    assert not orphans(root), "the loser left files no version references"


@pytest.mark.parametrize("shared", [True, False], ids=["one-lake", "two-lakes"])
def test_replacements_of_different_partitions_both_land(
    tmp_path: Path, pinned: Callable[[], dict[str, int]], shared: bool
) -> None:
    root = tmp_path / "lake"
    base = Lake(root)
    replace(base, BEFORE, "CL", "base")
    replace(base, BEFORE, "NG", "base")

    versions = race(lakes_for(root, shared), replace, (DAY, "CL", "A"), (DAY, "NG", "B"))

    assert versions == [2, 3]
    assert rows(base, DS, DAY, "CL")["writer"].to_list() == ["A"] * 60
    assert rows(base, DS, DAY, "NG")["writer"].to_list() == ["B"] * 60
    # Another day of the same symbol is another partition too.
    versions = race(lakes_for(root, shared), replace, (DAY, "CL", "C"), (BEFORE, "CL", "D"))
    assert versions == [4, 5]
    assert rows(base, DS, DAY, "CL")["writer"].to_list() == ["C"] * 60
    assert rows(base, DS, BEFORE, "CL")["writer"].to_list() == ["D"] * 60
    assert pinned() == {"A": 2, "B": 2}, "no plan was redone: the loser committed on top"
    assert not orphans(root)


@pytest.mark.parametrize("shared", [True, False], ids=["one-lake", "two-lakes"])
@pytest.mark.parametrize("empty", [True, False], ids=["empty", "non-empty"])
def test_two_appends_to_one_partition_land_once_each(
    tmp_path: Path, pinned: Callable[[], dict[str, int]], empty: bool, shared: bool
) -> None:
    root = tmp_path / "lake"
    base = Lake(root)
    append(base, BEFORE, "CL", "base")
    if not empty:
        append(base, DAY, "CL", "base")

    versions = race(lakes_for(root, shared), append, (DAY, "CL", "A"), (DAY, "CL", "B"))

    start = 0 if empty else 1
    assert versions == [start + 1, start + 2]
    day = rows(base, RAW, DAY, "CL")
    expected = {"A": 60, "B": 60} | ({} if empty else {"base": 60})
    assert dict(day.group_by("writer").len().iter_rows()) == expected
    assert not orphans(root)


def test_a_replacement_racing_an_append_ends_as_if_they_ran_in_turn(
    tmp_path: Path, pinned: Callable[[], dict[str, int]]
) -> None:
    root = tmp_path / "lake"
    base = Lake(root)
    replace(base, BEFORE, "CL", "base")
    a, b = Lake(root), Lake(root)
    versions: list[int] = []
    errors: list[BaseException] = []

    def run(write: Callable[[], int]) -> None:
        try:
            versions.append(write())
        except BaseException as e:
            errors.append(e)

    threads = [
        threading.Thread(target=run, args=(lambda: replace(a, DAY, "CL", "R"),)),
        threading.Thread(
            target=run,
            args=(lambda: b.append(DS, frame(DAY, "CL", "A"), partition_by=["symbol"]).version,),
        ),
    ]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert not errors
    assert sorted(versions) == [1, 2]
    writers = rows(base, DS, DAY, "CL").group_by("writer").len()
    # Append then replace: the replacement's rows only. Replace then append: both, each once.
    assert dict(writers.iter_rows()) in ({"R": 60}, {"R": 60, "A": 60})


def test_two_writers_creating_a_table_leave_one_writers_rows(
    tmp_path: Path, pinned: Callable[[], dict[str, int]]
) -> None:
    root = tmp_path / "lake"
    versions = race(lakes_for(root, False), replace, (DAY, "CL", "A"), (DAY, "CL", "B"))
    assert versions == [0, 1]
    day = rows(Lake(root), DS, DAY, "CL")
    assert day.height == 60 and day["writer"].n_unique() == 1
    assert not orphans(root)


# -- real processes ---------------------------------------------------------------------------

ROUNDS = 12


def _process_writer(root: str, name: str, own: str, start: Any, planned: Any, done: Any) -> None:
    """One process's work each round: replace the shared CL day, replace its own symbol's day,
    append a raw capture of its own symbol. Rounds start together at `start`, and each round's
    shared replacement commits only once both processes planned it (`planned`), so one of them
    always finds the other's commit ahead: the race happens however loaded the machine is.
    Reports how many of its commits found another commit ahead of them."""
    from market_spine.lake import store

    raced = 0
    check = store.changed_in
    commit = Lake._commit
    armed = [False]

    def counted(*args: Any) -> Any:  # called only when another commit landed first
        nonlocal raced
        raced += 1
        return check(*args)

    def paired_commit(self: Lake, *args: Any, **kwargs: Any) -> int:
        if armed[0]:
            armed[0] = False
            planned.wait(60)
        return commit(self, *args, **kwargs)

    store.changed_in = counted
    Lake._commit = paired_commit  # type: ignore[method-assign]
    lake = Lake(root)
    try:
        for i in range(ROUNDS):
            day = DAY + timedelta(days=i)
            start.wait(60)
            armed[0] = True
            replace(lake, day, "CL", name)
            replace(lake, day, own, name)
            append(lake, day, own, name)
        done.put((name, raced))
    except BaseException as e:
        done.put((name, repr(e)))


def test_two_processes_writing_at_once_lose_no_commit_and_duplicate_no_row(
    tmp_path: Path,
) -> None:
    root = tmp_path / "lake"
    base = Lake(root)
    replace(base, BEFORE, "CL", "base")
    append(base, BEFORE, "CL", "base")
    ctx = mp.get_context("spawn")
    start, planned, done = ctx.Barrier(2), ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_process_writer, args=(str(root), name, own, start, planned, done))
        for name, own in (("A", "ES"), ("B", "NG"))
    ]
    [p.start() for p in procs]
    results = dict(done.get(timeout=240) for _ in procs)
    [p.join(30) for p in procs]
    assert all(isinstance(n, int) for n in results.values()), results
    # Every round, one of the two shared replacements planned on a version the other replaced.
    assert sum(results.values()) >= ROUNDS, results

    lake = Lake(root)
    bars = lake.read(DS)
    assert bars.select("symbol", "ts").is_unique().all(), "a row appears twice"
    for i in range(ROUNDS):
        day = DAY + timedelta(days=i)
        cl = rows(lake, DS, day, "CL")
        assert cl.height == 60 and cl["writer"].n_unique() == 1, f"CL {day}"
        assert rows(lake, DS, day, "ES")["writer"].to_list() == ["A"] * 60, f"ES {day}"
        assert rows(lake, DS, day, "NG")["writer"].to_list() == ["B"] * 60, f"NG {day}"
    raw = lake.read(RAW).group_by("symbol", "writer").len().sort("symbol")
    assert raw.rows() == [("CL", "base", 60), ("ES", "A", 60 * ROUNDS), ("NG", "B", 60 * ROUNDS)]
    # Every commit is a version: the base write, then 2 processes x 2 replacements per round.
    assert lake.version(DS) == 4 * ROUNDS
    assert lake.version(RAW) == 2 * ROUNDS
    assert not orphans(root)
