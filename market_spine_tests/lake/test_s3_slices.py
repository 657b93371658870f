"""The futures and options slices end to end with the lake on S3: captures, normalized and
analytic datasets, their checks and the warehouse build, all through Dagster runs of the code
location, with the lake in a bucket of a real S3-compatible server (moto, its own process)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import dagster as dg
import pytest

from market_spine.client import Spine
from market_spine.lake.integrity import LEDGER_FILE
from market_spine.lake.verify import verify_lake
from market_spine.runs.launch import materialize_options, materialize_range, materialize_warehouse
from market_spine.settings import Settings
from market_spine.warehouse.reading import read_only
from market_spine_tests.kit.s3 import S3Server

DAYS = (date(2024, 3, 4), date(2024, 3, 5))
OPTION_DAY = date(2024, 3, 5)
SYMBOLS = ("CL",)


@dataclass(frozen=True)
class S3Home:
    """A home whose lake is in a bucket, its environment, and the bucket's object keys."""

    env: dict[str, str]
    settings: Settings
    keys: frozenset[str]


@pytest.fixture(scope="module")
def s3_home(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Home]:
    """Two days of CL, a day of SPX options and the warehouse, through Dagster (one root
    proves the bucket round trip as well as several, at a fraction of the runs)."""
    home = tmp_path_factory.mktemp("s3-slices") / "home"
    bucket = s3.bucket()
    env = s3.lake_env(home, bucket, MARKET_SPINE_LAKE_SSE="AES256")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        settings = Settings.from_env()
        with dg.instance_for_test() as inst:
            futures = materialize_range(settings, list(SYMBOLS), *DAYS, instance=inst)
            assert all(r.success for r in futures), futures
            options = materialize_options(settings, OPTION_DAY, OPTION_DAY, instance=inst)
            assert options is not None and options.success, options
            [warehouse] = materialize_warehouse(settings, instance=inst)
            assert warehouse.success, warehouse
    listed = s3.client().list_objects_v2(Bucket=bucket, MaxKeys=10_000)
    yield S3Home(env, settings, frozenset(o["Key"] for o in listed["Contents"]))


@pytest.fixture
def s3_env(s3_home: S3Home, monkeypatch: pytest.MonkeyPatch) -> S3Home:
    for name, value in s3_home.env.items():
        monkeypatch.setenv(name, value)
    return s3_home


def test_every_table_lives_in_the_bucket_and_only_the_ledger_is_local(s3_env: S3Home) -> None:
    settings = s3_env.settings
    lake = settings.lake()
    tables = lake.datasets()
    for dataset in (
        "raw/futures_bars_1m",
        "normalized/futures_bars_1m",
        "analytics/futures_bars_daily",
        "normalized/options_chain_eod",
    ):
        assert dataset in tables
        assert any(k.startswith(f"lake/{dataset}/_delta_log/") for k in s3_env.keys)
    assert sorted(p.name for p in settings.lake_root.iterdir() if p.is_dir()) == []
    assert (settings.lake_root / LEDGER_FILE).is_file()
    assert not verify_lake(lake, deep=True).damaged


def test_spine_reads_the_futures_and_options_slices_from_s3(s3_env: S3Home) -> None:
    spine = Spine(settings=s3_env.settings, warn_empty=False)
    for symbol in SYMBOLS:
        bars = spine.bars(symbol, *DAYS)
        assert bars.height > 0 and set(bars["trade_date"].unique().to_list()) == set(DAYS)
        daily = spine.daily(symbol, *DAYS)
        assert daily.height == len(DAYS)
    chain = spine.lake.read("normalized/options_chain_eod")
    assert chain.height > 0 and chain["trade_date"].unique().to_list() == [OPTION_DAY]
    # The SQL path (DuckDB over the snapshot's files) reads the same objects.
    counted = spine.sql("select count(*) as n from futures_bars_1m")
    assert counted["n"][0] == spine.lake.read("normalized/futures_bars_1m").height


def test_the_warehouse_built_over_the_s3_lake_reads_it(s3_env: S3Home) -> None:
    lake = s3_env.settings.lake()
    days = lake.read("normalized/futures_bars_1m", columns=["trade_date"])["trade_date"]
    with read_only(s3_env.settings.home) as conn:
        built = conn.execute(
            "select distinct trade_date from marts.fct_futures_bars_1m order by 1"
        ).fetchall()
        # The staging view reads the lake's s3:// files through the registered filesystem.
        staged = conn.execute("select count(*) from normalized.futures_bars_1m").fetchone()
    assert [d for (d,) in built] == sorted(set(days.to_list()))
    assert staged is not None and staged[0] == len(days)
