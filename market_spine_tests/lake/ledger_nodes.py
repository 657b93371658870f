"""Nodes for tests of a lake on object storage shared by several machines: each node is a process
of its own with its own home folder, as a pod on another node would be, and these are the jobs
it runs. Kept apart from the test modules, so a spawned node imports only what its jobs need."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import date
from typing import Any

import polars as pl

from market_spine.errors import LakeDamaged
from market_spine.lake import Lake
from market_spine.settings import Settings
from market_spine_tests.kit.frames import day_frame


def _enter(env: dict[str, str]) -> None:
    """A node's environment: its home, the shared lake and the shared state database."""
    os.environ.update(env)


@contextmanager
def node(env: dict[str, str]) -> Iterator[ProcessPoolExecutor]:
    """One node: a process of its own, kept for every job submitted to it (a long-lived pod)."""
    with ProcessPoolExecutor(1, mp.get_context("spawn"), initializer=_enter, initargs=(env,)) as ex:
        yield ex


def append(dataset: str, day: date, writer: int, count: int) -> None:
    """`count` appends of one CL row each to `dataset`, tagged (writer, sequence)."""
    lake = Settings.from_env().lake()
    for seq in range(count):
        row = day_frame(day, "CL", float(seq), minutes=1).with_columns(
            writer=pl.lit(writer), seq=pl.lit(seq)
        )
        lake.append(dataset, row, partition_by=["symbol"])


def view(dataset: str) -> dict[str, Any]:
    """What this node reads of `dataset` and what its ledger holds of it."""
    lake = Settings.from_env().lake()
    rows = lake.read(dataset)
    records = lake.ledger.log_records(dataset)
    return {
        "rows": rows.height,
        "tagged": rows.select("writer", "seq").n_unique(),
        "version": lake.version(dataset),
        "head": lake.ledger.head(dataset),
        "recorded": sorted(v for name, (v, _, _) in records.items() if name.endswith(".json")),
    }


def read(dataset: str, *, fresh: bool = False) -> tuple[str, str]:
    """Read `dataset` through this node's lake (`fresh`: a Lake without its caches, as a new
    process of the node would): ("read", version) or ("damaged", why)."""
    settings = Settings.from_env()
    lake = settings.lake()
    if fresh:
        lake = Lake(settings.lake_uri)
    try:
        lake.read(dataset)
    except LakeDamaged as exc:
        return "damaged", exc.problem
    return "read", str(lake.version(dataset))
