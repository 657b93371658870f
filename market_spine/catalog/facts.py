"""Live facts about a catalogued dataset, read from the Delta log's statistics (no data scan):
rows, files, version, last commit, newest partition and newest data timestamp."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from market_spine.catalog.vocabulary import DatasetSpec
from market_spine.company.tables import BUSINESS_DATE
from market_spine.errors import LakeDamaged, NotMaterialized
from market_spine.lake.store import Lake

#: Columns whose maximum says how far a dataset reaches in dates: its partition date (the
#: market's trade date, else a daily company dataset's business date); in time, the spec's
#: `time_column`.
_PARTITION_COLUMNS = ("trade_date", BUSINESS_DATE)


def _newest(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _typed(value: Any, type_: pa.DataType | None) -> Any:
    """A file statistic as a value: the snapshot index keeps dates as days since the epoch and
    timestamps as epoch nanoseconds, whatever the column's unit."""
    if value is None or type_ is None or not isinstance(value, int):
        return value
    if pa.types.is_date32(type_):
        return date(1970, 1, 1) + timedelta(days=value)
    if pa.types.is_timestamp(type_):
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value // 1000)
    return value


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return None if value is None else str(value)


def lake_facts(lake: Lake, spec: DatasetSpec) -> dict[str, Any]:
    """What the lake holds for `spec` now; `materialized: False` when the table does not exist,
    and `damaged` (what is wrong and its repair) when its log cannot be trusted."""
    if spec.kind != "delta":
        return {"materialized": False}
    try:
        if not lake.exists(spec.name):
            lake.snapshot(spec.name)  # a table the ledger knows but whose log is gone: damaged
            return {"materialized": False}
        return _facts(lake, spec)
    except NotMaterialized:
        return {"materialized": False}
    except LakeDamaged as exc:
        return {"materialized": True, "damaged": str(exc)}


def _facts(lake: Lake, spec: DatasetSpec) -> dict[str, Any]:
    snapshot = lake.snapshot(spec.name)
    files = snapshot.files
    types = {field.name: field.type for field in snapshot.schema}

    def newest(column: str) -> Any:
        found = _newest([f.maxs.get(column, f.partition.get(column)) for f in files])
        return _typed(found, types.get(column))

    last = lake.history(spec.name, limit=1)[0]
    committed = datetime.fromtimestamp(int(last["timestamp"]) / 1000, UTC)
    return {
        "materialized": True,
        "rows": sum(f.rows for f in files),
        "files": len(files),
        "delta_version": snapshot.version,
        "last_commit": committed.isoformat(),
        "newest_partition": _iso(next((newest(c) for c in _PARTITION_COLUMNS if c in types), None)),
        "newest_data_ts": _iso(newest(spec.time_column)),
        "columns_in_table": [field.name for field in snapshot.schema],
    }
