"""dbt's files in a home are private: the partial-parse file dagster-dbt would copy in from the
project (keeping the project copy's 0644) is seeded readable by the user only."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

import msgpack

from market_spine.warehouse.paths import DBT_PROJECT_DIR
from market_spine.warehouse.project import PARTIAL_PARSE, prepared_manifest
from market_spine.warehouse.resource import WarehouseResource


class _RecordingDbt:
    """Stands in for dagster-dbt's CLI resource: seeds the target with the project's partial
    parse as it does (`shutil.copy` when the target has none), then records the file's mode
    when dbt would start."""

    def __init__(self) -> None:
        self.modes: list[int] = []

    def cli(self, args: list[str], context: Any = None, **kwargs: Any) -> None:
        path = Path(kwargs["target_path"]) / PARTIAL_PARSE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(DBT_PROJECT_DIR / "target" / PARTIAL_PARSE, path)
        self.modes.append(stat.S_IMODE(path.stat().st_mode))


def _unstamped(path: Path) -> dict:
    """A partial-parse file's contents without the profile checksum it was stamped with."""
    saved = msgpack.unpackb(path.read_bytes(), raw=False, strict_map_key=False)
    saved["state_check"].pop("profile_hash")
    return saved


def test_the_homes_partial_parse_is_private_before_dbt_starts(tmp_path: Path) -> None:
    prepared_manifest()
    source = DBT_PROJECT_DIR / "target" / PARTIAL_PARSE
    assert source.is_file()
    old = os.umask(0o022)  # the project's copy is world-readable, as a checkout leaves it
    try:
        os.chmod(source, 0o644)
        warehouse = WarehouseResource(home=str(tmp_path))
        dbt = _RecordingDbt()
        warehouse.invoke(dbt, ["parse"])  # type: ignore[arg-type]
        seeded = warehouse.target_path / PARTIAL_PARSE
        assert dbt.modes == [0o600]
        # The project's parse, stamped with the home's profile (see test_partial_parse_reuse).
        home_parse, project_parse = (_unstamped(p) for p in (seeded, source))
        assert home_parse == project_parse
        # A home that already holds a shared copy is made private on the next run.
        os.chmod(seeded, 0o644)
        warehouse.invoke(dbt, ["parse"])  # type: ignore[arg-type]
        assert dbt.modes[-1] == 0o600
    finally:
        os.umask(old)
