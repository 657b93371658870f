"""Exporting the audit trail, from a SQLite file and from PostgreSQL: CSV, JSON lines and
Parquet carry the same entries, filtered by since, actor, dataset and action; `since` reads spans
and ISO instants."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from market_spine.audit.entry import Entry
from market_spine.audit.export import AuditFilter, export, since_instant
from market_spine.audit.store import AuditStore
from market_spine.errors import InvalidInput


@pytest.fixture
def trail(state_home: Path) -> Path:
    home = state_home
    store = AuditStore(home)
    store.append(
        [
            Entry("2026-11-20T10:00:00.000000+00:00", "alice", "cli.process", "", {}, "invoked"),
            Entry(
                "2026-11-29T10:00:00.000000+00:00", "key:1", "http.get", "bars", {"q": "é"}, "200"
            ),
            Entry("2026-11-29T11:00:00.000000+00:00", "key:2", "http.get", "chain", {}, "403"),
            Entry(
                "2026-11-30T09:00:00.000000+00:00", "key:1", "ws.subscribe", "", {}, "subscribed"
            ),
        ]
    )
    store.close()
    return home


def test_since_reads_spans_and_instants() -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert since_instant("7d", now) == "2026-11-23T12:00:00.000000+00:00"
    assert since_instant("90m", now) == "2026-11-30T10:30:00.000000+00:00"
    assert since_instant("2026-11-29") == "2026-11-29T00:00:00.000000+00:00"
    assert since_instant("2026-11-29T10:00:00+01:00") == "2026-11-29T09:00:00.000000+00:00"
    with pytest.raises(InvalidInput, match="--since 7d"):
        since_instant("last week")


def test_jsonl_carries_parameters_as_objects(trail: Path) -> None:
    out = io.StringIO()
    count = export(trail, AuditFilter(since="2026-11-23T00:00:00+00:00"), "jsonl", out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == 3
    assert [e["seq"] for e in lines] == [2, 3, 4]
    assert lines[0]["params"] == {"q": "é"}
    assert lines[1]["prev"] == lines[0]["hash"] and len(lines[0]["hash"]) == 64


def test_csv_and_parquet_hold_the_same_filtered_entries(trail: Path, tmp_path: Path) -> None:
    where = AuditFilter(actor="key:1", action="http.")
    out = io.StringIO()
    assert export(trail, where, "csv", out) == 1
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert (row["seq"], row["dataset"], row["outcome"]) == ("2", "bars", "200")
    assert json.loads(row["params"]) == {"q": "é"}
    path = tmp_path / "week.parquet"
    assert export(trail, AuditFilter(dataset="chain"), "parquet", path) == 1
    frame = pl.read_parquet(path)
    assert frame["seq"].to_list() == [3] and frame["outcome"].to_list() == ["403"]
    assert export(trail, AuditFilter(actor="nobody"), "parquet", path) == 0
    assert pl.read_parquet(path).columns == list(frame.columns)


def test_a_bad_format_is_refused(trail: Path) -> None:
    with pytest.raises(InvalidInput, match="csv, jsonl, parquet"):
        export(trail, AuditFilter(), "xml", io.StringIO())
    with pytest.raises(InvalidInput, match="--output"):
        export(trail, AuditFilter(), "parquet", io.StringIO())
