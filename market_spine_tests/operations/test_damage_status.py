"""A run that failed on damaged lake data is not offered a retry: Dagster does not retry it
automatically (`dagster/will_retry` false), `status` calls a retry unsafe naming the damaged
partition and the repair, and its integrity line is not "no damage"; `process` sums the
failure up in one line with the repair, never a library's traceback. Real Dagster instance
with run retries on, the platform's executor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.tags import WILL_RETRY_TAG

from market_spine.cli.process import one_line_cause
from market_spine.errors import LakeDamaged
from market_spine.operations.status import Health, damage_seen, recent_failures
from market_spine.runs.metered_executor import metered_executor

REPAIR = (
    "re-materialize it from the raw captures: `market-spine process --start 2024-03-04 "
    "--end 2024-03-08 --symbols CL --domain futures`"
)
DAMAGE = LakeDamaged(
    "normalized/futures_bars_1m",
    "data file symbol=CL/part-1.parquet has 10 bytes, the log says 20 (cut short or grown)",
    partition="symbol=CL, trade dates 2024-03-04..2024-03-08",
    repair=REPAIR,
    path="symbol=CL/part-1.parquet",
)


@dg.op
def read_damaged() -> None:
    raise DAMAGE


@dg.op
def build_over_damage() -> None:
    # As a dbt build fails: a library's error quoting the refusal's message in its output.
    raise RuntimeError(
        "dbt build failed\nRuntime Error in model fct_futures_bars_1m\n  Invalid Input Error: "
        f"{DAMAGE}\nTraceback (most recent call last):\n  File 'x.py', line 1"
    )


@dg.job(executor_def=metered_executor)
def damaged_read_job() -> None:
    read_damaged()


@dg.job(executor_def=metered_executor)
def damaged_build_job() -> None:
    build_over_damage()


@pytest.fixture
def retrying(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(
        overrides={"run_retries": {"enabled": True, "max_retries": 2}},
        temp_dir=str(tmp_path),
    ) as inst:
        yield inst


@pytest.mark.parametrize("job", ["damaged_read_job", "damaged_build_job"])
def test_a_run_failed_on_damage_is_not_retried_and_names_the_repair(
    retrying: dg.DagsterInstance, job: str
) -> None:
    jobs = {"damaged_read_job": damaged_read_job, "damaged_build_job": damaged_build_job}
    with dg.execute_job(dg.reconstructable(jobs[job]), instance=retrying) as result:
        assert not result.success
        run_id = result.run_id
    run = retrying.get_run_by_id(run_id)
    assert run is not None and run.tags.get(WILL_RETRY_TAG) == "false"

    (failure,) = recent_failures(retrying, datetime.now(UTC))
    assert failure["retry_safe"] is False
    assert "symbol=CL, trade dates 2024-03-04..2024-03-08" in failure["retry_reason"]
    assert REPAIR in failure["retry_reason"] and REPAIR in failure["damage"]
    assert "Traceback" not in failure["cause"]

    health = damage_seen([Health("integrity", True, "8 tables, 27 files, no damage")], [failure])
    assert [(h.name, h.ok) for h in health] == [("integrity", False)]
    assert "no damage" not in health[0].detail and REPAIR in health[0].detail


def test_the_failed_run_line_is_one_line_with_the_repair() -> None:
    dbt = (
        "dbt_build: DagsterDbtCliRuntimeError: dbt build failed\nRuntime Error in model x\n"
        f"  Invalid Input Error: {DAMAGE}\nTraceback (most recent call last): ... {DAMAGE}"
    )
    line = one_line_cause(" ".join(dbt.split()))
    assert line == f"dbt_build: {DAMAGE}"
    assert "Traceback" not in line and "\n" not in line
    long = "warehouse: DagsterDbtCliRuntimeError: " + "dbt says something. " * 40
    assert len(one_line_cause(long)) < 200
