"""A company dataset's declaration: the attributes of one `defs.yaml` (source, schema with keys
and PII tags, checks with severity and owner, partitioning, tenant column, retention, owner),
validated with errors that name the file, the key and the fix.

The same model is the Dagster component's schema (`component.CompanyDataset`) and what the
catalog, the API and the dbt staging generator read, so a dataset is declared exactly once.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import polars as pl
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from market_spine.errors import InvalidInput

#: The file of one dataset inside a `defs/` folder (Dagster's component file name).
DEFS_FILE = "defs.yaml"
#: The component type each company `defs.yaml` names.
COMPONENT_TYPE = "market_spine.company.component.CompanyDataset"
#: Column types a declaration may use, and the polars dtype each is stored as.
COLUMN_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us", "UTC"),
}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_OWNER = re.compile(r"^(team:[A-Za-z0-9_-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")


class Strict(BaseModel):
    """Unknown keys are errors: a misspelt key must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FilesSource(Strict):
    """A drop folder of CSV or Parquet files (`path` relative to the dataset's folder); every
    file matching `pattern` is read, and a file already captured is not captured again."""

    kind: Literal["files"]
    path: str
    format: Literal["csv", "parquet"] = "csv"
    pattern: str = "*"


class PostgresSource(Strict):
    """A PostgreSQL table or query; rows past the last capture's `cursor` value are fetched
    (incremental). `dsn_env` names the environment variable holding the connection string, so
    no secret sits in the YAML."""

    kind: Literal["postgres"]
    dsn_env: str
    table: str | None = None
    query: str | None = None
    cursor: str

    @model_validator(mode="after")
    def _one_of(self) -> PostgresSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of `table` or `query`")
        return self


class HttpSource(Strict):
    """An HTTP JSON API answering a list of records (under `records`, a dotted path into the
    body; empty for a bare list), paged by `page_param` until a page comes back short."""

    kind: Literal["http"]
    url: str
    records: str = ""
    page_param: str = "page"
    size_param: str = "size"
    page_size: int = Field(100, gt=0)
    first_page: int = 1


Source = Annotated[FilesSource | PostgresSource | HttpSource, Field(discriminator="kind")]


class Column(Strict):
    """One column: name, type (one of COLUMN_TYPES), meaning, and whether it is personal data
    (`pii: hash` keeps it joinable as a SHA-256, `pii: redact` hides it)."""

    name: str
    type: Literal["string", "int", "float", "bool", "date", "timestamp"]
    description: str
    pii: Literal["hash", "redact"] | None = None

    @model_validator(mode="after")
    def _named(self) -> Column:
        if not _NAME.match(self.name):
            raise ValueError(f"column name {self.name!r} must be lower snake case")
        return self


class Check(Strict):
    """One data-quality rule with its severity (`error` blocks certification, `warn` reports)
    and the owner its findings are routed to (the dataset's owner when absent)."""

    kind: Literal["not_null", "unique", "accepted_values", "range", "row_count", "freshness"]
    column: str | None = None
    columns: list[str] | None = None
    values: list[Any] | None = None
    min: float | None = None
    max: float | None = None
    #: row_count: the largest relative change from the previous capture (0.5 = ±50 %).
    max_change: float | None = None
    #: freshness: hours within which the newest row must have been captured.
    max_age_hours: float | None = None
    severity: Literal["error", "warn"] = "error"
    owner: str | None = None

    @property
    def name(self) -> str:
        """The asset check's name, unique within the dataset."""
        target = self.column or "_".join(self.columns or [])
        return f"{self.kind}_{target}" if target else self.kind

    @model_validator(mode="after")
    def _complete(self) -> Check:
        needs = {
            "not_null": ("column",),
            "unique": (),
            "accepted_values": ("column", "values"),
            "range": ("column",),
            "row_count": ("max_change",),
            "freshness": ("max_age_hours",),
        }[self.kind]
        missing = [key for key in needs if getattr(self, key) is None]
        if missing:
            raise ValueError(f"a {self.kind} check needs `{missing[0]}`")
        if self.kind == "range" and self.min is None and self.max is None:
            raise ValueError("a range check needs `min`, `max` or both")
        return self


class Partitioning(Strict):
    """`daily` on a timestamp column (its UTC date), from `start`; or `none` (one partition)."""

    kind: Literal["daily", "none"] = "none"
    column: str | None = None
    start: date | None = None

    @model_validator(mode="after")
    def _daily(self) -> Partitioning:
        if self.kind == "daily" and (self.column is None or self.start is None):
            raise ValueError("daily partitioning needs `column` (a timestamp column) and `start`")
        return self


#: The longest retention a dataset may declare: a cutoff further back than a century is no
#: date a calendar holds for long, and "for ever" is said by leaving the key out.
MAX_RETENTION_DAYS = 36_500


class DatasetConfig(Strict):
    """Everything one YAML file says about a company dataset."""

    name: str
    description: str
    owner: str
    #: `dimension`: rows describe things that change (kept as SCD type 2 in silver);
    #: `fact`: rows are events (deduplicated, the newest capture of a key wins).
    kind: Literal["dimension", "fact"]
    source: Source
    columns: list[Column]
    keys: list[str]
    tenant_column: str | None = None
    partitioning: Partitioning = Partitioning()
    checks: list[Check] = []
    #: Days a row is kept (raw captures and silver), at most MAX_RETENTION_DAYS; maintenance
    #: deletes older ones. None: kept for ever.
    retention_days: int | None = None

    @field_validator("retention_days", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> Any:
        if value is None:
            return None
        whole = isinstance(value, int) and not isinstance(value, bool)
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value, whole = int(value), True
        if not whole or not 0 < value <= MAX_RETENTION_DAYS:
            raise ValueError(
                f"retention_days {value!r} is not a whole number of days from 1 to "
                f"{MAX_RETENTION_DAYS:,} (a century): write the "
                "days rows are kept, e.g. 3650 for ten years, or remove the key to keep them "
                "for ever"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DatasetConfig:
        if not _NAME.match(self.name):
            raise ValueError(f"name {self.name!r} must be lower snake case, e.g. clients")
        names = [c.name for c in self.columns]
        known = set(names)
        if len(known) != len(names):
            raise ValueError("a column is declared twice")
        named = [*self.keys, *([self.tenant_column] if self.tenant_column else [])]
        named += [self.partitioning.column] if self.partitioning.column else []
        for check in self.checks:
            named += [check.column] if check.column else []
            named += check.columns or []
        unknown = [n for n in named if n not in known]
        if unknown:
            raise ValueError(
                f"column {unknown[0]!r} is used but not declared under `columns` "
                f"(declared: {', '.join(names)})"
            )
        if not _OWNER.match(self.owner):
            raise ValueError(
                f"owner {self.owner!r} must be an email address or a team as `team:<name>`"
            )
        if not self.keys:
            raise ValueError("`keys` must name the columns that identify a row")
        if self.partitioning.kind == "daily":
            column = self.column(self.partitioning.column or "")
            if column.type != "timestamp":
                raise ValueError(
                    f"daily partitioning needs a timestamp column; {column.name} is {column.type}"
                )
        return self

    def column(self, name: str) -> Column:
        """The declared column `name`."""
        return next(c for c in self.columns if c.name == name)

    @property
    def dtypes(self) -> dict[str, pl.DataType]:
        """The declared columns with their polars dtypes, in order."""
        return {c.name: COLUMN_TYPES[c.type] for c in self.columns}

    @property
    def pii(self) -> dict[str, str]:
        """PII columns and how each is masked (hash or redact)."""
        return {c.name: c.pii for c in self.columns if c.pii}


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def parse(raw: Any, path: Path) -> DatasetConfig:
    """The dataset a `defs.yaml` document declares; InvalidInput naming the file, the key and
    how to fix it when it is malformed."""
    if not isinstance(raw, dict) or "attributes" not in raw:
        raise InvalidInput(
            f"{path}: a company dataset file needs `type: {COMPONENT_TYPE}` and an "
            "`attributes:` mapping holding the dataset's declaration"
        )
    if raw.get("type") != COMPONENT_TYPE:
        raise InvalidInput(f"{path}: key `type` must be {COMPONENT_TYPE}, not {raw.get('type')!r}")
    try:
        return DatasetConfig.model_validate(raw["attributes"])
    except ValidationError as exc:
        raise InvalidInput(explain(exc, path)) from None


def explain(exc: ValidationError, path: Path) -> str:
    """A validation error as one message per problem: file, key path, what is wrong."""
    lines = []
    for error in exc.errors():
        where = _where(("attributes", *error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "is not a known key: remove it or check its spelling"
        elif error["type"] == "missing":
            message = "is required: add it"
        lines.append(f"{path}: key `{where}` {message}")
    return "\n".join(lines)


def load(path: Path) -> DatasetConfig:
    """Read and validate one `defs.yaml`."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML ({exc}); fix the syntax there") from None
    return parse(raw, path)


def dataset_files(folder: Path) -> list[Path]:
    """Every dataset file under a `defs/` folder, in name order."""
    return sorted(folder.glob(f"*/{DEFS_FILE}"))
