"""The test Dagster instances write without syncing the disk, so a warehouse build's event
writes (hundreds of commits) cost what the work does, not what the disk's syncs do."""

from __future__ import annotations

import dagster as dg
from dagster._core.test_utils import create_run_for_test
from sqlalchemy import text


def test_a_test_instance_commits_without_syncing_the_disk() -> None:
    with dg.instance_for_test() as instance:
        storage = instance.run_storage
        with storage.connect() as conn:  # type: ignore[attr-defined]
            synchronous = conn.execute(text("PRAGMA synchronous")).scalar()
    assert synchronous == 0, "test instances should commit with synchronous=OFF"


def test_a_test_instances_event_log_keeps_its_engine_and_stores_every_event() -> None:
    """The event log reuses one engine per database between statements (see
    `kit.sqlite_sync`), and stores what the stock storage does."""
    with dg.instance_for_test() as instance:
        run = create_run_for_test(instance, job_name="events")
        storage = instance.event_log_storage
        engines = []
        for _ in range(2):
            with storage.run_connection(run.run_id) as conn:  # type: ignore[attr-defined]
                engines.append(conn.engine)
        for i in range(5):
            instance.report_engine_event(f"event {i}", run)
        logged = [e.message for e in instance.all_logs(run.run_id)]
    assert engines[0] is engines[1]
    assert [m for m in logged if m.startswith("event ")] == [f"event {i}" for i in range(5)]
