"""The ledger of every company capture: which source payload (by its SHA-256) each capture
took, kept apart from the raw rows so that retention can delete those rows without the files
source taking the same drop file again (which would bring deleted rows back). It holds no
source values, only provenance, and retention never touches it."""

from __future__ import annotations

from datetime import date

import polars as pl

from market_spine.catalog.vocabulary import DatasetFamily, SchemaChange
from market_spine.company.config import DatasetConfig
from market_spine.lake.store import Lake

CAPTURES = "operations/company_captures"

CAPTURES_SCHEMA: dict[str, pl.DataType] = {
    "dataset": pl.String(),
    "capture_id": pl.String(),
    "captured_at": pl.Datetime("us", "UTC"),
    "source": pl.String(),
    "payload_sha256": pl.String(),
    "rows": pl.Int64(),
}

CAPTURES_SPEC = DatasetFamily(
    owner="team:platform",
    partitioning="none (append-only)",
    glossary={
        "dataset": "The company dataset as its YAML names it, e.g. clients.",
        "capture_id": "The capture (ULID), as on its raw rows.",
        "captured_at": "When the capture was taken (UTC).",
        "source": "Where it came from: a drop file's path, a table, a URL.",
        "payload_sha256": "SHA-256 of the payload it read; a drop file with a known one is not "
        "captured again.",
        "rows": "Rows appended to the raw table (0 when every row was already past the "
        "dataset's retention).",
    },
    history=(SchemaChange(1, date(2026, 11, 30), "first version"),),
).dataset(
    CAPTURES,
    CAPTURES_SCHEMA,
    description="Every capture of a company dataset and the payload it took, kept after "
    "retention deletes the captured rows.",
    grain="one row per capture",
    written_by="the company datasets' capture assets",
)


def captured_payloads(lake: Lake, config: DatasetConfig) -> set[str]:
    """The SHA-256 of every payload `config`'s dataset has captured (its ledger rows)."""
    if not lake.exists(CAPTURES):
        return set()
    rows = lake.read(CAPTURES, equals={"dataset": config.name}, columns=["payload_sha256"])
    return set(rows["payload_sha256"].to_list())


def record(lake: Lake, captures: list[dict[str, object]], run_id: str) -> None:
    """Append the ledger rows of a run's captures (CAPTURES_SCHEMA) as one commit."""
    if captures:
        frame = pl.DataFrame(captures, schema=CAPTURES_SCHEMA)
        lake.append(CAPTURES, frame, metadata={"run_id": run_id})
