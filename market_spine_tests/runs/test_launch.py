"""CLI runs are runs of the deployed code location: the UI's GraphQL re-executes them, the
daemon's retry logic retries them, and both use the provider settings the run was launched with,
not the server's."""

from __future__ import annotations

import logging
import socket
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.auto_run_reexecution.auto_run_reexecution import (
    consume_new_runs_for_automatic_reexecution,
)
from dagster_graphql.client.query import LAUNCH_PIPELINE_REEXECUTION_MUTATION
from dagster_graphql.test.utils import execute_dagster_graphql

from market_spine.config.identity import os_user
from market_spine.fakes.tws import FakeTWS
from market_spine.home import instance as home_instance
from market_spine.providers.resource import MarketDataResource
from market_spine.runs import provenance
from market_spine.runs.launch import execute, materialize_range
from market_spine.runs.location import location_origin
from market_spine_tests.kit.homes import settings_for

DAY = date(2024, 3, 5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment a Dagster server would load the code location with: simulated bars."""
    monkeypatch.setenv("MARKET_SPINE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.setenv("MARKET_SPINE_PROVIDER", "simulated")
    return home


def failed_ib_run(home: Path, port: int) -> tuple[dg.DagsterInstance, dg.DagsterRun]:
    """A CLI run of CL on DAY that captures from IB at `port`, where nothing listens yet."""
    instance = home_instance(settings_for(home))
    market = MarketDataResource(provider="ib", ib_port=port, ib_unavailable_after=2.0)
    [summary] = materialize_range(
        settings_for(home), ["CL"], DAY, DAY, instance=instance, market=market
    )
    assert not summary.success
    assert summary.failure is not None and f"127.0.0.1:{port}" in summary.failure
    run = instance.get_run_by_id(summary.run_id)
    assert run is not None
    return instance, run


def sources(home: Path) -> set[str]:
    raw = pl.read_delta(str(settings_for(home).lake_root / "raw" / "futures_bars_1m"))
    return set(raw["source"].unique().to_list())


def test_cli_run_has_the_workspace_origin_and_says_who_launched_it_with_what(
    server_home: Path,
) -> None:
    _, run = failed_ib_run(server_home, port := free_port())
    assert run.remote_job_origin is not None
    assert run.remote_job_origin.location_name == location_origin().location_name
    assert run.tags[provenance.LAUNCHED_FROM] == "cli"
    assert run.tags[provenance.LAUNCHED_BY] == os_user()
    assert run.tags["market_spine/provider"] == "ib"
    assert run.tags["market_spine/ib_endpoint"] == f"127.0.0.1:{port}"
    assert run.tags["dagster/asset_partition_range_start"] == f"{DAY}|CL"
    assert run.run_config["resources"]["market"]["config"]["ib_port"] == port


def test_graphql_reexecution_from_failure_uses_the_runs_provider_not_the_servers(
    server_home: Path,
) -> None:
    instance, parent = failed_ib_run(server_home, port := free_port())
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(location_origin())) as ws:
        result = execute_dagster_graphql(
            ws.create_request_context(),
            LAUNCH_PIPELINE_REEXECUTION_MUTATION,
            {"reexecutionParams": {"parentRunId": parent.run_id, "strategy": "FROM_FAILURE"}},
        )
    launched = result.data["launchPipelineReexecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    child = instance.get_run_by_id(launched["run"]["runId"])
    assert child is not None and child.parent_run_id == parent.run_id
    with FakeTWS.running(port=port):  # IB Gateway is back
        assert execute(instance, child).success
    # The server's code location captures simulated bars; the re-execution used the run's IB.
    assert sources(server_home) == {"ib"}


def test_failed_cli_run_is_retried_by_the_daemons_retry_logic(server_home: Path) -> None:
    instance, parent = failed_ib_run(server_home, port := free_port())
    record = instance.get_run_record_by_id(parent.run_id)
    assert record is not None and record.dagster_run.tags.get("dagster/will_retry") == "true"
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(location_origin())) as ws:
        list(consume_new_runs_for_automatic_reexecution(ws, [record], logging.getLogger("t")))
    parent = instance.get_run_by_id(parent.run_id)
    assert parent is not None
    retry = instance.get_run_by_id(parent.tags["dagster/auto_retry_run_id"])
    assert retry is not None and retry.status == dg.DagsterRunStatus.QUEUED
    assert retry.tags["market_spine/provider"] == "ib"
    with FakeTWS.running(port=port):
        assert execute(instance, retry).success
    assert sources(server_home) == {"ib"}
