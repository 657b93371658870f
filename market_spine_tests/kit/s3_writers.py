"""Lake writers for tests that race processes: the target a spawned process runs.

It lives apart from the test modules because a spawned process imports the module of its target
first: a test module's imports (the API, DuckDB, maintenance) cost each writer many seconds
before its first append, while this one needs only the settings and a frame."""

from __future__ import annotations

from datetime import date

import polars as pl

from market_spine.settings import Settings
from market_spine_tests.kit.frames import day_frame


def append_many(env: dict[str, str], dataset: str, day: date, writer: int, count: int) -> None:
    """One writer process: `count` appends of one CL row each to `dataset`, tagged (writer,
    sequence)."""
    lake = Settings.from_env(env).lake()
    for seq in range(count):
        row = day_frame(day, "CL", float(seq), minutes=1).with_columns(
            writer=pl.lit(writer), seq=pl.lit(seq)
        )
        lake.append(dataset, row, partition_by=["symbol"])
