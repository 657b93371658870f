"""Catalog entries of the trust layer's tables: certification transitions and revisions."""

from __future__ import annotations

from datetime import date

from market_spine.catalog.vocabulary import DatasetFamily, SchemaChange
from market_spine.certification.tables import (
    ANOMALY_FLAGS,
    ANOMALY_FLAGS_SCHEMA,
    CERTIFICATIONS,
    CERTIFICATIONS_SCHEMA,
    READINESS_LOG,
    READINESS_LOG_SCHEMA,
    REVISION_ROWS,
    REVISION_ROWS_SCHEMA,
    REVISIONS,
    REVISIONS_SCHEMA,
)

WRITTEN_BY = "the futures and options assets, as they certify the partitions they write"

_COLUMNS: dict[str, str] = {
    "dataset": "The certified dataset, e.g. normalized/futures_bars_1m.",
    "partition": "The Dagster partition key: `2024-03-05|CL` (date × symbol) or `2024-03-05`.",
    "trade_date": "The partition's trade date.",
    "symbol": "The partition's symbol (futures root); null for partitions of a whole day.",
    "state": "The new certification: preliminary, certified, revised, failed, or expired "
    "(retention deleted its rows).",
    "previous_state": "The certification before this transition; null on the first.",
    "reason": "Why, in words: the check that failed, the capture and final times, a change.",
    "capture_id": "ULID of the newest capture behind the partition's rows.",
    "captured_at": "When that capture saw the market (UTC): the capture time, or the market "
    "clock of a replay at an earlier instant.",
    "final_at": "When the partition's data became final (UTC): the futures session close, "
    "17:15 ET for option EOD chains.",
    "run_id": "The Dagster run that wrote the partition.",
    "code_version": "The market-spine version that judged it.",
    "delta_version": "The dataset's Delta version holding the judged rows.",
    "checks_json": "Each check's verdict on the partition (passed, blocking, certifying), as JSON.",
    "recorded_at": "When the row was recorded (UTC).",
    "revision_id": "ULID of the revision.",
    "rows_added": "Rows the new capture has and the old one did not (by the dataset's key).",
    "rows_removed": "Rows the old capture had and the new one does not.",
    "rows_changed": "Rows present in both whose values differ in at least one column.",
    "columns": "The columns that changed, comma-separated.",
    "column_changes_json": "Per changed column: rows changed, largest absolute and relative "
    "change (numeric columns), as JSON.",
    "old_version": "The dataset's Delta version before the replacement.",
    "new_version": "The dataset's Delta version after it.",
    "old_capture_id": "The newest capture behind the replaced rows.",
    "new_capture_id": "The newest capture behind the new rows.",
    "change": "added, removed or changed.",
    "key_json": "The row's key values (the dataset's key columns) as JSON.",
    "column": "The changed column; null for an added or removed row.",
    "old_value": "The old value as text (the whole row as JSON for a removed row).",
    "new_value": "The new value as text (the whole row as JSON for an added row).",
    "abs_change": "|new − old| for a numeric column (its direction: rel_change), else null.",
    "rel_change": "(new − old) / |old| for a numeric column with old ≠ 0, else null.",
    "unit": "What expected, present and missing count: minutes (futures bars) or expirations "
    "(option chains, per root).",
    "expected": "What the calendar owes the partition: session minutes, or listed expirations.",
    "present": "What the partition holds of them: bar minutes, or expirations with quotes.",
    "missing": "Owed and absent with nothing to explain it: minutes in runs the neighbouring "
    "activity does not explain, or expirations without quotes.",
    "no_trade": "Absent without being lost: futures minutes the neighbouring activity explains "
    "as no trade; option contracts listed with no volume that day.",
    "anomalies": "Rows the anomaly checks flagged (see operations/anomaly_flags).",
    "worst_anomaly_score": "The highest flag score (1 = at its check's threshold); null without "
    "flags.",
    "worst_anomaly_kind": "The kind of the worst flag, e.g. return_outlier, crossed_quote.",
    "computed_at": "When the partition was last computed and judged (UTC).",
    "check_name": "The asset check that flagged the row.",
    "instrument": "The flagged row's instrument: the futures root, or the option's OSI symbol.",
    "ts": "The flagged row's time (the bar's open, UTC); null for end-of-day rows.",
    "kind": "What is odd about it: return_outlier, crossed_quote, locked_quote, "
    "call_spread_arbitrage or butterfly_arbitrage.",
    "score": "How far past its check's threshold (1 = at it; a return z-score of 24 is 2).",
    "value": "The measure behind the score: the return's robust z-score, bid − ask, or the "
    "arbitrage's credit in index points.",
}

_TRUST = DatasetFamily(
    owner="team:platform",
    partitioning="none (append-only)",
    glossary=_COLUMNS,
    history=(SchemaChange(1, date(2026, 11, 30), "first version"),),
)

CERTIFICATIONS_SPEC = _TRUST.dataset(
    CERTIFICATIONS,
    CERTIFICATIONS_SCHEMA,
    description=(
        "Every transition of a partition's certification (preliminary, certified, revised, "
        "failed) with its reason, capture, run, code version, Delta version and checks."
    ),
    grain="one row per transition of a dataset partition",
    written_by=WRITTEN_BY,
)
REVISIONS_SPEC = _TRUST.dataset(
    REVISIONS,
    REVISIONS_SCHEMA,
    description=(
        "Every replacement of a partition whose data differed from what it replaced: rows "
        "added, removed and changed, the columns and their largest changes, old and new Delta "
        "versions and captures, from a keyed diff of the two snapshots. The diff compares the "
        "revision values only: every column but the keys, provenance and the values each "
        "source derives its own way (a minute bar's vwap and trade count), exactly; a "
        "replacement that differs only in those is no revision."
    ),
    grain="one row per revision of a dataset partition",
    written_by=WRITTEN_BY,
)
REVISION_ROWS_SPEC = _TRUST.dataset(
    REVISION_ROWS,
    REVISION_ROWS_SCHEMA,
    description="The rows behind each revision: added and removed rows, and changed values.",
    grain="one row per added or removed row, or per changed value",
    written_by=WRITTEN_BY,
)
_PARTITION_SYMBOL = {
    "symbol": "The partition's symbol: the futures root, a continuous series (ES.c.1, judged "
    "apart from its root's others), or the option root (SPX, SPXW) of a day's chain.",
    "capture_id": "ULID of the newest capture behind the judged rows.",
    "run_id": "The Dagster run that computed the partition.",
}
READINESS_LOG_SPEC = _TRUST.dataset(
    READINESS_LOG,
    READINESS_LOG_SCHEMA,
    description=(
        "Every judgment of a partition as readiness sees it: certification, completeness, "
        "anomalies, capture and compute time; readiness is the newest row per partition and "
        "symbol (the SQL view `readiness`)."
    ),
    grain="one row per computation of a dataset partition and symbol",
    glossary={
        **_PARTITION_SYMBOL,
        "instrument": "The contract the row's counts are of: a futures partition's accepted "
        "contract, the contract a continuous series holds that day; null otherwise.",
    },
    written_by=WRITTEN_BY,
)
ANOMALY_FLAGS_SPEC = _TRUST.dataset(
    ANOMALY_FLAGS,
    ANOMALY_FLAGS_SCHEMA,
    description=(
        "Every row an anomaly check flagged, beside the data: join on trade date and instrument "
        "(and ts for minute bars); the capture id tells which capture it was found in."
    ),
    grain="one row per flagged data row, check and computation",
    glossary={**_PARTITION_SYMBOL, "capture_id": "ULID of the capture the flagged row came from."},
    written_by=WRITTEN_BY,
)
CERTIFICATION_DATASETS = (
    CERTIFICATIONS_SPEC,
    REVISIONS_SPEC,
    REVISION_ROWS_SPEC,
    READINESS_LOG_SPEC,
    ANOMALY_FLAGS_SPEC,
)
