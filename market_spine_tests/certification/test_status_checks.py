"""A preliminary partition is no finding: the `certified` check stays out of run summaries."""

from __future__ import annotations

import dagster as dg

from market_spine.check_kit import CERTIFIED_CHECK, is_finding, summarize_failures

BARS = dg.AssetKey(["normalized", "futures_bars_1m"])


def evaluation(check: str, passed: bool) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(
        asset_key=BARS,
        check_name=check,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        partition="2024-03-05|CL",
    )


def test_run_summaries_leave_the_certified_check_out() -> None:
    failures = summarize_failures(
        [evaluation(CERTIFIED_CHECK, False), evaluation("completeness", False)]
    )
    assert failures == ("normalized/futures_bars_1m:completeness [2024-03-05|CL]",)
    assert not is_finding(CERTIFIED_CHECK) and is_finding("validity")
