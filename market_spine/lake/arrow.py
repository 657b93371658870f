"""Arrow conversions that do not import pandas. pyarrow imports it (over a second) on the first
`pa.table()`, `pa.array()` or `Schema.empty_table()` call, whatever the input; processes that
never use pandas, each dbt build's among them, should not pay for it."""

from __future__ import annotations

import pyarrow as pa


def empty_table(schema: pa.Schema) -> pa.Table:
    """A table with `schema` and no rows."""
    return pa.Table.from_batches([], schema=schema)


def from_stream(data: object) -> pa.Table:
    """A pyarrow table from any object exporting the Arrow C stream (`__arrow_c_stream__`:
    delta-rs' arro3 tables, polars frames)."""
    return pa.RecordBatchReader.from_stream(data).read_all()
