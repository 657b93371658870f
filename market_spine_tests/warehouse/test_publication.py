"""The warehouse every node reads: two homes on two "nodes" share a lake on a real S3-compatible
server and their stores on a real PostgreSQL; what one builds, the other queries without
building, and newer builds reach it. A copy that does not match its published digest is
refused, and a failed build publishes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from market_spine.client import Spine
from market_spine.errors import LakeDamaged
from market_spine.lake.storage import LocalStorage
from market_spine.runs.launch import materialize_range, materialize_warehouse
from market_spine.settings import Settings
from market_spine.warehouse import publication
from market_spine.warehouse.paths import warehouse_path
from market_spine.warehouse.publication import POINTER, PUBLISHED_DIR, PublishedWarehouse
from market_spine.warehouse.resource import WarehouseResource
from market_spine_tests.kit.postgres import PostgresServer
from market_spine_tests.kit.s3 import S3Server
from market_spine_tests.kit.state_db import PII_HASH_KEY, use_postgres

MINUTES = "select count(*) as n from marts.fct_futures_bars_1m"


@dataclass(frozen=True)
class Nodes:
    """Two homes sharing one lake bucket and one state database, and their settings."""

    builder: Settings
    reader: Settings
    bucket: str


@pytest.fixture
def nodes(
    s3: S3Server, postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Nodes]:
    state = use_postgres(postgres, monkeypatch)
    monkeypatch.setattr(publication, "CHECK_EVERY_S", 0.0)
    bucket = s3.bucket()
    builder_env = s3.lake_env(tmp_path / "node-a", bucket)
    for name, value in builder_env.items():
        monkeypatch.setenv(name, value)
    builder = Settings.from_env()
    reader = s3.settings(
        tmp_path / "node-b",
        bucket,
        MARKET_SPINE_STATE_DATABASE=state,
        MARKET_SPINE_PII_HASH_KEY=PII_HASH_KEY,
    )
    yield Nodes(builder, reader, bucket)


def _build(settings: Settings, day: date) -> None:
    with dg.instance_for_test() as instance:
        runs = materialize_range(settings, ["CL"], day, day, instance=instance)
        assert all(r.success for r in runs), runs
        [warehouse] = materialize_warehouse(settings, instance=instance)
        assert warehouse.success, warehouse


def test_what_one_node_builds_the_other_reads_and_newer_builds_reach_it(
    nodes: Nodes, s3: S3Server
) -> None:
    _build(nodes.builder, date(2024, 3, 4))
    built = Spine(settings=nodes.builder).warehouse_sql(MINUTES)["n"][0]
    assert built > 0
    assert not warehouse_path(nodes.reader.home).exists()
    assert Spine(settings=nodes.reader).warehouse_sql(MINUTES)["n"][0] == built
    keys = {
        o["Key"]
        for o in s3.client().list_objects_v2(Bucket=nodes.bucket)["Contents"]
        if o["Key"].startswith(f"lake/{PUBLISHED_DIR}/")
    }
    assert f"lake/{PUBLISHED_DIR}/{POINTER}" in keys and len(keys) == 2

    # A later build (here one that adds a minute to the fact) reaches the reader too.
    builder = WarehouseResource.for_settings(nodes.builder)
    with builder.writing(), duckdb.connect(str(builder.path)) as con:
        con.execute(
            "insert into marts.fct_futures_bars_1m select * from marts.fct_futures_bars_1m limit 1"
        )
    assert Spine(settings=nodes.reader).warehouse_sql(MINUTES)["n"][0] == built + 1


def _local_published(tmp_path: Path) -> tuple[PublishedWarehouse, PublishedWarehouse, Path]:
    lake = tmp_path / "lake"
    storage = LocalStorage()
    return (
        PublishedWarehouse(tmp_path / "a", storage, str(lake)),
        PublishedWarehouse(tmp_path / "b", storage, str(lake)),
        lake,
    )


def _write_warehouse(home: Path, rows: int) -> None:
    path = warehouse_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute(f"create or replace table t as select range as i from range({rows})")


def test_a_copy_that_does_not_match_its_digest_is_refused_and_the_old_one_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publication, "CHECK_EVERY_S", 0.0)
    a, b, lake = _local_published(tmp_path)
    _write_warehouse(a.home, 10)
    a.publish()
    assert b.refresh()
    _write_warehouse(a.home, 20)
    second = a.publish()
    damaged = lake / PUBLISHED_DIR / "builds" / f"{second.build}.duckdb"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(LakeDamaged, match=second.build):
        b.refresh()
    with duckdb.connect(str(warehouse_path(b.home)), read_only=True) as con:
        assert con.execute("select count(*) from t").fetchone() == (10,)
    assert b.local() is not None and b.local() != second
    assert not list(warehouse_path(b.home).parent.glob("*.incoming"))


def test_a_failed_build_publishes_nothing_and_the_next_starts_from_the_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _, _ = _local_published(tmp_path)
    monkeypatch.setattr(publication, "shared_warehouse", lambda home: a)
    monkeypatch.setattr("market_spine.warehouse.resource.shared_warehouse", lambda home: a)
    resource = WarehouseResource(home=str(a.home))
    with resource.writing():
        _write_warehouse(a.home, 10)
    published = a.current()
    assert published is not None and a.local() == published
    with pytest.raises(RuntimeError), resource.writing():
        _write_warehouse(a.home, 99)
        raise RuntimeError("dbt failed halfway")
    assert a.current() == published and a.local() is None
    with resource.writing(), duckdb.connect(str(warehouse_path(a.home)), read_only=True) as con:
        assert con.execute("select count(*) from t").fetchone() == (10,)
