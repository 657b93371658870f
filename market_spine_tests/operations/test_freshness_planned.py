"""Runs that load partitions leave no check planned and never judged: a freshness check (judged
once, for the asset) that Dagster planned per partition of an options range gives each planned
partition the asset's verdict, so the UI shows no skipped check; futures and company runs too."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable as t
from sqlalchemy import select

from market_spine.home import instance as home_instance
from market_spine.runs.launch import materialize_company, materialize_options, materialize_range
from market_spine_tests.kit.homes import settings_for


def _rows(instance: dg.DagsterInstance) -> list[tuple[str, str, str | None, str]]:
    query = select(t.c.asset_key, t.c.check_name, t.c.partition, t.c.execution_status)
    with instance.event_log_storage.index_connection() as conn:  # type: ignore[attr-defined]
        return [tuple(row) for row in conn.execute(query).fetchall()]


def test_no_check_stays_planned_after_futures_options_and_company_runs(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    first, last = date(2024, 3, 4), date(2024, 3, 5)
    with home_instance(settings) as instance:
        options = materialize_options(settings, first, last, instance=instance)
        assert options is not None and options.success, options
        [futures] = materialize_range(settings, ["CL"], first, last, instance=instance)
        assert futures.success, futures
        assert all(run.success for run in materialize_company(settings, instance=instance))
        rows = _rows(instance)
    assert [r for r in rows if r[3] == "PLANNED"] == []
    chain = '["normalized", "options_chain_eod"]'
    fresh = sorted((p or "", s) for a, n, p, s in rows if a == chain and n == "freshness")
    # The asset's verdict, and the same verdict on each partition the run planned it for.
    assert fresh == [("", "SUCCEEDED"), ("2024-03-04", "SUCCEEDED"), ("2024-03-05", "SUCCEEDED")]
    judged = {n for _, n, _, _ in rows}
    assert "freshness" in judged and len(judged) > 5
