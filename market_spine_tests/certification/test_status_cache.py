"""The certification states a read attaches are kept while nothing was committed: on object
storage one request for the lake's change mark replaces asking each table's version, and any
commit (even two to one table within a second) is seen by the next read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from market_spine.certification import ledger
from market_spine.certification.readiness import Completeness, Judgment, readiness_rows
from market_spine.certification.rules import State
from market_spine.certification.status import CertificationStates
from market_spine.certification.tables import ANOMALY_FLAGS_SCHEMA, CERTIFICATIONS_SCHEMA
from market_spine.lake import Lake
from market_spine_tests.kit.s3 import S3Server

DAY = date(2024, 3, 4)
AT = datetime(2024, 3, 5, 12, tzinfo=UTC)
MINUTES, DAILY = "normalized/minutes", "analytics/daily"


class Partition:
    key, trade_date, symbol = f"{DAY}|CL", DAY, "CL"


def judge(lake: Lake, state: State, at: datetime) -> None:
    """A run judging the derived daily partition (readiness log only)."""
    judged = Judgment(state, None, at, at, at, f"run-{at.isoformat()}", 0)
    no_flags = pl.DataFrame(schema=ANOMALY_FLAGS_SCHEMA)
    rows = readiness_rows(DAILY, Partition(), [Completeness("CL")], no_flags, judged)
    ledger.record(lake, [], [], [], judged.run_id, rows)


def certify_minutes(lake: Lake) -> None:
    row: dict = dict.fromkeys(CERTIFICATIONS_SCHEMA)
    row |= {
        "dataset": MINUTES,
        "partition": Partition.key,
        "trade_date": DAY,
        "symbol": "CL",
        "state": "certified",
        "recorded_at": AT,
    }
    ledger.record(lake, [row], [], [], "run-minutes")


@pytest.fixture
def s3_lake(s3: S3Server, tmp_path: Path) -> Lake:
    return s3.settings(tmp_path / "home", s3.bucket()).lake()


def test_a_derived_read_asks_no_version_while_the_change_mark_stands(
    s3_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    certify_minutes(s3_lake)
    judge(s3_lake, State.CERTIFIED, AT)
    states = CertificationStates(s3_lake)
    assert states.of(DAILY) == {(DAY, "CL"): "certified"}

    asked: list[str] = []
    real_version = Lake.version

    def version(self: Lake, dataset: str) -> int | None:
        asked.append(dataset)
        return real_version(self, dataset)

    monkeypatch.setattr(Lake, "version", version)
    for _ in range(3):
        assert states.of(DAILY) == {(DAY, "CL"): "certified"}
    assert asked == []

    # A new judgment moves the mark: the next read sees it.
    judge(s3_lake, State.PRELIMINARY, AT + timedelta(minutes=1))
    assert states.of(DAILY) == {(DAY, "CL"): "preliminary"}
    assert asked, "a moved mark makes the read look at the tables again"


def test_two_commits_to_one_table_within_a_second_each_move_the_mark(s3_lake: Lake) -> None:
    certify_minutes(s3_lake)
    marks = [s3_lake.change_mark()]
    for _ in range(3):
        s3_lake.mark_changed("operations/readiness_log")
        marks.append(s3_lake.change_mark())
    assert None not in marks
    assert len(set(marks)) == len(marks)


def test_a_local_lake_has_no_mark_and_reads_new_judgments(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    certify_minutes(lake)
    judge(lake, State.CERTIFIED, AT)
    states = CertificationStates(lake)
    assert lake.change_mark() is None
    assert states.of(DAILY) == {(DAY, "CL"): "certified"}
    judge(lake, State.FAILED, AT + timedelta(minutes=1))
    assert states.of(DAILY) == {(DAY, "CL"): "failed"}
