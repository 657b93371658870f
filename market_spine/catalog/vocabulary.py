"""The dataset catalog's vocabulary: what a dataset is (name, layer, owner, grain, partitioning,
columns with types and descriptions, schema version history, upstream datasets) and a registry
of them. Domains declare their entries; `market_spine.catalog.registry` gathers them. Everything
that describes a dataset (Spine, CLI, API, Dagster metadata, dbt sources) reads that registry.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from market_spine.errors import InvalidInput


class UnknownDataset(InvalidInput):
    """A dataset name the catalog does not know."""


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its name, polars dtype (None where the engine decides it, as in dbt models)
    and what it means."""

    name: str
    dtype: pl.DataType | None
    description: str

    @property
    def type_name(self) -> str:
        """The dtype as text, e.g. `Datetime(time_unit='ns', time_zone='UTC')`."""
        return "–" if self.dtype is None else str(self.dtype)


@dataclass(frozen=True)
class SchemaChange:
    """One schema version and what it changed."""

    version: int
    since: date
    change: str


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the platform promises about one dataset."""

    name: str  # `<layer>/<dataset>`, also the Delta table path and the asset key
    description: str
    owner: str
    grain: str
    partitioning: str
    columns: tuple[ColumnSpec, ...]
    history: tuple[SchemaChange, ...]
    upstream: tuple[str, ...] = ()
    kind: str = "delta"
    #: What writes it: a Dagster asset (same key), or a named service outside Dagster.
    written_by: str = "asset"
    #: The columns that identify a row within the table (empty: not declared); revisions diff
    #: two snapshots of a partition by them.
    keys: tuple[str, ...] = ()
    #: Value columns each source derives its own way from the same trades (a bar's vwap and
    #: trade count: the stream's 5-second aggregation is not the history's): a difference in
    #: them is no revision, so revisions compare every other value column only.
    derived_values: tuple[str, ...] = ()
    #: Personal-data columns and how they are masked (`hash` or `redact`) for identities
    #: without the `pii` scope.
    pii: tuple[tuple[str, str], ...] = ()
    #: The column naming each row's tenant (None: the table is not split by tenant).
    tenant_column: str | None = None
    #: The UTC timestamp column whose newest value says how far the data reaches (a bar's
    #: open, a roll's effective time); a table without it has a newest partition only.
    time_column: str = "ts"

    @property
    def layer(self) -> str:
        """The layer: raw, normalized, analytics, quality, …"""
        return self.name.split("/", 1)[0]

    @property
    def schema_version(self) -> int:
        """The current schema version (the last change's)."""
        return self.history[-1].version

    @property
    def asset_path(self) -> list[str]:
        """The Dagster asset key path of the asset writing this dataset."""
        return self.name.split("/")


def columns_of(
    schema: Mapping[str, pl.DataType], descriptions: Mapping[str, str]
) -> tuple[ColumnSpec, ...]:
    """ColumnSpecs from a table's declared dtypes and a description per column; a column
    without a description is an error, so no dataset ships undocumented."""
    missing = [name for name in schema if not descriptions.get(name)]
    if missing:
        raise ValueError(f"columns without a description: {', '.join(missing)}")
    return tuple(ColumnSpec(n, dtype, descriptions[n]) for n, dtype in schema.items())


@dataclass(frozen=True)
class DatasetFamily:
    """What a domain's datasets share (owner, partitioning, column glossary, schema history),
    so each entry states only its own name, columns, meaning, grain and lineage."""

    owner: str
    partitioning: str
    glossary: Mapping[str, str]
    history: tuple[SchemaChange, ...]

    def dataset(
        self,
        name: str,
        schema: Mapping[str, pl.DataType],
        *,
        description: str,
        grain: str,
        upstream: Sequence[DatasetSpec] = (),
        glossary: Mapping[str, str] | None = None,
        keys: tuple[str, ...] = (),
        written_by: str = "asset",
    ) -> DatasetSpec:
        """The entry of table `name` with columns `schema`, described from the family's glossary
        (`glossary` overrides some of its descriptions for this table only)."""
        return DatasetSpec(
            name=name,
            description=description,
            owner=self.owner,
            grain=grain,
            partitioning=self.partitioning,
            columns=columns_of(schema, {**self.glossary, **(glossary or {})}),
            history=self.history,
            upstream=tuple(spec.name for spec in upstream),
            written_by=written_by,
            keys=keys,
        )


@dataclass
class Catalog:
    """The registry: datasets by name, in declaration order."""

    entries: dict[str, DatasetSpec] = field(default_factory=dict)

    @classmethod
    def of(cls, specs: Iterable[DatasetSpec]) -> Catalog:
        catalog = cls()
        for spec in specs:
            if spec.name in catalog.entries:
                raise ValueError(f"dataset {spec.name} is declared twice")
            catalog.entries[spec.name] = spec
        return catalog

    def __iter__(self) -> Iterator[DatasetSpec]:
        return iter(self.entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def names(self) -> list[str]:
        """Every dataset name, in declaration order."""
        return list(self.entries)

    def get(self, name: str) -> DatasetSpec:
        """One dataset; a clear error listing the known names when it does not exist."""
        spec = self.entries.get(name.strip().strip("/"))
        if spec is None:
            raise UnknownDataset(
                f"unknown dataset {name!r}: the catalog has {', '.join(self.entries)}"
            )
        return spec

    def frame(self) -> pl.DataFrame:
        """One row per dataset (what `Spine.catalog()` shows)."""
        return pl.DataFrame(
            [
                {
                    "name": s.name,
                    "layer": s.layer,
                    "kind": s.kind,
                    "description": s.description,
                    "owner": s.owner,
                    "grain": s.grain,
                    "partitioning": s.partitioning,
                    "schema_version": s.schema_version,
                    "columns": len(s.columns),
                    "upstream": list(s.upstream),
                    "written_by": s.written_by,
                }
                for s in self
            ],
            schema={
                "name": pl.String(),
                "layer": pl.String(),
                "kind": pl.String(),
                "description": pl.String(),
                "owner": pl.String(),
                "grain": pl.String(),
                "partitioning": pl.String(),
                "schema_version": pl.Int64(),
                "columns": pl.Int64(),
                "upstream": pl.List(pl.String()),
                "written_by": pl.String(),
            },
        )


#: Provenance columns every raw capture carries (see lake.capture.with_provenance).
PROVENANCE_DESCRIPTIONS: dict[str, str] = {
    "capture_id": "ULID of the provider call the row came from; sorts by capture time.",
    "captured_at": "When the capture was taken (UTC).",
    "source": "The adapter that captured it: simulated, ib, thetadata or file.",
    "request": "The request that produced the capture, as JSON (symbol, dates, parameters).",
    "payload_sha256": "SHA-256 of the bytes the source returned, to prove what was received.",
}


def conform(frame: pl.DataFrame, dtypes: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select and cast a frame to a declared column order and dtypes (no validation); a frame
    already in them is returned as it is (a query costs more than a small frame's work)."""
    if frame.columns == list(dtypes) and frame.dtypes == list(dtypes.values()):
        return frame
    return frame.select(pl.col(name).cast(dtype) for name, dtype in dtypes.items())
