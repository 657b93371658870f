"""The test Dagster instances write without syncing the disk, so a warehouse build's event
writes (hundreds of commits) cost what the work does, not what the disk's syncs do."""

from __future__ import annotations

import dagster as dg
from sqlalchemy import text


def test_a_test_instance_commits_without_syncing_the_disk() -> None:
    with dg.instance_for_test() as instance:
        storage = instance.run_storage
        with storage.connect() as conn:  # type: ignore[attr-defined]
            synchronous = conn.execute(text("PRAGMA synchronous")).scalar()
    assert synchronous == 0, "test instances should commit with synchronous=OFF"
