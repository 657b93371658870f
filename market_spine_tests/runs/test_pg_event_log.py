"""A run's events written in batches to a real PostgreSQL instance leave the rows dagster-postgres
writes one by one (events, asset rows, every check's row with its status), readable through the
instance API and `status`, in a handful of statements per step instead of three per check."""

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from sqlalchemy import event
from sqlalchemy.engine import Engine

from market_spine.operations.status import latest_check_executions
from market_spine.runs import pg_event_log
from market_spine.runs.instance_writes import EVENT_BATCH_SIZE, hold_connections
from market_spine_tests.kit.postgres import PostgresServer

DATES = dg.StaticPartitionsDefinition(["2024-03-04", "2024-03-05", "2024-03-06"])
CHECKS = ("rows_present", "prices_positive")
#: The one verdict that fails (a warning, so the step still succeeds).
FAILING = ("2024-03-05", "prices_positive")
BARS = dg.AssetKey("bars")


@dg.asset(
    key=BARS,
    partitions_def=DATES,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec(n, asset=BARS, partitions_def=DATES) for n in CHECKS],
)
def bars(context: dg.AssetExecutionContext) -> Iterator[Any]:
    """A range step as the platform's assets write one: the materializations, every partition's
    verdict of every check, then each check's output."""
    yield dg.MaterializeResult(metadata={"rows": 390})
    for key in context.partition_keys:
        for name in CHECKS:
            yield dg.AssetCheckEvaluation(
                asset_key=BARS,
                check_name=name,
                passed=(key, name) != FAILING,
                severity=dg.AssetCheckSeverity.WARN,
                partition=key,
            )
    for name in CHECKS:
        output = context.assets_def.get_output_name_for_asset_check_key(
            dg.AssetCheckKey(BARS, name)
        )
        yield dg.Output(None, output_name=output)


RANGE = {ASSET_PARTITION_RANGE_START_TAG: "2024-03-04", ASSET_PARTITION_RANGE_END_TAG: "2024-03-06"}


@contextmanager
def pg_instance(postgres: PostgresServer) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance on a database of its own, as dagster-postgres opens it."""
    database = postgres.create_database(f"events_{uuid.uuid4().hex[:12]}")
    # dagster-postgres installs psycopg2; a bare `postgresql` URL would pick psycopg 3.
    url = postgres.dsn(database).replace("postgresql://", "postgresql+psycopg2://", 1)
    overrides = {"storage": {"postgres": {"postgres_url": url}}}
    with dg.instance_for_test(overrides=overrides) as instance:
        yield instance


class Statements:
    """Statements every SQLAlchemy engine of this process sends while counting, by kind (the
    verb and, for writes, the table)."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()

    def _sent(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = statement.split()
        verb = words[0].upper()
        table = {"INSERT": 2, "UPDATE": 1}.get(verb)
        self.kinds[f"{verb} {words[table]}" if table else verb] += 1

    def __enter__(self) -> Self:
        event.listen(Engine, "before_cursor_execute", self._sent)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(Engine, "before_cursor_execute", self._sent)


def written_rows(instance: dg.DagsterInstance) -> dict[str, Any]:
    """What a run left in the instance, run ids aside: events by type, the asset's row, and each
    check row with the type of the event it points at."""
    storage = instance.event_log_storage
    with storage.index_connection() as conn:  # type: ignore[attr-defined]
        sql = conn.exec_driver_sql
        events = sql("select dagster_event_type, count(*) from event_logs group by 1").fetchall()
        assets = sql(
            "select asset_key, last_materialization is not null, last_run_id is not null "
            "from asset_keys"
        ).fetchall()
        checks = sql(
            "select c.asset_key, c.check_name, c.partition, c.execution_status, "
            "e.dagster_event_type, e.run_id = c.run_id, e.partition = c.partition "
            "from asset_check_executions c left join event_logs e "
            "on e.id = c.evaluation_event_storage_id order by 1, 2, 3"
        ).fetchall()
        tags = sql("select count(*) from asset_event_tags").scalar()
    return {
        "events": dict(events),
        "assets": [tuple(r) for r in assets],
        "checks": [tuple(r) for r in checks],
        "tags": tags,
    }


def test_batched_writes_leave_the_rows_dagster_postgres_writes_in_fewer_statements(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
    rows, sent = {}, {}
    for batched in (False, True):
        with pg_instance(postgres) as instance:
            if batched:
                assert hold_connections(instance) == 3
            with Statements() as statements:
                result = dg.materialize([bars], instance=instance, tags=RANGE)
            assert result.success
            rows[batched], sent[batched] = written_rows(instance), statements.kinds

            # Read back through the instance API and `status`: every partition's verdict.
            history = {
                (name, record.partition): record.status
                for name in CHECKS
                for record in instance.event_log_storage.get_asset_check_execution_history(
                    dg.AssetCheckKey(BARS, name), limit=10
                )
            }
            expected = {
                (name, key): AssetCheckExecutionRecordStatus.FAILED
                if (key, name) == FAILING
                else AssetCheckExecutionRecordStatus.SUCCEEDED
                for key in DATES.get_partition_keys()
                for name in CHECKS
            }
            assert history == expected, batched
            failed = latest_check_executions(instance, failed_only=True)
            assert [(r[1], r[2]) for r in failed] == [FAILING[::-1]]
            assert sorted(instance.get_materialized_partitions(BARS)) == DATES.get_partition_keys()

    assert rows[True] == rows[False]
    assert rows[True]["events"]["ASSET_CHECK_EVALUATION"] == 6
    # dagster-postgres: an insert, a NOTIFY and an update for each of the six evaluations; in
    # batches: the step's evaluations in one insert and one update, and no NOTIFY at all.
    assert sent[False]["UPDATE asset_check_executions"] == 6
    assert sent[True]["UPDATE asset_check_executions"] == 1
    assert sent[False]["NOTIFY"] > 6 and sent[True]["NOTIFY"] == 0
    assert sum(sent[True].values()) < sum(sent[False].values()) / 2, (sent[True], sent[False])


def evaluation(
    run_id: str, step_key: str | None, passed: bool, partition: str = "2024-03-04"
) -> EventLogEntry:
    """A check's evaluation of one partition, as a run's step (or a runless report) logs it."""
    data = dg.AssetCheckEvaluation(
        asset_key=BARS, check_name=CHECKS[0], passed=passed, partition=partition
    )
    dagster_event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION.value,
        job_name="bars_job",
        step_key=step_key,
        event_specific_data=data,
    )
    return EventLogEntry(
        error_info=None,
        level="DEBUG",
        user_message="",
        run_id=run_id,
        timestamp=time.time(),
        step_key=step_key,
        job_name="bars_job",
        dagster_event=dagster_event,
    )


def test_held_evaluations_are_written_before_the_next_event_or_on_disposal(
    postgres: PostgresServer,
) -> None:
    with pg_instance(postgres) as instance:
        hold_connections(instance)
        storage: Any = instance.event_log_storage
        run_id = uuid.uuid4().hex
        instance.store_event(evaluation(run_id, "bars", passed=False))
        assert storage.event_log_writes.held == 1
        assert instance.all_logs(run_id) == []

        # The step's next event (here a log message) writes the held evaluation first.
        message = EventLogEntry(
            error_info=None,
            level="INFO",
            user_message="step done",
            run_id=run_id,
            timestamp=time.time(),
            step_key="bars",
            job_name="bars_job",
        )
        instance.store_event(message)
        logged = instance.all_logs(run_id)
        assert [e.dagster_event_type for e in logged] == [
            DagsterEventType.ASSET_CHECK_EVALUATION,
            None,
        ]
        [(_, name, partition, status, _, _)] = latest_check_executions(instance)
        assert (name, partition, status) == (CHECKS[0], "2024-03-04", "FAILED")

        # A runless evaluation (a sweep's report) is written at once.
        instance.store_event(evaluation("", None, passed=True))
        assert storage.event_log_writes.held == 0
        [(_, _, _, status, _, _)] = latest_check_executions(instance)
        assert status == "SUCCEEDED"

        later = uuid.uuid4().hex
        instance.store_event(evaluation(later, "bars", passed=False))
        assert storage.event_log_writes.held == 1
        storage.dispose()
        assert len(instance.all_logs(later)) == 1


def test_a_failed_batch_leaves_nothing_and_is_written_one_by_one(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    update = pg_event_log._update_planned_rows

    def refusing_batches(conn: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(rows) > 1:
            raise RuntimeError("the server dropped the connection")
        return update(conn, rows)

    monkeypatch.setattr(pg_event_log, "_update_planned_rows", refusing_batches)
    with pg_instance(postgres) as instance:
        hold_connections(instance)
        run_id = uuid.uuid4().hex
        for key in DATES.get_partition_keys():
            instance.store_event(evaluation(run_id, "bars", passed=True, partition=key))
        instance.event_log_storage.dispose()
        # The batch's insert was rolled back with it: each evaluation is in the log once.
        logged = instance.all_logs(run_id)
        assert len(logged) == len(DATES.get_partition_keys())
        partitions = sorted(r[2] for r in latest_check_executions(instance))
        assert partitions == DATES.get_partition_keys()
