"""The lake on object storage: every lake operation on an `s3://bucket/prefix` root, against a real
S3-compatible server in its own process (moto), with server-side encryption passed through to
every object, the integrity ledger kept locally, and writers in separate processes."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from market_spine.api.errors import redact
from market_spine.api.routes_health import probe_lake
from market_spine.errors import HistoryPruned, InvalidInput, LakeDamaged
from market_spine.lake import Lake
from market_spine.lake.integrity import LEDGER_FILE
from market_spine.lake.maintenance import maintain
from market_spine.lake.sql import attach, view_sql
from market_spine.lake.verify import verify_lake
from market_spine.settings import Settings
from market_spine_tests.kit.frames import DS, day_frame, put
from market_spine_tests.kit.s3 import S3Server
from market_spine_tests.kit.s3_writers import append_many

DAY = date(2024, 1, 2)
RAW = "raw/s3_bars"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/spine-test"


@pytest.fixture
def settings(s3: S3Server, tmp_path: Path) -> Settings:
    """A home whose lake is in a fresh bucket, every object encrypted with a KMS key."""
    return s3.settings(
        tmp_path / "home",
        s3.bucket(),
        MARKET_SPINE_LAKE_SSE="aws:kms",
        MARKET_SPINE_LAKE_SSE_KMS_KEY_ID=KMS_KEY,
    )


def _keys(s3: S3Server, settings: Settings) -> list[str]:
    bucket = settings.lake_uri.removeprefix("s3://").split("/")[0]
    listed = s3.client().list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in listed.get("Contents", [])]


def _data_keys(s3: S3Server, settings: Settings) -> list[str]:
    return [k for k in _keys(s3, settings) if k.endswith(".parquet") and "/_delta_log/" not in k]


def test_append_replace_and_read_live_in_the_bucket_encrypted(
    s3: S3Server, settings: Settings
) -> None:
    lake = settings.lake()
    assert lake.root == settings.lake_uri
    put(lake, DAY, "CL", 1.0)
    put(lake, DAY + timedelta(1), "CL", 2.0)
    put(lake, DAY, "CL", 3.0)  # replaces the first day's partition
    lake.append(RAW, day_frame(DAY, "ES", 9.0), partition_by=["symbol"])

    assert lake.datasets() == sorted([DS, RAW])
    first = lake.read(DS, between={"trade_date": (DAY, DAY)})
    assert first["close"].unique().to_list() == [3.0] and first.height == 60
    assert lake.read(DS).height == 120 and lake.version(DS) == 2

    keys = _keys(s3, settings)
    data = [k for k in keys if k.endswith(".parquet")]
    assert data and any("/_delta_log/" in k for k in keys)
    client = s3.client()
    bucket = settings.lake_uri.removeprefix("s3://").split("/")[0]
    # Our writer's files and delta-rs' commit files both carry the configured encryption.
    for key in [data[0], next(k for k in keys if k.endswith("00000000000000000002.json"))]:
        head = client.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == KMS_KEY
    # Only the ledger is local; no table folder was created in the home.
    assert (settings.lake_root / LEDGER_FILE).is_file()
    assert not (settings.lake_root / "normalized").exists()


def test_time_travel_and_a_fresh_process_view(settings: Settings) -> None:
    lake = settings.lake()
    for value in (1.0, 2.0, 3.0):
        put(lake, DAY, "CL", value)
    assert lake.read(DS, as_of=0)["close"].unique().to_list() == [1.0]
    assert lake.read(DS, as_of=1)["close"].unique().to_list() == [2.0]
    assert lake.history(DS)[0]["version"] == 2
    # Another Lake over the same root (a new process's view) reads the same versions.
    again = Lake(settings.lake_uri)
    assert_frame_equal(again.read(DS, as_of=1), lake.read(DS, as_of=1))
    with pytest.raises(InvalidInput, match="does not exist"):
        lake.read(DS, as_of=9)


def test_maintenance_keeps_pinned_versions_and_prunes_the_rest(
    s3: S3Server, settings: Settings
) -> None:
    lake = settings.lake()
    for value in (1.0, 2.0, 3.0):
        put(lake, DAY, "CL", value)
    pinned = lake.read(DS, as_of=0)
    before = len(_data_keys(s3, settings))
    report = maintain(lake, DS, retention_hours=0, pinned={0})
    pruning = report.pruning
    assert pruning is not None and pruning.versions == (1,) and pruning.kept_for_pins == 1
    after = len(_data_keys(s3, settings))
    assert after == before - len(pruning.files)
    assert_frame_equal(lake.read(DS, as_of=0), pinned)
    assert lake.read(DS)["close"].unique().to_list() == [3.0]
    with pytest.raises(HistoryPruned):
        Lake(settings.lake_uri).read(DS, as_of=1)
    assert not verify_lake(lake, deep=True).damaged


def test_verify_and_reads_catch_a_damaged_object(s3: S3Server, settings: Settings) -> None:
    lake = settings.lake()
    put(lake, DAY, "CL", 1.0)
    assert not verify_lake(lake, deep=True).damaged
    [f] = lake.snapshot(DS).files
    bucket, _, key = f.path.removeprefix("s3://").partition("/")
    client = s3.client()
    body = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[len(body) // 3] ^= 0xFF  # one flipped byte inside a page, same size
    client.put_object(Bucket=bucket, Key=key, Body=bytes(body))

    report = verify_lake(lake, deep=True)
    assert report.damaged_paths(DS) == {f.rel}
    fresh = Lake(settings.lake_uri)
    fresh.ledger.forget_verified()
    with pytest.raises(LakeDamaged, match="SHA-256"):
        fresh.read(DS)


def test_duckdb_reads_the_s3_files_through_the_lake_filesystem(settings: Settings) -> None:
    lake = settings.lake()
    put(lake, DAY, "CL", 1.0)
    put(lake, DAY + timedelta(1), "ES", 2.0)
    body = view_sql(lake.snapshot(DS))
    assert body is not None and "s3://" in body
    with duckdb.connect() as conn:
        attach(conn, lake.storage)
        attach(conn, lake.storage)  # once per connection, however often asked
        query = f"select symbol, count(*), sum(close) from ({body}) group by 1 order by 1"
        rows = conn.execute(query)
        assert rows.fetchall() == [("CL", 60, 60.0), ("ES", 60, 120.0)]


def test_concurrent_writers_in_separate_processes_lose_no_commit(
    s3: S3Server, tmp_path: Path
) -> None:
    bucket = s3.bucket()
    env = s3.lake_env(tmp_path / "home", bucket)
    settings = Settings.from_env(env)
    # The table exists before the race, as a raw capture table does after its first day.
    seed = day_frame(DAY, "CL", -1.0, minutes=1).with_columns(writer=pl.lit(-1), seq=pl.lit(-1))
    settings.lake().append(RAW, seed, partition_by=["symbol"])

    writers, appends = 4, 10
    spawn = mp.get_context("spawn")
    procs = [
        spawn.Process(target=append_many, args=(env, RAW, DAY, w, appends)) for w in range(writers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0] * writers

    rows = Lake(settings.lake_uri).read(RAW).filter(pl.col("writer") >= 0)
    assert rows.height == writers * appends
    assert rows.select("writer", "seq").n_unique() == writers * appends
    assert settings.lake().version(RAW) == writers * appends


def test_readiness_probes_the_bucket_and_errors_hide_it(settings: Settings) -> None:
    assert probe_lake(settings).ok
    missing = dataclasses.replace(settings, lake_uri="s3://no-such-bucket/lake")
    probe = probe_lake(missing)
    assert not probe.ok and "no-such-bucket" in probe.detail
    shown = redact(f"data file {settings.lake_uri}/{DS}/x.parquet is missing", settings)
    assert settings.lake_uri not in shown and "$MARKET_SPINE_LAKE_URI" in shown
