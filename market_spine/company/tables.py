"""Where a company dataset lives in the lake and how its raw captures become the cleaned
(silver) table: facts deduplicated to the newest capture of each key, dimensions kept as
slowly changing dimensions of type 2 (one row per version of a key, with its validity)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from market_spine.company.config import (
    BUSINESS_DATE,
    IS_CURRENT,
    VALID_FROM,
    VALID_TO,
    DatasetConfig,
)

__all__ = ["BUSINESS_DATE", "IS_CURRENT", "VALID_FROM", "VALID_TO"]
#: Bounds holding every capture time: the "partition" of a dataset that has none.
WHOLE_TABLE = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC))


#: The lake layers a company dataset's tables live in (raw captures, silver), and the prefix of
#: their names there.
RAW, SILVER, PREFIX = "raw", "normalized", "company_"


def raw_table(config: DatasetConfig) -> str:
    """The append-only captures, e.g. `raw/company_clients`."""
    return f"{RAW}/{PREFIX}{config.name}"


def silver_table(config: DatasetConfig) -> str:
    """The cleaned table (the silver layer, `normalized/` in the lake's vocabulary)."""
    return f"{SILVER}/{PREFIX}{config.name}"


def is_company_table(dataset: str) -> bool:
    """Whether a lake table's name (`<layer>/<name>`) is one a company dataset's tables take,
    declared in this process or not."""
    layer, _, name = dataset.partition("/")
    return layer in (RAW, SILVER) and name.startswith(PREFIX)


def with_business_date(config: DatasetConfig, rows: pl.DataFrame) -> pl.DataFrame:
    """Rows plus their business date when the dataset is partitioned daily."""
    column = config.partitioning.column
    if config.partitioning.kind != "daily" or column is None:
        return rows
    return rows.with_columns(pl.col(column).dt.date().alias(BUSINESS_DATE))


def silver_rows(config: DatasetConfig, raw: pl.DataFrame) -> pl.DataFrame:
    """The silver rows of one partition from all its raw captures.

    A fact keeps the newest capture of each key. A dimension keeps each key's versions: a
    capture that changed no declared column is no new version; each version is valid from its
    capture time until the next one's (`valid_to` null and `is_current` for the newest).
    """
    keep = [*config.dtypes, *([BUSINESS_DATE] if BUSINESS_DATE in raw.columns else [])]
    rows = raw.select(*keep, "capture_id", "captured_at").sort("captured_at", maintain_order=True)
    if config.kind == "fact":
        return rows.unique(config.keys, keep="last", maintain_order=True).sort(config.keys)
    values = [c for c in config.dtypes if c not in config.keys]
    if values:
        changed = pl.struct(values).hash() != pl.struct(values).hash().shift(1).over(config.keys)
    else:
        # A dimension of keys alone never changes: only a key's first capture is a version.
        changed = pl.int_range(pl.len()).over(config.keys) == 0
    versions = rows.filter(changed.fill_null(True))
    return (
        versions.with_columns(
            pl.col("captured_at").alias(VALID_FROM),
            pl.col("captured_at").shift(-1).over(config.keys).alias(VALID_TO),
        )
        .with_columns(pl.col(VALID_TO).is_null().alias(IS_CURRENT))
        .sort([*config.keys, VALID_FROM])
    )


def silver_schema(config: DatasetConfig) -> dict[str, pl.DataType]:
    """The silver table's columns and dtypes, in order."""
    schema: dict[str, pl.DataType] = dict(config.dtypes)
    if config.partitioning.kind == "daily":
        schema[BUSINESS_DATE] = pl.Date()
    schema["capture_id"] = pl.String()
    schema["captured_at"] = pl.Datetime("ns", "UTC")
    if config.kind == "dimension":
        schema[VALID_FROM] = pl.Datetime("ns", "UTC")
        schema[VALID_TO] = pl.Datetime("ns", "UTC")
        schema[IS_CURRENT] = pl.Boolean()
    return schema
