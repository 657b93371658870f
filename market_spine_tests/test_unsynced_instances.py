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


def test_a_test_instances_storages_keep_their_engines_and_store_every_event() -> None:
    """The event log and run storages reuse one engine per database between statements (see
    `kit.sqlite_sync`), and store what the stock storages do."""
    with dg.instance_for_test() as instance:
        run = create_run_for_test(instance, job_name="events")
        storage = instance.event_log_storage
        engines = []
        for _ in range(2):
            with storage.run_connection(run.run_id) as conn:  # type: ignore[attr-defined]
                engines.append(conn.engine)
        with instance.run_storage.connect() as first, instance.run_storage.connect() as second:  # type: ignore[attr-defined]
            assert first.engine is second.engine
        for i in range(5):
            instance.report_engine_event(f"event {i}", run)
        logged = [e.message for e in instance.all_logs(run.run_id)]
        assert instance.get_run_by_id(run.run_id) is not None
    assert engines[0] is engines[1]
    assert [m for m in logged if m.startswith("event ")] == [f"event {i}" for i in range(5)]
