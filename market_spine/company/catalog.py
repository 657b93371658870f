"""Catalog entries of the company datasets, those declared in the package's `defs/` folder and
those a home adds (`home_defs`): each dataset's raw captures and its silver table, with its
owner, keys, PII columns and tenant."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import polars as pl

from market_spine.catalog.vocabulary import (
    PROVENANCE_DESCRIPTIONS,
    ColumnSpec,
    DatasetSpec,
    SchemaChange,
)
from market_spine.company.config import DatasetConfig, dataset_files, load
from market_spine.company.tables import (
    BUSINESS_DATE,
    IS_CURRENT,
    VALID_FROM,
    VALID_TO,
    raw_table,
    silver_schema,
    silver_table,
)

#: The package's folder of company dataset files (one sub-folder each).
DEFS_FOLDER = Path(__file__).parent / "defs"

_DESCRIPTIONS = {
    **PROVENANCE_DESCRIPTIONS,
    BUSINESS_DATE: "The UTC date of the partitioning timestamp: the row's daily partition.",
    VALID_FROM: "When this version of the row became true (its capture time, UTC).",
    VALID_TO: "When a later capture replaced this version (UTC); null while it is current.",
    IS_CURRENT: "True for the version in force now.",
}
_HISTORY = (SchemaChange(1, date(2026, 11, 30), "Declared by the dataset's YAML file."),)


def _described(config: DatasetConfig, name: str) -> str:
    if name in config.dtypes:
        column = config.column(name)
        masked = {"hash": " PII: hashed (HMAC-SHA-256, the home's key)", "redact": " PII: redacted"}
        tail = f"{masked[column.pii]} without the pii scope." if column.pii else ""
        return column.description + tail
    return _DESCRIPTIONS[name]


def dataset_specs(config: DatasetConfig) -> tuple[DatasetSpec, DatasetSpec]:
    """The raw and silver entries of one company dataset."""
    partitioning = (
        f"daily on {config.partitioning.column} (UTC), from {config.partitioning.start}"
        if config.partitioning.kind == "daily"
        else "none"
    )
    shared = {
        "owner": config.owner,
        "partitioning": partitioning,
        "history": _HISTORY,
        "keys": tuple(config.keys),
        "pii": tuple(config.pii.items()),
        "tenant_column": config.tenant_column,
    }
    raw_columns = dict(config.dtypes)
    if config.partitioning.kind == "daily":
        raw_columns[BUSINESS_DATE] = silver_schema(config)[BUSINESS_DATE]
    raw = DatasetSpec(
        name=raw_table(config),
        description=f"{config.description} Raw captures, append-only.",
        grain="one row per source row per capture",
        columns=tuple(
            ColumnSpec(n, t, _described(config, n))
            for n, t in {**raw_columns, **_provenance()}.items()
        ),
        **shared,
    )
    grain = (
        "one row per version of a key (SCD type 2)"
        if config.kind == "dimension"
        else "one row per key, from its newest capture"
    )
    silver = DatasetSpec(
        name=silver_table(config),
        description=f"{config.description} Cleaned (silver).",
        grain=grain,
        columns=tuple(
            ColumnSpec(n, t, _described(config, n)) for n, t in silver_schema(config).items()
        ),
        upstream=(raw.name,),
        **shared,
    )
    return raw, silver


def _provenance() -> dict[str, pl.DataType]:
    return {
        "capture_id": pl.String(),
        "captured_at": pl.Datetime("ns", "UTC"),
        "source": pl.String(),
        "request": pl.String(),
        "payload_sha256": pl.String(),
    }


def configs(folder: Path = DEFS_FOLDER) -> list[DatasetConfig]:
    """Every company dataset declared under `folder` (their drop folders inside it)."""
    return [load(path, folder) for path in dataset_files(folder)]


def company_datasets(folder: Path = DEFS_FOLDER) -> list[DatasetSpec]:
    """The catalog entries of every dataset declared under `folder`."""
    return [spec for config in configs(folder) for spec in dataset_specs(config)]


#: Every company table this process knows: the package's datasets, then those of each home
#: registered (`register`), so the catalog, the API and Spine see a home's own datasets.
COMPANY_DATASETS = company_datasets()


def company_spec(dataset: str) -> DatasetSpec | None:
    """The catalog entry of a company table (raw or silver), None for any other dataset."""
    return next((s for s in COMPANY_DATASETS if s.name == dataset), None)


def register(declared: Iterable[DatasetConfig]) -> None:
    """Add the entries of datasets a home declares to this process's company tables and to
    the platform's catalog (once each: a home read again adds nothing). A process that has not
    imported the catalog yet (dbt's, which only needs the company tables) is spared its
    import, a second of Dagster and the domains: the catalog takes these entries from
    COMPANY_DATASETS when it is first imported."""
    registry = sys.modules.get("market_spine.catalog.registry")
    for config in declared:
        for spec in dataset_specs(config):
            if company_spec(spec.name) is None:
                COMPANY_DATASETS.append(spec)
            if getattr(registry, "CATALOG", None) is not None:
                registry.CATALOG.entries.setdefault(spec.name, spec)
