"""Each partition's newest judgment, indexed beside the journal: the same answer the readiness
log gives, from its first question on (an older home's log is indexed once), and never an older
judgment over a newer one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from market_spine.certification import judgment_index, ledger
from market_spine.certification.judged import newest_judgments
from market_spine.certification.readiness import log_rows
from market_spine.certification.tables import READINESS_LOG
from market_spine.lake import Lake

DAY = date(2024, 3, 4)
AT = datetime(2024, 3, 5, 12, tzinfo=UTC)
MINUTES = "normalized/futures_bars_1m"
DAILY = "analytics/futures_daily"


def judgment(
    dataset: str, day: date, symbol: str | None, state: str, minutes: int, **extra: Any
) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "partition": f"{day}|{symbol}" if symbol else str(day),
        "trade_date": day,
        "symbol": symbol,
        "state": state,
        "capture_id": f"cap-{minutes}",
        "delta_version": minutes,
        "computed_at": AT + timedelta(minutes=minutes),
        **extra,
    }


def history() -> list[dict[str, Any]]:
    """Judgments over two datasets: partitions judged again, a whole-day one per symbol and
    one with no symbol, days inside and outside the window asked."""
    return [
        judgment(MINUTES, DAY, "CL", "preliminary", 1),
        judgment(MINUTES, DAY, "NG", "certified", 2),
        judgment(MINUTES, DAY, "CL", "certified", 3),
        judgment(MINUTES, DAY + timedelta(days=1), "CL", "failed", 4),
        judgment(MINUTES, DAY + timedelta(days=9), "CL", "certified", 5),
        judgment(DAILY, DAY, None, "preliminary", 6),
        judgment(DAILY, DAY, None, "revised", 7),
    ]


def from_log(lake: Lake, datasets: list[str], first: date, last: date) -> pl.DataFrame:
    """What the readiness log itself says (a lake that keeps no index reads it)."""
    lake.fold()
    plain = Lake(lake.root)
    plain.journal = None
    return newest_judgments(plain, datasets, first, last)


def ordered(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    return sorted(frame.rows(), key=lambda r: (r[0], r[1], r[2] or ""))


def test_the_index_answers_as_the_readiness_log_does(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    for row in history():
        ledger.record(lake, [], [], [], "run", [row])
    window = (DAY, DAY + timedelta(days=1))
    indexed = judgment_index.newest(lake, [MINUTES, DAILY], *window)
    assert indexed.schema == newest_judgments(Lake(lake.root), [MINUTES, DAILY], *window).schema
    assert ordered(indexed) == ordered(from_log(lake, [MINUTES, DAILY], *window))
    states = {(p, s): st for _, p, s, st, *_ in indexed.rows()}
    assert states == {
        (f"{DAY}|CL", "CL"): "certified",
        (f"{DAY}|NG", "NG"): "certified",
        (f"{DAY + timedelta(days=1)}|CL", "CL"): "failed",
        (str(DAY), None): "revised",
    }


def test_an_older_homes_log_is_indexed_the_first_time_it_is_asked(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    frame = log_rows(
        pl.DataFrame(history(), schema_overrides={"computed_at": pl.Datetime("us", "UTC")})
    )
    lake.append(READINESS_LOG, frame)  # written before the index existed
    window = (DAY, DAY + timedelta(days=30))
    indexed = judgment_index.newest(lake, [MINUTES], *window)
    assert ordered(indexed) == ordered(from_log(lake, [MINUTES], *window))
    assert lake.ledger.query("SELECT dataset FROM newest_judgments_seeded", ()) == [(MINUTES,)]
    # From then on each judgment keeps it current without the log.
    ledger.record(lake, [], [], [], "run", [judgment(MINUTES, DAY, "CL", "revised", 30)])
    again = judgment_index.newest(lake, [MINUTES], DAY, DAY)
    assert dict(again.select("partition", "state").iter_rows())[f"{DAY}|CL"] == "revised"


def test_an_older_judgment_never_replaces_a_newer_one(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    newer, older = (
        judgment(MINUTES, DAY, "CL", s, m) for s, m in (("failed", 9), ("certified", 1))
    )
    ledger.record(lake, [], [], [], "run", [newer])
    # A seed read before the newer one landed, or a slower step racing it, comes second.
    lake.ledger.write(judgment_index.indexed(lake, [older]))
    [row] = judgment_index.newest(lake, [MINUTES], DAY, DAY).to_dicts()
    assert (row["state"], row["capture_id"]) == ("failed", "cap-9")


def test_judgments_retention_deletes_leave_the_index(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    for row in history():
        ledger.record(lake, [], [], [], "run", [row])
    judgment_index.drop(lake, MINUTES, (DAY, DAY), [f"{DAY}|CL"], {"run_id": "retention"})
    left = judgment_index.newest(lake, [MINUTES], DAY, DAY)
    assert left["partition"].to_list() == [f"{DAY}|NG"]
    assert ordered(left) == ordered(from_log(lake, [MINUTES], DAY, DAY))


@pytest.mark.parametrize("datasets", [[MINUTES], [MINUTES, DAILY]])
def test_a_step_asks_the_index_not_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, datasets: list[str]
) -> None:
    lake = Lake(tmp_path / "lake")
    for row in history():
        ledger.record(lake, [], [], [], "run", [row])
    lake.fold()
    judgment_index.newest(lake, datasets, DAY, DAY)  # indexed (seeded) once
    opened: list[str] = []
    real = Lake.read
    monkeypatch.setattr(Lake, "read", lambda self, d, **kw: opened.append(d) or real(self, d, **kw))
    cold = Lake(lake.root)
    found = newest_judgments(cold, datasets, DAY, DAY + timedelta(days=1))
    assert opened == []
    assert ordered(found) == ordered(from_log(lake, datasets, DAY, DAY + timedelta(days=1)))
