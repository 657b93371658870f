"""The freshness SLA across market halts, evaluated by the real Dagster job: on Thanksgiving 2024
Globex halts ES at 12:00 CT and CL/NG at 13:30 CT until the 17:00 CT reopen, and nothing owes a
bar while halted; the one-hour clock restarts at the reopen."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg

from market_spine.definitions import build_definitions
from market_spine.futures import definitions as futures
from market_spine.operations import definitions as operations
from market_spine.operations.freshness import (
    CHAIN_FRESHNESS_CHECK_KEY,
    FRESHNESS_CHECK_KEY,
    freshness_job,
)
from market_spine.options import definitions as options
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import materialize_options, resources
from market_spine_tests.kit.homes import load_at, settings_for

#: 13:31 CT on Thanksgiving: ES halted since 12:00 CT, CL and NG since 13:30 CT.
CAPTURED_AT = "2024-11-28T19:31:00Z"


def _evaluations(
    home: Path, instance: dg.DagsterInstance, now: str
) -> dict[dg.AssetCheckKey, dg.AssetCheckEvaluation]:
    """Run the home's freshness job at `now` on `instance`: its evaluations by check."""
    settings = settings_for(home)
    defs = dg.Definitions.merge(
        futures.build_definitions(settings),
        options.build_definitions(settings),
        operations.build_definitions(settings),
        dg.Definitions(resources=resources(settings, MarketDataResource(frozen_now=now))),
    )
    result = defs.resolve_job_def(freshness_job.name).execute_in_process(instance=instance)
    return {e.asset_check_key: e for e in result.get_asset_check_evaluations()}


def _evaluate(home: Path, instance: dg.DagsterInstance, now: str) -> dg.AssetCheckEvaluation:
    """The futures freshness evaluation of the home's freshness job run at `now`."""
    return _evaluations(home, instance, now)[FRESHNESS_CHECK_KEY]


def test_the_thanksgiving_halt_owes_no_bar_until_an_hour_after_the_reopen(
    home: Path, instance: dg.DagsterInstance
) -> None:
    load_at(home, instance, CAPTURED_AT, date(2024, 11, 29), date(2024, 11, 29))
    for now in ("2024-11-28T19:31:00Z", "2024-11-28T21:00:00Z", "2024-11-28T22:30:00Z"):
        halted = _evaluate(home, instance, now)
        metadata = {k: v.value for k, v in halted.metadata.items()}
        assert halted.passed, (now, metadata)
        # The newest bar of each is the minute before its halt: one minute of trading since.
        assert metadata["lag_minutes"] == {"CL": 1.0, "ES": 1.0, "NG": 1.0}
        assert metadata["halted_symbols"] == "CL, ES, NG"
    # Globex reopens at 17:00 CT (23:00 UTC): an hour of trading later the SLA is due again.
    assert _evaluate(home, instance, "2024-11-28T23:59:00Z").passed
    late = _evaluate(home, instance, "2024-11-29T00:00:30Z")
    assert not late.passed
    assert late.severity == dg.AssetCheckSeverity.ERROR
    assert late.metadata["stale_symbols"].value == "CL, ES, NG"
    assert late.metadata["lag_minutes"].value == {"CL": 61.5, "ES": 61.5, "NG": 61.5}


def test_no_asset_carries_a_wall_clock_freshness_policy(home: Path) -> None:
    # Dagster's policies count wall time since the last materialization, so any of them goes
    # red across every halt and weekend: the halt-aware check above is the only SLA.
    graph = build_definitions(settings_for(home)).resolve_asset_graph()
    with_policy = [k for k in graph.get_all_asset_keys() if graph.get(k).freshness_policy]
    assert with_policy == []


def test_option_chains_owe_friday_only_an_hour_into_the_next_session(
    home: Path, instance: dg.DagsterInstance
) -> None:
    # Cboe: Thanksgiving 2024 closed, Friday 11-29 closes 13:15 ET; the chains of 11-27 stored.
    run = materialize_options(
        settings_for(home), date(2024, 11, 27), date(2024, 11, 27), instance=instance
    )
    assert run is not None and run.success, run

    def chain(now: str) -> dg.AssetCheckEvaluation:
        return _evaluations(home, instance, now)[CHAIN_FRESHNESS_CHECK_KEY]

    for halted in ("2024-11-28T15:00:00Z", "2024-11-29T20:00:00Z", "2024-12-01T12:00:00Z"):
        assert chain(halted).passed, halted
    # Monday's session opens 09:30 ET (14:30 UTC): Friday's chains are due an hour later.
    assert chain("2024-12-02T15:30:00Z").passed
    late = chain("2024-12-02T15:31:00Z")
    assert not late.passed
    assert late.severity == dg.AssetCheckSeverity.WARN
    assert late.metadata["owed_trade_date"].value == "2024-11-29"
    assert late.metadata["lag_minutes"].value == {"SPX": 61.0, "SPXW": 61.0}
