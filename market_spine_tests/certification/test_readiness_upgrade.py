"""A home made before readiness kept reasons: its readiness log has no reason column. Every
read of it (Spine, SQL, the states a read attaches) keeps working, the next judgment's rows
add the column, and the rows written before read it as null."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from market_spine.certification import ledger
from market_spine.certification.readiness import Readiness, ReadinessQuery
from market_spine.certification.status import CertificationStates
from market_spine.certification.tables import READINESS_LOG, READINESS_LOG_SCHEMA
from market_spine.client import BARS_1M, Spine

DAY = date(2024, 3, 4)
EARLIER, LATER = (datetime(2024, 3, 5, h, tzinfo=UTC) for h in (12, 13))
QUERY = ReadinessQuery((BARS_1M,), None, None, None)


def judged(symbol: str, state: str, at: datetime, **more: object) -> dict:
    return {
        "dataset": BARS_1M,
        "partition": f"{DAY}|{symbol}",
        "trade_date": DAY,
        "symbol": symbol,
        "state": state,
        "unit": "minutes",
        "expected": 1380,
        "present": 1380,
        "missing": 0,
        "capture_id": "01HRZ6Q7V0000000000000000A",
        "computed_at": at,
        "run_id": "run",
        **more,
    }


def test_a_readiness_log_without_reasons_reads_and_takes_them_on(tmp_path: Path) -> None:
    home = tmp_path / "home"
    spine = Spine(home, warn_empty=False)
    lake = spine.lake
    old = {c: t for c, t in READINESS_LOG_SCHEMA.items() if c not in ("reason", "instrument")}
    lake.append(READINESS_LOG, pl.DataFrame([judged("CL", "certified", EARLIER)], schema=old))
    assert "reason" not in lake.read(READINESS_LOG).columns

    reader, states = Readiness(lake), CertificationStates(lake)
    [row] = reader.read(QUERY, LATER).to_dicts()
    assert (row["state"], row["reason"]) == ("certified", None)
    assert spine.sql("select state, reason from readiness").rows() == [("certified", None)]
    assert states.of(BARS_1M) == {(DAY, "CL"): "certified"}

    why = "certifying check failed: completeness"
    ledger.record(lake, [], [], [], "next", [judged("NG", "failed", LATER, reason=why)])
    log = lake.read(READINESS_LOG).sort("symbol")
    assert log.select("symbol", "reason").rows() == [("CL", None), ("NG", why)]
    # The reader that had read the old log goes on from it, and a fresh one reads both.
    for ready in (reader.read(QUERY, LATER), Readiness(lake).read(QUERY, LATER)):
        assert ready.select("symbol", "state", "reason").rows() == [
            ("CL", "certified", None),
            ("NG", "failed", why),
        ]
    assert Spine(home, warn_empty=False).sql(
        "select symbol, reason from readiness order by symbol"
    ).rows() == [("CL", None), ("NG", why)]
    assert states.of(BARS_1M) == {(DAY, "CL"): "certified", (DAY, "NG"): "failed"}
