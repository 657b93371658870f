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
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from market_spine.catalog.vocabulary import PROVENANCE_DESCRIPTIONS
from market_spine.certification.status import CERTIFICATION_COLUMN
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
#: The UTC date of the partitioning timestamp, on every row of a daily-partitioned dataset.
BUSINESS_DATE = "business_date"
#: SCD type 2 columns of a dimension's silver rows.
VALID_FROM, VALID_TO, IS_CURRENT = "valid_from", "valid_to", "is_current"
#: Columns the platform adds beside the declared ones: a capture's provenance, the business
#: date, a dimension's validity and the certification a read carries. A declared column of
#: the same name would be overwritten or clash, so none may take one.
PLATFORM_COLUMNS: tuple[str, ...] = (
    *PROVENANCE_DESCRIPTIONS,
    BUSINESS_DATE,
    VALID_FROM,
    VALID_TO,
    IS_CURRENT,
    CERTIFICATION_COLUMN,
)
#: Column types a range check compares with its numeric `min` and `max`.
NUMERIC_TYPES = ("int", "float")
#: Column types a tenant column may have: a tenant is named, never measured.
TENANT_TYPES = ("string", "int")
#: The validation context key holding the folder a `files` source's `path` must stay inside.
HOME = "home"
#: The validation context key holding the folder a `files` source's `path` is relative to.
FOLDER = "folder"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_OWNER = re.compile(r"^(team:[A-Za-z0-9_-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")


class Strict(BaseModel):
    """Unknown keys are errors: a misspelt key must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def refuse(problems: list[tuple[tuple[str | int, ...], str]], title: str) -> None:
    """Raise one validation error per `(key path, message)` in `problems`, each at its own key
    (relative to the model validated), so the file's reader sees every one at once."""
    if problems:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(
                    type=PydanticCustomError("company_dataset", message), loc=loc, input=None
                )
                for loc, message in problems
            ],
        )


class FilesSource(Strict):
    """A drop folder of CSV or Parquet files (`path` relative to the dataset's folder); every
    file matching `pattern` is read, and a file already captured is not captured again."""

    kind: Literal["files"]
    path: str
    format: Literal["csv", "parquet"] = "csv"
    pattern: str = "*"

    @field_validator("path")
    @classmethod
    def _inside_home(cls, value: str, info: ValidationInfo) -> str:
        # Validated with the file's folder and its home (see `parse`): a drop folder outside
        # the home would read files no owner of the home put there.
        context = info.context or {}
        if HOME not in context or FOLDER not in context:
            return value
        home = Path(context[HOME]).resolve()
        drop = drop_folder(value, Path(context[FOLDER]))
        if not drop.is_relative_to(home):
            raise ValueError(
                f"{value!r} resolves to {drop}, outside {home}: give a folder inside it "
                "(relative to the dataset's file, without `..` or a link leading out)"
            )
        return value

    def drop(self, folder: Path) -> Path:
        """The drop folder of a dataset whose file is in `folder` (absolute, links resolved)."""
        return drop_folder(self.path, folder)


def drop_folder(path: str, folder: Path) -> Path:
    """A `files` source's `path` from the dataset file's `folder`, `..` and links resolved."""
    return (folder / path).resolve()


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
    first_page: int = Field(1, ge=0)


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
            refuse([(("name",), f"{self.name!r} must be lower snake case")], "Column")
        if self.name in PLATFORM_COLUMNS:
            refuse(
                [
                    (
                        ("name",),
                        f"{self.name!r} is a column the platform adds to company "
                        f"datasets ({', '.join(PLATFORM_COLUMNS)}): rename it here and in "
                        f"the source, e.g. src_{self.name}",
                    )
                ],
                "Column",
            )
        return self


#: What each kind of check needs, and what else it takes.
_CHECK_NEEDS: dict[str, tuple[str, ...]] = {
    "not_null": ("column",),
    "unique": (),
    "accepted_values": ("column", "values"),
    "range": ("column",),
    "row_count": ("max_change",),
    "freshness": ("max_age_hours",),
}
_CHECK_TAKES: dict[str, tuple[str, ...]] = {
    **_CHECK_NEEDS,
    "unique": ("column", "columns"),
    "range": ("column", "min", "max"),
}
#: The settings of a check that only some kinds use (severity and owner apply to all).
_CHECK_SETTINGS = ("column", "columns", "values", "min", "max", "max_change", "max_age_hours")


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
    max_change: float | None = Field(None, gt=0)
    #: freshness: hours within which the newest row must have been captured.
    max_age_hours: float | None = Field(None, gt=0)
    severity: Literal["error", "warn"] = "error"
    owner: str | None = None

    @property
    def name(self) -> str:
        """The asset check's name, unique within the dataset."""
        target = self.column or "_".join(self.columns or [])
        return f"{self.kind}_{target}" if target else self.kind

    @model_validator(mode="after")
    def _complete(self) -> Check:
        needs = _CHECK_NEEDS[self.kind]
        problems: list[tuple[tuple[str | int, ...], str]] = [
            ((key,), f"is required by a {self.kind} check: add it")
            for key in needs
            if getattr(self, key) is None
        ]
        problems += [
            ((key,), f"is not used by a {self.kind} check: remove it, or change `kind`")
            for key in _CHECK_SETTINGS
            if getattr(self, key) is not None and key not in _CHECK_TAKES[self.kind]
        ]
        if self.kind == "accepted_values" and self.values == []:
            problems.append(
                (("values",), "is empty, so every value would fail: list the accepted values")
            )
        if self.kind == "range" and self.min is None and self.max is None:
            problems.append((("min",), "a range check needs `min`, `max` or both: add one"))
        if self.min is not None and self.max is not None and self.min > self.max:
            problems.append(
                (("min",), f"{self.min} is above `max` {self.max}: swap them or fix one")
            )
        refuse(problems, "Check")
        return self


class Partitioning(Strict):
    """`daily` on a timestamp column (its UTC date), from `start`; or `none` (one partition)."""

    kind: Literal["daily", "none"] = "none"
    column: str | None = None
    start: date | None = None

    @model_validator(mode="after")
    def _daily(self) -> Partitioning:
        if self.kind == "daily":
            what = {"column": "a timestamp column", "start": "the first business date"}
            refuse(
                [
                    ((key,), f"is required by daily partitioning ({what[key]}): add it")
                    for key in ("column", "start")
                    if getattr(self, key) is None
                ],
                "Partitioning",
            )
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
        refuse(self._problems(), "DatasetConfig")
        return self

    def _problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every inconsistency between the declaration's parts, each at the key that holds
        it: a column named but not declared, a check or tenant column of the wrong type."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if not _NAME.match(self.name):
            problems.append((("name",), f"{self.name!r} must be lower snake case, e.g. clients"))
        if not _OWNER.match(self.owner):
            problems.append(
                (("owner",), f"{self.owner!r} must be an email address or a team as `team:<name>`")
            )
        names = [c.name for c in self.columns]
        types = {c.name: c.type for c in self.columns}
        for i, name in enumerate(names):
            if name in names[:i]:
                problems.append(
                    (("columns", i, "name"), f"{name!r} is declared twice: rename or remove one")
                )
        declared = f"declared: {', '.join(names)}"

        def named(loc: tuple[str | int, ...], name: str) -> bool:
            if name in types:
                return True
            problems.append(
                (
                    loc,
                    f"{name!r} is not a declared column: declare it under `columns` or "
                    f"name one of them ({declared})",
                )
            )
            return False

        if not self.keys:
            problems.append((("keys",), "must name the columns that identify a row"))
        for i, key in enumerate(self.keys):
            named(("keys", i), key)
        tenant = self.tenant_column
        if (
            tenant is not None
            and named(("tenant_column",), tenant)
            and types[tenant] not in TENANT_TYPES
        ):
            problems.append(
                (
                    ("tenant_column",),
                    f"{tenant!r} is a {types[tenant]} column; a tenant "
                    f"column must be {' or '.join(TENANT_TYPES)}: name another or change its type",
                )
            )
        column = self.partitioning.column
        if (
            column is not None
            and named(("partitioning", "column"), column)
            and self.partitioning.kind == "daily"
            and types[column] != "timestamp"
        ):
            problems.append(
                (
                    ("partitioning", "column"),
                    f"daily partitioning needs a timestamp column; {column} is {types[column]}",
                )
            )
        if isinstance(self.source, PostgresSource):
            # The next capture starts past the newest captured value of it.
            named(("source", "cursor"), self.source.cursor)
        for i, check in enumerate(self.checks):
            if check.column is not None and named(("checks", i, "column"), check.column):
                kind = types[check.column]
                if check.kind == "range" and kind not in NUMERIC_TYPES:
                    problems.append(
                        (
                            ("checks", i, "column"),
                            f"a range check compares numbers, but "
                            f"{check.column!r} is a {kind} column: use accepted_values for it, "
                            f"or point the check at an {' or '.join(NUMERIC_TYPES)} column",
                        )
                    )
            for j, name in enumerate(check.columns or []):
                named(("checks", i, "columns", j), name)
        return problems

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


#: The `kind` values that pick a source's model: pydantic puts the one chosen in an error's
#: key path, where the file has no such key.
_SOURCE_KINDS = ("files", "postgres", "http")


def key_path(loc: tuple[Any, ...]) -> str:
    """An error's location as the key path in the file, e.g. `attributes.checks[2].column`."""
    parts = list(loc)
    if len(parts) > 2 and parts[:2] == ["attributes", "source"] and parts[2] in _SOURCE_KINDS:
        del parts[2]
    where = ""
    for part in parts:
        where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else str(part)
    return where or "(top level)"


def parse(raw: Any, path: Path, home: Path | None = None) -> DatasetConfig:
    """The dataset a `defs.yaml` document declares; InvalidInput naming the file, the key and
    how to fix it when it is malformed. With `home`, a `files` source's drop folder (relative
    to the file's folder, `..` and links resolved) must lie inside it."""
    if not isinstance(raw, dict) or "attributes" not in raw:
        raise InvalidInput(
            f"{path}: a company dataset file needs `type: {COMPONENT_TYPE}` and an "
            "`attributes:` mapping holding the dataset's declaration"
        )
    if raw.get("type") != COMPONENT_TYPE:
        raise InvalidInput(f"{path}: key `type` must be {COMPONENT_TYPE}, not {raw.get('type')!r}")
    context = {HOME: home, FOLDER: path.parent} if home is not None else None
    try:
        return DatasetConfig.model_validate(raw["attributes"], context=context)
    except ValidationError as exc:
        raise InvalidInput(explain(exc, path)) from None


def explain(exc: ValidationError, path: Path) -> str:
    """A validation error as one message per problem: file, key path, what is wrong."""
    lines = []
    for error in exc.errors():
        where = key_path(("attributes", *error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "is not a known key: remove it or check its spelling"
        elif error["type"] == "missing":
            message = "is required: add it"
        elif error["type"] == "greater_than":
            message = f"is {error['input']!r}: {message.lower()}; write a positive number"
        elif error["type"] == "greater_than_equal":
            message = f"is {error['input']!r}: {message.lower()}; write a larger number"
        lines.append(f"{path}: key `{where}` {message}")
    return "\n".join(lines)


def load(path: Path, home: Path | None = None) -> DatasetConfig:
    """Read and validate one `defs.yaml` (a drop folder inside `home` when given)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML ({exc}); fix the syntax there") from None
    return parse(raw, path, home)


def dataset_files(folder: Path) -> list[Path]:
    """Every dataset file under a `defs/` folder, in name order."""
    return sorted(folder.glob(f"*/{DEFS_FILE}"))
