"""Damage never passes as data: a real home (a week of CL, ES, NG materialized through Dagster)
is damaged one way at a time, then read through Spine and the HTTP API, verified and maintained.

Every read must answer the rows the undamaged home answers, or fail with LakeDamaged (503 over
HTTP) naming the dataset and the repair; `verify` must name every damaged file.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from market_spine.catalog.facts import lake_facts
from market_spine.catalog.registry import CATALOG
from market_spine.cli import app
from market_spine.client import Spine
from market_spine.errors import LakeDamaged, LakeError
from market_spine.lake.integrity import LEDGER_FILE
from market_spine.lake.maintenance import maintain
from market_spine.lake.store import Lake
from market_spine.lake.verify import Report, drop_damaged, verify_lake
from market_spine.operations.home_verification import verify_home
from market_spine.warehouse.dbt_plugin.lake_views import refresh_views
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.damage import forget_lake_caches
from market_spine_tests.kit.homes import SYMBOLS, WEEK, settings_for

BARS = "normalized/futures_bars_1m"
DAILY = "analytics/futures_bars_daily"
RAW = "raw/futures_bars_1m"
runner = CliRunner()

Truth = dict[tuple[str, str], pl.DataFrame]


def _read(spine: Spine, kind: str, symbol: str) -> pl.DataFrame:
    if kind == "bars":
        return spine.bars(symbol, *WEEK)
    return spine.daily(symbol, *WEEK)


@pytest.fixture(scope="module")
def truth(materialized_home: Path) -> Truth:
    """What the undamaged home answers for every symbol, minute and daily bars."""
    forget_lake_caches()
    spine = Spine(settings=settings_for(materialized_home), warn_empty=False)
    frames = {(kind, s): _read(spine, kind, s) for kind in ("bars", "daily") for s in SYMBOLS}
    assert all(f.height > 0 for f in frames.values())
    return frames


def reads_refuse_or_match(home: Path, truth: Truth) -> list[LakeDamaged]:
    """Read everything through Spine; each read equals the truth or raises LakeDamaged."""
    forget_lake_caches()
    spine = Spine(settings=settings_for(home), warn_empty=False)
    refused = []
    for (kind, symbol), expected in truth.items():
        try:
            got = _read(spine, kind, symbol)
        except LakeDamaged as exc:
            assert "market-spine" in exc.repair and exc.dataset in str(exc)
            refused.append(exc)
        else:
            assert_frame_equal(got, expected)
    return refused


def api_refuses_or_matches(home: Path, truth: Truth) -> list[str]:
    """The same reads over HTTP: 200 with the true rows, or 503 naming the repair; never 500."""
    forget_lake_caches()
    refused = []
    with serving(home) as client:
        for (kind, symbol), expected in truth.items():
            path = "/v1/bars" if kind == "bars" else "/v1/bars/daily"
            params = {"symbol": symbol, "start": str(WEEK[0]), "end": str(WEEK[1])}
            r = client.get(path, params={**params, "format": "json"})
            assert r.status_code in (200, 503), (r.status_code, r.text)
            if r.status_code == 503:
                assert "is damaged" in r.json()["error"] and "market-spine" in r.json()["error"]
                refused.append(r.json()["error"])
                continue
            body = r.json()
            assert body["rows"] == expected.height
            assert [row["close"] for row in body["data"]] == expected["close"].to_list()
    return refused


# -- the damages ------------------------------------------------------------------------------


def _files(home: Path, dataset: str) -> list[Path]:
    """The data files the newest version of a table references, in a stable order."""
    forget_lake_caches()
    snapshot = Lake(home / "lake").snapshot(dataset)
    return [Path(f.path) for f in sorted(snapshot.files, key=lambda f: f.rel)]


def _rel(home: Path, dataset: str, path: Path) -> str:
    return path.relative_to(home / "lake" / dataset).as_posix()


def _newest_log(home: Path, dataset: str) -> Path:
    return sorted((home / "lake" / dataset / "_delta_log").glob("*.json"))[-1]


def flip_bit(home: Path) -> tuple[str, str]:
    path = _files(home, BARS)[0]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10  # inside the data pages, far from the footer
    path.write_bytes(bytes(data))
    return BARS, _rel(home, BARS, path)


def delete_newest_log(home: Path) -> tuple[str, str]:
    newest = _newest_log(home, DAILY)
    newest.unlink()
    return DAILY, "_delta_log"


def edit_max_trade_date(home: Path) -> tuple[str, str]:
    """Lower one file's max trade date in the log to its min: pruning would skip its rows."""
    log = _newest_log(home, DAILY)
    lines = log.read_text().splitlines()
    for i, line in enumerate(lines):
        action = json.loads(line)
        if "add" in action and action["add"].get("stats"):
            stats = json.loads(action["add"]["stats"])
            stats["maxValues"]["trade_date"] = stats["minValues"]["trade_date"]
            action["add"]["stats"] = json.dumps(stats)
            lines[i] = json.dumps(action)
            break
    log.write_text("\n".join(lines) + "\n")
    return DAILY, "_delta_log"


def delete_file(home: Path) -> tuple[str, str]:
    path = _files(home, BARS)[1]
    path.unlink()
    return BARS, _rel(home, BARS, path)


def truncate_file(home: Path) -> tuple[str, str]:
    path = _files(home, BARS)[2]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return BARS, _rel(home, BARS, path)


def garbage_file(home: Path) -> tuple[str, str]:
    path = _files(home, DAILY)[0]
    path.write_bytes(random.Random(1).randbytes(path.stat().st_size))
    return DAILY, _rel(home, DAILY, path)


def garbage_log(home: Path) -> tuple[str, str]:
    log = _newest_log(home, BARS)
    log.write_bytes(random.Random(2).randbytes(log.stat().st_size))
    return BARS, "_delta_log"


DAMAGES: dict[str, Callable[[Path], tuple[str, str]]] = {
    "bit flip in a minute-bars file": flip_bit,
    "newest daily-bars commit deleted": delete_newest_log,
    "max trade date edited in the log": edit_max_trade_date,
    "data file missing": delete_file,
    "data file truncated": truncate_file,
    "data file overwritten with garbage": garbage_file,
    "newest commit overwritten with garbage": garbage_log,
}


def names(report: Report, dataset: str, path: str) -> bool:
    """True when the report names the damaged file (or, for the log, any log file)."""
    found = report.damaged_paths(dataset)
    return any(p.startswith("_delta_log") for p in found) if path == "_delta_log" else path in found


@pytest.mark.parametrize("damage", DAMAGES, ids=list(DAMAGES))
def test_damage_is_refused_by_every_read_and_named_by_verify(
    copy: Path, truth: Truth, damage: str
) -> None:
    dataset, path = DAMAGES[damage](copy)

    refused = reads_refuse_or_match(copy, truth)
    assert refused, "the damage went unnoticed by every read"
    assert {exc.dataset for exc in refused} == {dataset}
    assert api_refuses_or_matches(copy, truth)

    forget_lake_caches()
    light = verify_lake(Lake(copy / "lake"))
    deep = verify_lake(Lake(copy / "lake"), deep=True)
    assert deep.damaged and names(deep, dataset, path), deep.findings
    forget_lake_caches()
    if damage == "bit flip in a minute-bars file":
        # Only the file's hash sees a flipped bit; maintenance hashes before it compacts.
        assert not light.damaged
    else:
        assert light.damaged and names(light, dataset, path), light.findings
    with pytest.raises(LakeError, match="is damaged"):
        maintain(Lake(copy / "lake"), dataset, retention_hours=0)
    forget_lake_caches()
    assert names(verify_lake(Lake(copy / "lake"), [dataset], deep=True), dataset, path)
    facts = lake_facts(Lake(copy / "lake"), CATALOG.get(dataset))
    assert "damaged" in facts or path != "_delta_log"


def test_random_single_bit_flips_never_read_as_data(copy: Path, truth: Truth) -> None:
    """Seeded single-bit flips anywhere in the minute-bars files: each is refused by the
    reads of that symbol and named by the deep verification, never read as other values."""
    rng = random.Random(20240304)
    files = _files(copy, BARS)
    for _ in range(40):
        path = rng.choice(files)
        data = bytearray(path.read_bytes())
        offset, bit = rng.randrange(len(data)), 1 << rng.randrange(8)
        data[offset] ^= bit
        path.write_bytes(bytes(data))

        refused = reads_refuse_or_match(copy, truth)
        where = (path.name, offset, bit)
        assert [exc.path for exc in refused] == [_rel(copy, BARS, path)], where
        forget_lake_caches()
        report = verify_lake(Lake(copy / "lake"), [BARS], deep=True)
        assert report.damaged_paths(BARS) == {_rel(copy, BARS, path)}, where

        data[offset] ^= bit
        path.write_bytes(bytes(data))
    assert not reads_refuse_or_match(copy, truth)


def test_garbage_log_without_records_is_refused_not_a_crash(copy: Path, truth: Truth) -> None:
    """A lake without its ledger (written before it) still turns a garbage log into
    LakeDamaged: delta-rs' failure on it is caught, never a panic reaching the caller."""
    (copy / "lake" / LEDGER_FILE).unlink()
    garbage_log(copy)
    refused = reads_refuse_or_match(copy, truth)
    assert refused and all(exc.dataset == BARS for exc in refused)
    forget_lake_caches()
    assert names(verify_lake(Lake(copy / "lake")), BARS, "_delta_log")


def test_clean_home_verifies_clean(copy: Path) -> None:
    report = verify_home(settings_for(copy), deep=True)
    assert not report.damaged, report.findings
    tables = Lake(copy / "lake").datasets()
    assert report.tables == len(tables) >= 3 and report.files >= len(tables) and report.bytes > 0


def test_orphans_are_warnings_with_their_repair(copy: Path) -> None:
    orphan = copy / "lake" / BARS / "symbol=CL" / "part-orphan.zstd.parquet"
    shutil.copyfile(_files(copy, BARS)[0], orphan)
    report = verify_lake(Lake(copy / "lake"), [BARS])
    assert not report.damaged
    (found,) = [f for f in report.findings if f.path == "symbol=CL/part-orphan.zstd.parquet"]
    assert "orphan" in found.problem and "maintain" in found.repair


def test_verify_command_exit_code_and_report(copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKET_SPINE_HOME", str(copy))
    clean = runner.invoke(app, ["verify", "--deep"])
    assert clean.exit_code == 0, clean.output
    assert "no damage" in clean.output

    dataset, path = truncate_file(copy)
    forget_lake_caches()
    damaged = runner.invoke(app, ["verify"])
    text = " ".join(damaged.output.split())
    assert damaged.exit_code == 1, damaged.output
    assert f"DAMAGED {dataset}: {path}" in text
    assert "repair: re-materialize it from the raw captures: `market-spine process" in text

    as_json = runner.invoke(app, ["verify", dataset, "--json"])
    body = json.loads(as_json.stdout)
    assert body["damaged"] and body["findings"][0]["path"] == path


def test_maintain_and_catalog_report_a_garbage_log(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKET_SPINE_HOME", str(copy))
    garbage_log(copy)
    forget_lake_caches()
    result = runner.invoke(app, ["maintain", "--retention-hours", "0"])
    assert result.exit_code == 1, result.output
    assert f"refused: {BARS} is damaged" in " ".join(result.output.split())
    assert "panicked" not in result.output
    assert f"{DAILY}: files" in result.output  # the undamaged tables are still maintained

    listing = runner.invoke(app, ["catalog", "--json"])
    assert listing.exit_code == 0, listing.output
    assert f"damaged: {BARS} is damaged" in " ".join(listing.stderr.split())


def test_dropping_a_damaged_raw_capture_lets_the_rest_read(copy: Path) -> None:
    """Raw captures only grow by appends: a damaged one is dropped (one commit), then the
    undamaged captures read again and a re-capture can land."""
    path = _files(copy, RAW)[0]
    path.write_bytes(path.read_bytes()[:100])
    lake = Lake(copy / "lake")
    with pytest.raises(LakeDamaged, match="--drop-damaged"):
        lake.read(RAW)
    forget_lake_caches()
    lake = Lake(copy / "lake")
    assert drop_damaged(lake, RAW) == [_rel(copy, RAW, path)]
    rest = lake.read(RAW)
    assert rest.height > 0 and not verify_lake(lake, [RAW], deep=True).damaged


def test_instance_and_warehouse_damage_is_named(copy: Path) -> None:
    settings = settings_for(copy)
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    runs = settings.dagster_home / "storage" / "runs.db"
    runs.parent.mkdir(parents=True, exist_ok=True)
    runs.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    warehouse = copy / "warehouse" / "spine.duckdb"
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    warehouse.write_bytes(os.urandom(8192))
    report = verify_home(settings)
    subjects = {f.subject: f for f in report.findings if f.damage}
    assert "runs.db" in (subjects["dagster instance"].path or "")
    assert "market-spine process --domain warehouse" in subjects["warehouse"].repair


def test_verify_of_a_home_without_a_lake_says_so(tmp_path: Path, monkeypatch) -> None:
    """A mistyped MARKET_SPINE_HOME is not a healthy home."""
    monkeypatch.setenv("MARKET_SPINE_HOME", str(tmp_path / "typo"))
    result = runner.invoke(app, ["verify"])
    assert result.exit_code == 2
    assert "holds no lake" in result.output and "MARKET_SPINE_HOME" in result.output


def test_a_lost_trust_table_is_refused_until_started_afresh_then_rebuilt(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trust table whose folder was deleted reads as damage, never as an empty table: the
    readiness command fails naming the repair, `verify` reports it, and once started afresh
    and the days processed again, readiness answers and `verify` is clean."""
    monkeypatch.setenv("MARKET_SPINE_HOME", str(copy))
    shutil.rmtree(copy / "lake" / "operations" / "readiness_log")
    forget_lake_caches()
    refused = runner.invoke(app, ["readiness"])
    assert refused.exit_code == 2, refused.output
    assert "--start-afresh" in refused.output
    # SQL and the warehouse's views refuse too: never an absent or empty table.
    with pytest.raises(LakeDamaged, match="--start-afresh"):
        Spine(settings=settings_for(copy)).sql("select state from operations.readiness_log")
    with duckdb.connect() as conn:
        refresh_views(conn, Lake(copy / "lake"))
        with pytest.raises(duckdb.Error, match="--start-afresh"):
            conn.execute("select count(*) from operations.readiness").fetchall()
    assert runner.invoke(app, ["verify"]).exit_code == 1
    restart = runner.invoke(app, ["verify", "operations/readiness_log", "--start-afresh"])
    assert restart.exit_code == 0, restart.output
    assert "starts afresh" in restart.output
    first, last = WEEK
    rebuilt = runner.invoke(
        app, ["process", "--start", str(first), "--end", str(last), "--domain", "futures"]
    )
    assert rebuilt.exit_code == 0, rebuilt.output
    answered = runner.invoke(app, ["readiness", "--json"])
    assert answered.exit_code == 0, answered.output
    assert {row["symbol"] for row in json.loads(answered.stdout)} >= set(SYMBOLS)
    assert runner.invoke(app, ["verify"]).exit_code == 0
