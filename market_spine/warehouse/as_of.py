"""The warehouse as of an instant: the dbt project built into a scratch DuckDB file over the
lake's snapshot at that instant (each lake table read at the version current then), never
touching the home's own warehouse file or its lock.

The build is an ordinary `dbt build` with its own profiles.yml: the same project, the home's
seeds, and the lake plugin told the instant (`as_of` in its config), so every staging view
reads the table's files of that version. It starts from the home's parse of the project
(`as_of_runner`), so it costs about what an ordinary build of the home does. Certified
versions are kept by maintenance, so a scratch build at any instant whose versions were not
pruned reproduces the marts then.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import yaml

from market_spine.company.masking import use_hash_key
from market_spine.errors import InvalidInput, SpineError
from market_spine.lake.as_of import parse_as_of
from market_spine.lake.store import Lake
from market_spine.security.pii_hash_key import pii_hash_key
from market_spine.settings import Settings
from market_spine.warehouse.dbt_plugin.lake_views import refresh_views
from market_spine.warehouse.paths import DBT_PROJECT_DIR, warehouse_dir, warehouse_path
from market_spine.warehouse.project import (
    BUILD_EXCLUDES,
    PARTIAL_PARSE,
    discard_foreign_partial_parse,
)
from market_spine.warehouse.reading import attach_home_lake
from market_spine.warehouse.resource import WarehouseResource

_PLUGIN = "market_spine.warehouse.dbt_plugin.lake_plugin"


class WarehouseBuildFailed(SpineError):
    """A dbt build of the warehouse as of an instant did not succeed."""


@dataclass(frozen=True)
class AsOfWarehouse:
    """A built scratch warehouse: its DuckDB file, the instant, each lake table's version read
    (None: the table did not exist yet), the build's seconds, and how many of the project's
    files dbt parsed (0 when the home's parse was current)."""

    path: Path
    as_of: datetime
    versions: dict[str, int | None]
    seconds: float
    parsed_files: int | None = None
    #: The home it was built from: its key hashes the personal data its views mask.
    home: Path | None = None

    def sql(self, query: str) -> pl.DataFrame:
        """Run a query on the scratch warehouse (read-only, UTC)."""
        with duckdb.connect(str(self.path), read_only=True) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            if self.home is not None:
                use_hash_key(conn, pii_hash_key(self.home))
            attach_home_lake(conn)
            try:
                return conn.sql(query).pl()
            except duckdb.Error as exc:
                raise InvalidInput(
                    f"query failed on the warehouse as of {self.as_of}: {exc}"
                ) from exc


def parse_instant(value: datetime | str) -> datetime:
    """An aware instant (or ISO text with a zone) in UTC; a version number is InvalidInput:
    each lake table has its own versions, so only an instant names one state of them all."""
    try:
        point = parse_as_of(value)
    except InvalidInput:
        raise InvalidInput(f"as_of {value!r} is not an instant: {INSTANT_ACCEPTED}") from None
    if isinstance(point, int):
        raise InvalidInput(
            f"as_of {value!r} is a Delta version number, which names one table's state; the "
            f"warehouse reads every table: {INSTANT_ACCEPTED}"
        )
    return point.astimezone(UTC)


#: What a warehouse build `as_of` accepts, said in every refusal of one: the lake's reads also
#: take a date's end (as_certified) or a Delta version, which name no one state of every table.
INSTANT_ACCEPTED = (
    "the warehouse is built at an instant, so pass an ISO timestamp with zone like "
    "2024-03-05T21:00:00Z (for a date, its end: 2024-03-05T23:59:59Z); a bare date or a Delta "
    "version number is not accepted, since each table has its own versions"
)


def default_path(home: Path, as_of: datetime) -> Path:
    """Where `market-spine warehouse --as-of` builds by default:
    `<home>/warehouse/as_of/spine-20240305T210000Z.duckdb`."""
    return warehouse_dir(home) / "as_of" / f"spine-{as_of.strftime('%Y%m%dT%H%M%SZ')}.duckdb"


def _profiles(lake_root: Path, path: Path, as_of: datetime) -> dict:
    """A profiles.yml like the project's, writing `path` with the lake plugin told `as_of`."""
    return {
        "market_spine": {
            "target": "as_of",
            "outputs": {
                "as_of": {
                    "type": "duckdb",
                    "path": str(path),
                    "threads": 4,
                    "keep_open": True,
                    "settings": {"TimeZone": "UTC"},
                    "plugins": [
                        {
                            "module": _PLUGIN,
                            "alias": "lake",
                            "config": {"lake_root": str(lake_root), "as_of": as_of.isoformat()},
                        }
                    ],
                }
            },
        }
    }


def build_as_of(
    settings: Settings, as_of: datetime | str, path: Path, *, reuse_parse: bool = True
) -> AsOfWarehouse:
    """Build every dbt model into the DuckDB file `path` (replaced if there) over the lake as
    of `as_of`; `path` must not be the home's warehouse. `reuse_parse=False` parses the project
    afresh instead of from the home's parse (for comparison). Raises InvalidInput when the lake held
    nothing then, HistoryPruned when a version of then was pruned, WarehouseBuildFailed naming
    the nodes that failed."""
    started = time.perf_counter()
    instant = parse_instant(as_of)
    path = Path(path).expanduser().resolve()
    if path == warehouse_path(settings.home):
        raise InvalidInput(
            f"{path} is the home's warehouse; a build as of an instant goes to a scratch file"
        )
    lake = settings.lake()
    with duckdb.connect() as probe:
        versions = refresh_views(probe, lake, instant)
    if not any(v is not None for v in versions.values()):
        raise InvalidInput(
            f"the lake held no table at {instant.isoformat()}: {_first_written(lake)}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="dbt-", dir=path.parent))
    try:
        (scratch / "profiles.yml").write_text(
            yaml.safe_dump(_profiles(settings.lake_root, path, instant))
        )
        resource = WarehouseResource.for_settings(settings)
        code, output = _run_dbt(resource, path, scratch, reuse_parse)
        if code != 0:
            results = scratch / "target" / "run_results.json"
            found = json.loads(results.read_text()).get("results", []) if results.is_file() else []
            failed = [
                f"{r['unique_id']}: {r.get('message') or r['status']}"
                for r in found
                if r["status"] in ("error", "fail")
            ]
            said = output.strip().splitlines()[-5:]
            raise WarehouseBuildFailed(
                f"the warehouse build as of {instant.isoformat()} failed: "
                f"{'; '.join(failed) or ' / '.join(said) or 'dbt exited with ' + str(code)}"
            )
        perf = scratch / "target" / "perf_info.json"
        parsed = json.loads(perf.read_text()).get("parsed_path_count") if perf.is_file() else None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - started
    return AsOfWarehouse(path, instant, versions, seconds, parsed, settings.home)


def _run_dbt(
    resource: WarehouseResource, path: Path, scratch: Path, reuse_parse: bool
) -> tuple[int, str]:
    """Build the project into `path` with `scratch`'s profiles.yml in its own process
    (`as_of_runner`), parsing from the home's partial-parse file when `reuse_parse`; its exit
    code and output."""
    target = scratch / "target"
    target.mkdir()
    saved = resource.target_path / PARTIAL_PARSE
    if reuse_parse and saved.is_file():
        shutil.copy2(saved, target / PARTIAL_PARSE)
        discard_foreign_partial_parse(target)
    request = {
        "project_dir": str(DBT_PROJECT_DIR),
        "target_path": str(target),
        "home_profiles": str(DBT_PROJECT_DIR),
        "home_database": warehouse_path(Path(resource.home)).stem,
        "profiles": str(scratch),
        "database": path.stem,
        "excludes": list(BUILD_EXCLUDES),
    }
    (scratch / "request.json").write_text(json.dumps(request))
    environment = {k: v for k, v in os.environ.items() if k not in resource.dbt_environment()}
    environment |= {k: v for k, v in resource.dbt_environment().items() if v is not None}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "market_spine.warehouse.as_of_runner",
            str(scratch / "request.json"),
        ],
        env=environment,
        cwd=scratch,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


@contextmanager
def warehouse_as_of(settings: Settings, as_of: datetime | str) -> Iterator[AsOfWarehouse]:
    """A scratch warehouse as of `as_of` for the length of the block, deleted after it (built
    under `<home>/warehouse/as_of/`, beside the home's data)."""
    folder = warehouse_dir(settings.home) / "as_of"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="query-", dir=folder) as scratch:
        yield build_as_of(settings, as_of, Path(scratch) / "spine.duckdb")


def _first_written(lake: Lake) -> str:
    """What to pass instead of an instant before the lake's first table: the first instant
    that holds one (its first commit), or that nothing was written yet."""
    firsts = [min(c["timestamp"] for c in lake.history(d)) for d in lake.datasets()]
    if not firsts:
        return "nothing was written yet; load data first (`market-spine process --date D`)"
    # Whole seconds, rounded up: the instant named must hold the table.
    first = datetime.fromtimestamp(-(-min(firsts) // 1000), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"its first table was written at {first}; pass that instant or a later one"
