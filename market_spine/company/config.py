"""A company dataset's declaration: the attributes of one `defs.yaml` (source, schema with keys
and PII tags, checks with severity and owner, partitioning, tenant column, retention, owner),
validated with errors that name the file, the key and the fix.

The same model is the Dagster component's schema (`component.CompanyDataset`) and what the
catalog, the API and the dbt staging generator read, so a dataset is declared exactly once.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import polars as pl
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
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
#: The longest name of a dataset or a column: each becomes part of SQL identifiers (the dbt
#: model `stg_company__<name>`, warehouse views), which PostgreSQL cuts at 63 characters.
MAX_NAME_LENGTH = 48

Problems = list[tuple[tuple[str | int, ...], str]]


def _named(value: str) -> str:
    """A dataset's or a column's name: lower snake case, at most MAX_NAME_LENGTH characters."""
    if not _NAME.match(value):
        raise ValueError(
            f"{value!r} must be lower snake case (a letter, then letters, digits or _), "
            "e.g. clients"
        )
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(
            f"{value!r} is {len(value)} characters, over the limit of {MAX_NAME_LENGTH} (names "
            "become SQL identifiers, cut at 63 characters with their prefixes): shorten it"
        )
    return value


def _owned(value: str) -> str:
    """Who findings are routed to: an email address or `team:<name>`."""
    if not _OWNER.match(value):
        raise ValueError(
            f"{value!r} must be an email address or a team as `team:<name>` (letters, digits, "
            "_ or -), e.g. team:sales-ops"
        )
    return value


#: A dataset's or a column's name (see `_named`).
Name = Annotated[str, AfterValidator(_named)]
#: The owner of a dataset or of one check's findings (see `_owned`).
Owner = Annotated[str, AfterValidator(_owned)]
#: A finite number written as a number (a quoted '30' or .inf is refused).
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
#: A positive finite number written as a number.
PositiveNumber = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0)]


def _rebuilt(error: Any) -> InitErrorDetails:
    """A nested model's error carried up unchanged (its type, message, key and input)."""
    return InitErrorDetails(
        type=PydanticCustomError(error["type"], error["msg"]),
        loc=error["loc"],
        input=error.get("input"),
    )


class Strict(BaseModel):
    """Unknown keys are errors: a misspelt key must not be silently ignored. A model's rules
    that join its keys (`_rules`, run on the raw mapping) are judged even when a key fails
    alone, so a file's reader sees every problem at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        if isinstance(data, BaseModel):
            return handler(data)
        errors: list[InitErrorDetails] = []
        try:
            model = handler(data)
        except ValidationError as exc:
            errors = [_rebuilt(e) for e in exc.errors()]
            model = None
        if isinstance(data, Mapping):
            errors += _details(cls._rules(data))
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return model

    @classmethod
    def _rules(cls, raw: Mapping[str, Any]) -> Problems:
        """Problems between this model's keys, judged on the raw mapping (some keys may be
        malformed: each rule looks only at what it can read)."""
        return []


def _details(problems: Problems) -> list[InitErrorDetails]:
    return [
        InitErrorDetails(type=PydanticCustomError("company_dataset", message), loc=loc, input=None)
        for loc, message in problems
    ]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _strings(value: Any) -> list[str]:
    """The strings of a raw list (what else it holds is refused by its own key)."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


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

    @field_validator("pattern")
    @classmethod
    def _file_names_only(cls, value: str) -> str:
        # A pattern with a path in it could reach files outside the drop folder.
        if not value or "/" in value or "\\" in value or ".." in value:
            raise ValueError(
                f"{value!r} is not a file-name pattern: `pattern` matches names of files in "
                "the drop folder (e.g. `*.csv`), without `/`, `\\` or `..`; point `path` at "
                "the folder instead"
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

    @classmethod
    def _rules(cls, raw: Mapping[str, Any]) -> Problems:
        if (raw.get("table") is None) == (raw.get("query") is None):
            return [(("table",), "give exactly one of `table` or `query`")]
        return []


class HttpSource(Strict):
    """An HTTP JSON API answering a list of records (under `records`, a dotted path into the
    body; empty for a bare list), paged by `page_param` until a page comes back empty, or
    until the records counted reach the number at `total` (a dotted path), or until the link
    at `next` (a dotted path) is null. A short page is not the end: many APIs cap the page
    size below the one asked. At most `max_pages` pages are read, so an API that ignores the
    page parameter fails instead of paging forever."""

    kind: Literal["http"]
    url: str
    records: str = ""
    page_param: str = "page"
    size_param: str = "size"
    page_size: int = Field(100, gt=0, strict=True)
    first_page: int = Field(1, ge=0, strict=True)
    max_pages: int = Field(1000, gt=0, le=1_000_000, strict=True)
    total: str | None = None
    next: str | None = None

    @classmethod
    def _rules(cls, raw: Mapping[str, Any]) -> Problems:
        if raw.get("total") is not None and raw.get("next") is not None:
            return [(("next",), "give at most one of `total` or `next`")]
        return []


Source = Annotated[FilesSource | PostgresSource | HttpSource, Field(discriminator="kind")]


def _not_platform(value: str) -> str:
    if value in PLATFORM_COLUMNS:
        raise ValueError(
            f"{value!r} is a column the platform adds to company datasets "
            f"({', '.join(PLATFORM_COLUMNS)}): rename it here and in the source, e.g. src_{value}"
        )
    return value


@cache
def sql_keywords() -> frozenset[str]:
    """The DuckDB keywords a column may not be named: those its SQL cannot take as a bare
    column name (`select at from …` fails), which the generated dbt models and the analysts'
    SQL would write unquoted."""
    import duckdb

    with duckdb.connect() as con:
        rows = con.sql(
            "select keyword_name from duckdb_keywords() "
            "where keyword_category in ('reserved', 'type_function')"
        ).fetchall()
    return frozenset(name for (name,) in rows)


def _not_keyword(value: str) -> str:
    if value in sql_keywords():
        raise ValueError(
            f"{value!r} is an SQL keyword (DuckDB's): every query naming the column unquoted, "
            f"the generated dbt models and the analysts' SQL among them, would fail; rename it "
            f"here and in the source, e.g. {value}_at or src_{value}"
        )
    return value


class Column(Strict):
    """One column: name, type (one of COLUMN_TYPES), meaning, and whether it is personal data
    (`pii: hash` keeps it joinable as a SHA-256, `pii: redact` hides it)."""

    name: Annotated[Name, AfterValidator(_not_platform), AfterValidator(_not_keyword)]
    type: Literal["string", "int", "float", "bool", "date", "timestamp"]
    description: str
    pii: Literal["hash", "redact"] | None = None


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
    #: accepted_values: values of the column's declared type (checked against it at load).
    values: list[Any] | None = None
    min: Number | None = None
    max: Number | None = None
    #: row_count: the largest relative change from the previous capture (0.5 = ±50 %).
    max_change: PositiveNumber | None = None
    #: freshness: hours within which the newest row must have been captured.
    max_age_hours: PositiveNumber | None = None
    severity: Literal["error", "warn"] = "error"
    owner: Owner | None = None

    @property
    def name(self) -> str:
        """The asset check's name, unique within the dataset."""
        target = self.column or "_".join(self.columns or [])
        return f"{self.kind}_{target}" if target else self.kind

    @classmethod
    def _rules(cls, raw: Mapping[str, Any]) -> Problems:
        kind = raw.get("kind")
        if kind not in _CHECK_NEEDS:
            return []
        problems: Problems = [
            ((key,), f"is required by a {kind} check: add it")
            for key in _CHECK_NEEDS[kind]
            if raw.get(key) is None
        ]
        problems += [
            ((key,), f"is not used by a {kind} check: remove it, or change `kind`")
            for key in _CHECK_SETTINGS
            if raw.get(key) is not None and key not in _CHECK_TAKES[kind]
        ]
        if kind == "accepted_values" and raw.get("values") == []:
            problems.append(
                (("values",), "is empty, so every value would fail: list the accepted values")
            )
        if kind == "unique" and raw.get("columns") == []:
            problems.append(
                (
                    ("columns",),
                    "is empty, so nothing would be compared: name the columns that must be "
                    "unique together, or remove `columns` to use the dataset's `keys`",
                )
            )
        low, high = raw.get("min"), raw.get("max")
        if kind == "range" and low is None and high is None:
            problems.append((("min",), "a range check needs `min`, `max` or both: add one"))
        if _number(low) and _number(high) and low > high:
            problems.append(
                (("min",), f"{float(low)} is above `max` {float(high)}: swap them or fix one")
            )
        return problems


class Partitioning(Strict):
    """`daily` on a timestamp column (its UTC date), from `start`; or `none` (one partition)."""

    kind: Literal["daily", "none"] = "none"
    column: str | None = None
    start: date | None = None

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, value: Any) -> Any:
        if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
            return value
        try:
            return datetime.strptime(str(value), "%Y-%m-%d").date()
        except ValueError:
            raise ValueError(
                f"start {value!r} is not a date: write the first business date as YYYY-MM-DD, "
                "e.g. 2026-11-24"
            ) from None

    @classmethod
    def _rules(cls, raw: Mapping[str, Any]) -> Problems:
        if raw.get("kind") != "daily":
            return []
        what = {"column": "a timestamp column", "start": "the first business date"}
        return [
            ((key,), f"is required by daily partitioning ({what[key]}): add it")
            for key in ("column", "start")
            if raw.get(key) is None
        ]


#: The longest retention a dataset may declare: a cutoff further back than a century is no
#: date a calendar holds for long, and "for ever" is said by leaving the key out.
MAX_RETENTION_DAYS = 36_500

#: What a value of each column type is in YAML, to compare with the column's values, and how
#: to write one.
_VALUE_FITS: dict[str, tuple[Any, str]] = {
    "string": (lambda v: isinstance(v, str), "text, e.g. open"),
    "int": (
        lambda v: isinstance(v, int) and not isinstance(v, bool),
        "whole numbers without quotes, e.g. 3",
    ),
    "float": (
        lambda v: _number(v) and math.isfinite(v),
        "finite numbers without quotes, e.g. 1.5",
    ),
    "bool": (lambda v: isinstance(v, bool), "true or false, without quotes"),
    "date": (
        lambda v: isinstance(v, date) and not isinstance(v, datetime),
        "dates without quotes, e.g. 2026-11-23",
    ),
    "timestamp": (
        lambda v: isinstance(v, datetime),
        "timestamps without quotes, e.g. 2026-11-23T14:30:00Z",
    ),
}


def _value_problems(i: int, check: Mapping[str, Any], column: str, kind: str) -> Problems:
    """An accepted_values check's values that the column's type could never hold: each would
    fail every run's comparison."""
    fits, how = _VALUE_FITS[kind]
    problems: Problems = []
    values = check.get("values")
    for j, value in enumerate(values if isinstance(values, list) else []):
        if value is None:
            problems.append(
                (
                    ("checks", i, "values", j),
                    "is null, which accepted_values never compares (nulls pass it): remove "
                    f"it, and add a not_null check on {column!r} to refuse nulls",
                )
            )
        elif not fits(value):
            problems.append(
                (
                    ("checks", i, "values", j),
                    f"{value!r} (a {type(value).__name__}) can never be a value of {column!r}, a "
                    f"{kind} column: write {how}, or point the check at another column",
                )
            )
    return problems


class DatasetConfig(Strict):
    """Everything one YAML file says about a company dataset."""

    name: Name
    description: str
    owner: Owner
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

    _TENANT_PII: ClassVar[str] = (
        "is tagged `pii: {pii}` but is the tenant column: its values would be masked on "
        "reads, so no key bound to a tenant could match its rows and isolation would break. "
        "Remove `pii` from it (a tenant names a company, not a person), or name another "
        "tenant column"
    )

    @field_validator("retention_days", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> Any:
        if value is None:
            return None
        whole = isinstance(value, int) and not isinstance(value, bool)
        if not whole or not 0 < value <= MAX_RETENTION_DAYS:
            raise ValueError(
                f"retention_days {value!r} is not a whole number of days from 1 to "
                f"{MAX_RETENTION_DAYS:,} (a century) written without quotes: write the "
                "days rows are kept, e.g. 3650 for ten years, or remove the key to keep them "
                "for ever"
            )
        return value

    @classmethod
    def _rules(cls, raw: Mapping[str, Any]) -> Problems:
        """Every inconsistency between the declaration's parts, each at the key that holds
        it: a column named but not declared, a check, tenant column or partitioning of the
        wrong type, a check's parameter its column's type could never hold."""
        problems: Problems = []
        columns = [
            (i, c)
            for i, c in enumerate(raw.get("columns") or [])
            if isinstance(c, Mapping) and isinstance(c.get("name"), str)
        ]
        names = [c["name"] for _, c in columns]
        types = {c["name"]: c.get("type") for _, c in columns if c.get("type") in COLUMN_TYPES}
        pii = {c["name"]: c["pii"] for _, c in columns if c.get("pii")}
        seen: set[str] = set()
        for i, column in columns:
            if column["name"] in seen:
                problems.append(
                    (
                        ("columns", i, "name"),
                        f"{column['name']!r} is declared twice: rename or remove one",
                    )
                )
            seen.add(column["name"])
        declared = f"declared: {', '.join(names)}"

        def named(loc: tuple[str | int, ...], name: str) -> bool:
            """Whether `name` is a declared column of a known type (a problem when it is not
            declared at all)."""
            if name in types:
                return True
            if name not in names:
                problems.append(
                    (
                        loc,
                        f"{name!r} is not a declared column: declare it under `columns` or "
                        f"name one of them ({declared})",
                    )
                )
            return False

        keys = raw.get("keys")
        if isinstance(keys, list) and not keys:
            problems.append((("keys",), "must name the columns that identify a row"))
        for i, key in enumerate(_strings(keys)):
            named(("keys", i), key)
        tenant = raw.get("tenant_column")
        if isinstance(tenant, str) and named(("tenant_column",), tenant):
            if types[tenant] not in TENANT_TYPES:
                problems.append(
                    (
                        ("tenant_column",),
                        f"{tenant!r} is a {types[tenant]} column; a tenant column must be "
                        f"{' or '.join(TENANT_TYPES)}: name another or change its type",
                    )
                )
            if tenant in pii:
                problems.append((("tenant_column",), cls._TENANT_PII.format(pii=pii[tenant])))
        partitioning = raw.get("partitioning")
        if isinstance(partitioning, Mapping) and isinstance(partitioning.get("column"), str):
            column = partitioning["column"]
            if (
                named(("partitioning", "column"), column)
                and partitioning.get("kind") == "daily"
                and types[column] != "timestamp"
            ):
                problems.append(
                    (
                        ("partitioning", "column"),
                        f"daily partitioning needs a timestamp column; {column} is {types[column]}",
                    )
                )
        source = raw.get("source")
        if (
            isinstance(source, Mapping)
            and source.get("kind") == "postgres"
            and isinstance(source.get("cursor"), str)
        ):
            # The next capture starts past the newest captured value of it.
            named(("source", "cursor"), source["cursor"])
        checks = raw.get("checks")
        for i, check in enumerate(checks if isinstance(checks, list) else []):
            if isinstance(check, Mapping):
                problems += cls._check_problems(i, check, named, types)
        return problems

    @staticmethod
    def _check_problems(
        i: int,
        check: Mapping[str, Any],
        named: Callable[[tuple[str | int, ...], str], bool],
        types: dict[str, str],
    ) -> Problems:
        """A check's columns and parameters against the declared columns and their types."""
        problems: Problems = []
        column = check.get("column")
        if isinstance(column, str) and named(("checks", i, "column"), column):
            kind = types[column]
            if check.get("kind") == "range" and kind not in NUMERIC_TYPES:
                problems.append(
                    (
                        ("checks", i, "column"),
                        f"a range check compares numbers, but {column!r} is a {kind} column: "
                        "use accepted_values for it, or point the check at an "
                        f"{' or '.join(NUMERIC_TYPES)} column",
                    )
                )
            if check.get("kind") == "accepted_values":
                problems += _value_problems(i, check, column, kind)
        for j, name in enumerate(_strings(check.get("columns"))):
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


#: Errors of a number written as something else: quoted, `true`, `.inf` or `.nan`.
_NUMBER_ERRORS = ("float_type", "int_type", "finite_number", "int_from_float")


def explain(exc: ValidationError, path: Path) -> str:
    """A validation error as one message per problem: file, key path, what is wrong."""
    lines = []
    for error in exc.errors():
        loc = error["loc"]
        if error["type"] == "union_tag_invalid":
            loc = (*loc, "kind")  # the key whose value picks the model
        where = key_path(("attributes", *loc))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "is not a known key: remove it or check its spelling"
        elif error["type"] == "missing":
            message = "is required: add it"
        elif error["type"] == "greater_than":
            message = f"is {error['input']!r}: {message.lower()}; write a positive number"
        elif error["type"] == "greater_than_equal":
            message = f"is {error['input']!r}: {message.lower()}; write a larger number"
        elif error["type"] in ("literal_error", "union_tag_invalid"):
            message = _choice(error)
        elif error["type"] == "union_tag_not_found":
            message = f"needs `kind`, one of {_listed(_SOURCE_KINDS)}: add it, e.g. `kind: files`"
        elif error["type"] in _NUMBER_ERRORS:
            message = (
                f"is {error['input']!r}: {message.lower()}; write a finite number without "
                "quotes, e.g. 24"
            )
        lines.append(f"{path}: key `{where}` {message}")
    return "\n".join(lines)


def _listed(choices: tuple[str, ...] | list[str]) -> str:
    return ", ".join(repr(c) for c in choices)


def _choice(error: Any) -> str:
    """A value outside a key's choices: the value given, every choice and the closest one."""
    given = error.get("input")
    if error["type"] == "union_tag_invalid":
        given = given.get("kind") if isinstance(given, Mapping) else given
        choices = list(_SOURCE_KINDS)
    else:
        # The message lists them (`Input should be 'a', 'b' or 'c'`); a rebuilt error has no ctx.
        choices = re.findall(r"'([^']*)'", error["msg"])
    near = difflib.get_close_matches(str(given), choices, n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    return f"got {given!r}; expected one of {_listed(choices)}{hint}"


def _duplicate_keys(
    node: yaml.Node | None, path: Path, loc: tuple[str | int, ...] = ()
) -> list[str]:
    """One problem per key given twice in one mapping of the document, each naming the line
    and the key path: YAML lets the last win, which would drop the first's value (a dataset's
    checks, say) without a word."""
    problems: list[str] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            line = key_node.start_mark.line + 1
            key = str(key_node.value)
            if key in seen:
                lines = f"lines {seen[key]} and {line}" if seen[key] != line else "both on it"
                problems.append(
                    f"{path}: line {line}: key `{key_path((*loc, key))}` is given twice "
                    f"({lines}; YAML keeps only the last): keep one"
                )
            else:
                seen[key] = line
            problems += _duplicate_keys(value_node, path, (*loc, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems += _duplicate_keys(item, path, (*loc, i))
    return problems


#: The tag of YAML's merge key (`<<`), which may repeat to merge several mappings.
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _document(text: str, path: Path) -> tuple[Any, list[str]]:
    """The YAML document in `text` and the keys it gives twice (see `_duplicate_keys`);
    InvalidInput naming the line, the column and the problem when it is not valid YAML."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        raw = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}: "
        what = exc.problem or exc.context or "unreadable"
        raise InvalidInput(
            f"{path}: {where}not valid YAML ({what}); fix the syntax there"
        ) from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML ({exc}); fix the syntax there") from None
    finally:
        loader.dispose()
    return raw, _duplicate_keys(node, path)


def load(path: Path, home: Path | None = None) -> DatasetConfig:
    """Read and validate one `defs.yaml` (a drop folder inside `home` when given): every
    problem of the file at once, a key given twice among them."""
    raw, duplicates = _document(path.read_text(encoding="utf-8"), path)
    try:
        config = parse(raw, path, home)
    except InvalidInput as exc:
        raise InvalidInput("\n".join([*duplicates, str(exc)])) from None
    if duplicates:
        raise InvalidInput("\n".join(duplicates))
    return config


def dataset_files(folder: Path) -> list[Path]:
    """Every dataset file under a `defs/` folder (`<dataset>/defs.yaml`, or `defs.yml` as
    loose files may be spelled too), in name order."""
    return sorted([*folder.glob(f"*/{DEFS_FILE}"), *folder.glob("*/defs.yml")])
