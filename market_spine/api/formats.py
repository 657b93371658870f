"""Render a frame as JSON (an envelope with row objects), CSV or a streamed Arrow IPC stream.

JSON and CSV carry timestamps as ISO-8601 UTC strings (`2024-03-04T23:00:00Z`) and dates as
`YYYY-MM-DD`; Arrow keeps the native `timestamp[ns, UTC]` and `date32` types.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any

import polars as pl
import pyarrow as pa

#: chrono's `%.f` prints a fraction only when there is one, so minute bars stay `...:00Z`.
ISO_UTC = "%Y-%m-%dT%H:%M:%S%.fZ"


class Format(StrEnum):
    """The wire formats the bars endpoints serve."""

    json = "json"
    csv = "csv"
    arrow = "arrow"


MEDIA_TYPES: dict[Format, str] = {
    Format.json: "application/json",
    Format.csv: "text/csv; charset=utf-8",
    Format.arrow: "application/vnd.apache.arrow.stream",
}


def as_text_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """Timestamps as ISO UTC strings and dates as ISO dates, for the text formats."""
    fixes = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            column = pl.col(name)
            if dtype.time_zone not in (None, "UTC"):
                column = column.dt.convert_time_zone("UTC")
            fixes.append(column.dt.strftime(ISO_UTC))
        elif dtype == pl.Date:
            fixes.append(pl.col(name).dt.strftime("%Y-%m-%d"))
    return frame.with_columns(fixes) if fixes else frame


def render_json(frame: pl.DataFrame, meta: dict[str, Any]) -> bytes:
    """`{...meta, "rows": N, "columns": [...], "data": [{...}, ...]}`; polars writes the rows,
    which is several times faster than building Python dicts for a session of minute bars."""
    head = json.dumps(
        {**meta, "rows": frame.height, "columns": frame.columns}, default=str, separators=(",", ":")
    )
    rows = as_text_columns(frame).write_json()
    return f'{head[:-1]},"data":{rows}}}'.encode()


def render_csv(frame: pl.DataFrame) -> bytes:
    """CSV with a header row."""
    return as_text_columns(frame).write_csv().encode()


def stream_arrow(
    frame: pl.DataFrame,
    meta: dict[str, Any],
    batch_rows: int,
    on_close: Callable[[], None] | None = None,
) -> Iterator[bytes]:
    """An Arrow IPC stream, yielded a record batch at a time so no answer is one giant buffer;
    the request's parameters ride along as schema metadata. `on_close` runs when the stream
    ends or the client goes away."""
    try:
        # The oldest compat level writes plain strings rather than string views, which older
        # Arrow readers (and many non-Python clients) cannot open.
        table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
        schema = table.schema.with_metadata(
            {k: "" if v is None else _meta_text(v) for k, v in meta.items()}
        )
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, schema) as writer:
            yield _drain(sink)
            for batch in table.to_batches(max_chunksize=batch_rows):
                writer.write_batch(batch)
                yield _drain(sink)
        yield _drain(sink)  # the end-of-stream marker
    finally:
        if on_close is not None:
            on_close()


def _meta_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _drain(sink: io.BytesIO) -> bytes:
    data = sink.getvalue()
    sink.seek(0)
    sink.truncate()
    return data


def render(frame: pl.DataFrame, fmt: Format, meta: dict[str, Any]) -> tuple[bytes, str]:
    """The body and media type of a frame as JSON or CSV (Arrow is streamed: `stream_arrow`)."""
    if fmt is Format.csv:
        return render_csv(frame), MEDIA_TYPES[fmt]
    return render_json(frame, meta), MEDIA_TYPES[Format.json]
