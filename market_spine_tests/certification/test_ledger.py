"""The trust tables a run appends to stay a few files however many runs wrote them: each is
compacted past a file count as the readiness log is, and reads the same rows afterwards."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from market_spine.certification import ledger
from market_spine.certification.tables import (
    CERTIFICATIONS,
    CERTIFICATIONS_SCHEMA,
    REVISION_ROWS,
    REVISIONS,
    REVISIONS_SCHEMA,
)
from market_spine.lake import Lake, journal

DATASET = "normalized/minutes"
FIRST = date(2024, 3, 4)
AT = datetime(2024, 3, 6, 12, tzinfo=UTC)


def transition(day: date, run: int) -> dict:
    row: dict = dict.fromkeys(CERTIFICATIONS_SCHEMA)
    row |= {
        "dataset": DATASET,
        "partition": f"{day.isoformat()}|CL",
        "trade_date": day,
        "symbol": "CL",
        "state": "certified",
        "run_id": f"run-{run}",
        "delta_version": run,
        "recorded_at": AT + timedelta(minutes=run),
    }
    return row


def revision(day: date, run: int) -> dict:
    row: dict = dict.fromkeys(REVISIONS_SCHEMA)
    row |= {
        "revision_id": f"rev-{run}",
        "dataset": DATASET,
        "partition": f"{day.isoformat()}|CL",
        "trade_date": day,
        "symbol": "CL",
        "rows_changed": 1,
        "old_version": run - 1,
        "new_version": run,
        "run_id": f"run-{run}",
        "recorded_at": AT + timedelta(minutes=run),
    }
    return row


def detail(run: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "revision_id": [f"rev-{run}"],
            "dataset": [DATASET],
            "trade_date": [FIRST],
            "change": ["changed"],
            "key_json": [f'{{"ts": {run}}}'],
            "column": ["close"],
            "old_value": ["1.0"],
            "new_value": ["2.0"],
            "abs_change": [1.0],
            "rel_change": [1.0],
        }
    )


def test_certifications_and_revisions_are_compacted_as_runs_add_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small thresholds keep the test quick; the rule is the same at any size.
    monkeypatch.setattr(ledger, "COMPACT_AT", 4)
    monkeypatch.setattr(ledger, "COMPACT_CHECK_EVERY", 2)
    monkeypatch.setattr(journal, "FOLD_EVERY", 1)
    lake = Lake(tmp_path / "lake")
    runs = 12
    for run in range(runs):
        day = FIRST + timedelta(days=run % 3)
        ledger.record(
            lake, [transition(day, run)], [revision(day, run)], [detail(run)], f"run-{run}"
        )

    for table in (CERTIFICATIONS, REVISIONS, REVISION_ROWS):
        # One file per run until compacted: never more than the threshold plus the versions
        # between two looks, and every run's row still there once.
        assert len(lake.snapshot(table).files) < 4 + 2, table
        assert (
            lake.read(table)["run_id" if table != REVISION_ROWS else "revision_id"].n_unique()
            == runs
        )
        assert lake.read(table).height == runs
        history = lake.history(table)
        assert any(h.get("maintenance") == "compact" for h in history), table
    newest = ledger.latest_transitions(lake, DATASET, FIRST, FIRST + timedelta(days=2))
    assert sorted(newest["run_id"].to_list()) == ["run-10", "run-11", "run-9"]
