"""A derived partition computed from a failed input, on a real Delta lake: greeks over a chain
that lost expirations fail with it, name it and what it lacks, keep their own counts, and
record each change of state in the certifications."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from market_spine.certification import ledger
from market_spine.certification.certify import Judged, Partition
from market_spine.certification.derived import judge_derived
from market_spine.certification.readiness import Completeness, Readiness, ReadinessQuery
from market_spine.certification.tables import CERTIFICATIONS
from market_spine.lake import Lake
from market_spine.options.catalog import GREEKS_SPEC, NORMALIZED_CHAIN_SPEC

DAY = date(2024, 3, 5)
KEY = DAY.isoformat()
FINAL = datetime(2024, 3, 5, 22, 15, tzinfo=UTC)
AT = datetime(2024, 3, 6, 12, tzinfo=UTC)
CHAIN, GREEKS = NORMALIZED_CHAIN_SPEC.name, GREEKS_SPEC.name


def chain_judged(lake: Lake, state: str, spxw_present: int) -> None:
    """The chain's readiness rows of DAY: SPX whole, SPXW holding `spxw_present` of 12."""
    rows = [
        {
            "dataset": CHAIN,
            "partition": KEY,
            "trade_date": DAY,
            "symbol": root,
            "state": state,
            "unit": "expirations",
            "expected": 12,
            "present": present,
            "missing": 12 - present,
            "capture_id": "01HRZ6Q7V0000000000000000A",
            "computed_at": datetime(2024, 3, 6, 11, tzinfo=UTC),
            "run_id": "chain",
        }
        for root, present in (("SPX", 12), ("SPXW", spxw_present))
    ]
    ledger.record(lake, [], [], [], "chain", rows)


def greeks_judged(lake: Lake) -> tuple[str, str]:
    """Judge DAY's greeks (every owed vol solved) from the chain: their state and reason."""
    vols = [Completeness(root, "vols", 40, 40, 0) for root in ("SPX", "SPXW")]
    judged = judge_derived(
        lake,
        GREEKS,
        (CHAIN,),
        "greeks",
        [Partition(KEY, DAY, None, (DAY,), FINAL)],
        ("trade_date",),
        pl.DataFrame({"trade_date": [DAY]}),
        Judged([], {KEY: {}}, set()),
        AT,
        {KEY: vols},
    )
    outcome = judged.outcomes[KEY].metadata
    return outcome["state"], outcome["reason"]


def readiness(lake: Lake) -> dict[str, tuple]:
    rows = Readiness(lake).read(ReadinessQuery((GREEKS,), None, None, None), AT)
    columns = ("symbol", "state", "unit", "present", "reason")
    return {r[0]: r[1:] for r in rows.select(columns).iter_rows()}


def test_greeks_over_a_failed_chain_fail_naming_it_and_what_each_root_lacks(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")
    chain_judged(lake, "failed", 9)
    state, reason = greeks_judged(lake)
    assert state == "failed"
    assert reason == f"input {CHAIN} FAILED: SPXW 9 of 12 expirations"
    # Each root's greeks keep their own counts (every owed vol solved); what the chain lacks
    # is in the reason of the root that lacks it.
    assert readiness(lake) == {
        "SPX": ("failed", "vols", 40, f"input {CHAIN} FAILED"),
        "SPXW": ("failed", "vols", 40, f"input {CHAIN} FAILED: 9 of 12 expirations"),
    }


def test_a_derived_partition_records_its_transitions_as_a_captured_one_does(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")
    chain_judged(lake, "failed", 9)
    greeks_judged(lake)
    greeks_judged(lake)  # judged again, still failed: no transition
    chain_judged(lake, "certified", 12)
    greeks_judged(lake)
    found = lake.read(CERTIFICATIONS).filter(pl.col("dataset") == GREEKS).sort("recorded_at")
    spxw = found.filter(pl.col("symbol") == "SPXW")
    assert spxw.select("previous_state", "state").rows() == [
        (None, "failed"),
        ("failed", "certified"),
    ]
    failed = spxw.row(0, named=True)
    assert failed["reason"] == f"input {CHAIN} FAILED: 9 of 12 expirations"
    assert (failed["partition"], failed["trade_date"], failed["run_id"]) == (KEY, DAY, "greeks")
    assert failed["capture_id"] == "01HRZ6Q7V0000000000000000A"
    assert failed["code_version"] and failed["final_at"] == FINAL
    assert json.loads(failed["checks_json"]) == {}
    assert found.filter(pl.col("symbol") == "SPX").height == 2


def test_greeks_over_a_certified_chain_keep_their_own_counts(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    chain_judged(lake, "certified", 11)
    state, _ = greeks_judged(lake)
    assert state == "certified"
    why = f"computed from certified {CHAIN}; its certifying checks passed"
    assert readiness(lake) == {
        "SPX": ("certified", "vols", 40, why),
        "SPXW": ("certified", "vols", 40, why),
    }
