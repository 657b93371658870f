"""The data-quality rules a company dataset declares, as pure functions: a partition's silver
rows (the current version of each key), its previous row count and the clock in, one outcome
out. Each outcome names its severity and the owner its finding is routed to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from market_spine.check_kit import CheckDef, CheckOutcome
from market_spine.company.config import Check, DatasetConfig
from market_spine.company.tables import IS_CURRENT

#: Offending values shown in a failed check's metadata.
SHOWN = 5


@dataclass(frozen=True)
class Subject:
    """What a check judges: the partition's silver rows, the row count the partition had
    before this run (None: first load), now (UTC) and the raw rows behind them."""

    rows: pl.DataFrame
    previous_rows: int | None
    now: datetime
    #: The raw captured rows the partition was built from, before deduplication (None: none).
    captured: pl.DataFrame | None = None

    @property
    def current(self) -> pl.DataFrame:
        """The rows in force: a dimension's current versions, every row of a fact."""
        if IS_CURRENT in self.rows.columns:
            return self.rows.filter(pl.col(IS_CURRENT))
        return self.rows


def _outcome(check: Check, owner: str, bad: int, detail: dict[str, object]) -> CheckOutcome:
    metadata = {"severity": check.severity, "owner": check.owner or owner, "failing": bad}
    return CheckOutcome(bad == 0, {**metadata, **detail}, warn_only=check.severity == "warn")


def _shown(values: pl.Series, config: DatasetConfig) -> str:
    # Check metadata reaches the warehouse and the alerts, which no PII scope guards.
    if values.name in config.pii:
        return f"withheld: {values.name} is a pii column (read the rows with a pii-scoped key)"
    return ", ".join(str(v) for v in values.head(SHOWN).to_list())


def _conflicting(
    config: DatasetConfig, keys: list[str], captured: pl.DataFrame | None
) -> pl.DataFrame:
    """The keys one capture holds more than once with different values: deduplication would
    keep one of them silently. Rows repeated identically are one record sent twice."""
    if captured is None or captured.height == 0 or "capture_id" not in captured.columns:
        return pl.DataFrame(schema={k: pl.String for k in keys})
    values = [c for c in config.dtypes if c in captured.columns]
    per_key = captured.group_by(["capture_id", *keys]).agg(
        pl.struct(values).n_unique().alias("versions")
    )
    return per_key.filter(pl.col("versions") > 1).select(keys).unique().sort(keys)


def _shown_keys(conflicting: pl.DataFrame, config: DatasetConfig) -> str:
    # The keys reach check metadata, which no PII scope guards.
    secret = [k for k in conflicting.columns if k in config.pii]
    if secret:
        return (
            f"withheld: {', '.join(secret)} is a pii column (read the rows with a pii-scoped key)"
        )
    return "; ".join(
        ", ".join(f"{k}={v}" for k, v in row.items()) for row in conflicting.head(SHOWN).to_dicts()
    )


def evaluate(check: Check, config: DatasetConfig, subject: Subject) -> CheckOutcome:
    """One rule's verdict on one partition."""
    rows = subject.current
    owner = config.owner
    if check.kind == "not_null":
        bad = rows[check.column].null_count()
        return _outcome(check, owner, bad, {})
    if check.kind == "unique":
        keys = check.columns or ([check.column] if check.column else config.keys)
        dupes = rows.filter(pl.struct(keys).is_duplicated())
        conflicting = _conflicting(config, keys, subject.captured)
        detail: dict[str, object] = {"columns": ", ".join(keys)}
        if conflicting.height:
            detail["conflicting_keys"] = _shown_keys(conflicting, config)
        return _outcome(check, owner, dupes.height + conflicting.height, detail)
    if check.kind == "accepted_values":
        column = rows[check.column]
        # Typed as the column, so `values: [1, 2]` compares with a float column's 1.0 and 2.0.
        accepted = pl.Series(check.values or [], dtype=column.dtype).implode()
        bad_values = column.filter(~column.is_in(accepted) & column.is_not_null())
        return _outcome(
            check, owner, bad_values.len(), {"examples": _shown(bad_values.unique().sort(), config)}
        )
    if check.kind == "range":
        column = rows[check.column].cast(pl.Float64)
        # NaN compares false with any bound and inf passes a one-sided one: neither is a
        # measurement, so a non-finite value is outside every range (nulls are not_null's).
        outside = (~column.is_finite()).fill_null(False)
        if check.min is not None:
            outside |= (column < check.min).fill_null(False)
        if check.max is not None:
            outside |= (column > check.max).fill_null(False)
        return _outcome(
            check, owner, int(outside.sum()), {"examples": _shown(column.filter(outside), config)}
        )
    if check.kind == "row_count":
        before, now = subject.previous_rows, rows.height
        if not before:
            return _outcome(check, owner, 0, {"rows": now, "previous_rows": before})
        change = abs(now - before) / before
        bad = int(change > (check.max_change or 0))
        return _outcome(check, owner, bad, {"rows": now, "previous_rows": before})
    newest = subject.rows["captured_at"].max() if subject.rows.height else None
    age = None if newest is None else subject.now - newest
    limit = timedelta(hours=check.max_age_hours or 0)
    late = age is None or age > limit
    hours = None if age is None else round(age.total_seconds() / 3600, 2)
    return _outcome(check, owner, int(late), {"age_hours": hours})


def check_defs(config: DatasetConfig) -> tuple[CheckDef[Subject], ...]:
    """The dataset's checks as the platform's check declarations; `error` ones block."""
    return tuple(
        CheckDef(
            check.name,
            f"{check.kind} ({check.severity}, owner {check.owner or config.owner})",
            lambda subject, check=check: evaluate(check, config, subject),
            blocking=check.severity == "error",
        )
        for check in config.checks
    )
