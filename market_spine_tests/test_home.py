"""Opening a home's Dagster instance: commands started together on a fresh home all open it."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from market_spine.home import open_instance

OPENERS = 6
FRESH_HOMES = 4


def _open_each(dagster_homes: list[str], start: object, answers: object) -> None:
    """Open every home, all openers starting each one together."""
    for dagster_home in dagster_homes:
        start.wait()  # type: ignore[attr-defined]
        try:
            open_instance(Path(dagster_home)).dispose()
            answers.put("opened")  # type: ignore[attr-defined]
        except Exception as exc:  # the answer is what the test compares
            answers.put(f"{type(exc).__name__}: {exc}")  # type: ignore[attr-defined]


def test_commands_opening_a_fresh_instance_at_once_all_open_it(tmp_path: Path) -> None:
    homes = []
    for n in range(FRESH_HOMES):
        dagster_home = tmp_path / str(n) / "dagster"
        dagster_home.mkdir(parents=True)
        (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        homes.append(str(dagster_home))
    ctx = mp.get_context("spawn")
    start, answers = ctx.Barrier(OPENERS), ctx.Queue()
    openers = [ctx.Process(target=_open_each, args=(homes, start, answers)) for _ in range(OPENERS)]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join(180)
    seen = [answers.get(timeout=5) for _ in range(OPENERS * FRESH_HOMES)]
    assert [a for a in seen if a != "opened"] == []
