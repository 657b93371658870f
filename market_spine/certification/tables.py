"""The lake tables of the trust layer and their columns, declared once: every certification
transition, every revision, and each revision's changed rows."""

from __future__ import annotations

import polars as pl

CERTIFICATIONS = "operations/certifications"
REVISIONS = "operations/revisions"
REVISION_ROWS = "operations/revision_rows"

_UTC = pl.Datetime("us", "UTC")

#: One row per transition of a partition's certification.
CERTIFICATIONS_SCHEMA: dict[str, pl.DataType] = {
    "dataset": pl.String(),
    "partition": pl.String(),
    "trade_date": pl.Date(),
    "symbol": pl.String(),
    "state": pl.String(),
    "previous_state": pl.String(),
    "reason": pl.String(),
    "capture_id": pl.String(),
    "captured_at": _UTC,
    "final_at": _UTC,
    "run_id": pl.String(),
    "code_version": pl.String(),
    "delta_version": pl.Int64(),
    "checks_json": pl.String(),
    "recorded_at": _UTC,
}

#: One row per replacement of a partition whose data differed from what it replaced.
REVISIONS_SCHEMA: dict[str, pl.DataType] = {
    "revision_id": pl.String(),
    "dataset": pl.String(),
    "partition": pl.String(),
    "trade_date": pl.Date(),
    "symbol": pl.String(),
    "rows_added": pl.Int64(),
    "rows_removed": pl.Int64(),
    "rows_changed": pl.Int64(),
    "columns": pl.String(),
    "column_changes_json": pl.String(),
    "old_version": pl.Int64(),
    "new_version": pl.Int64(),
    "old_capture_id": pl.String(),
    "new_capture_id": pl.String(),
    "run_id": pl.String(),
    "code_version": pl.String(),
    "recorded_at": _UTC,
}

#: A revision's rows as the keyed diff finds them, before they are stamped with its id.
REVISION_DETAIL_SCHEMA: dict[str, pl.DataType] = {
    "change": pl.String(),
    "key_json": pl.String(),
    "column": pl.String(),
    "old_value": pl.String(),
    "new_value": pl.String(),
    "abs_change": pl.Float64(),
    "rel_change": pl.Float64(),
}

#: One row per added or removed row, and per changed value of a changed row.
REVISION_ROWS_SCHEMA: dict[str, pl.DataType] = {
    "revision_id": pl.String(),
    "dataset": pl.String(),
    "trade_date": pl.Date(),
    **REVISION_DETAIL_SCHEMA,
}

READINESS_LOG = "operations/readiness_log"
ANOMALY_FLAGS = "operations/anomaly_flags"

#: One row per judgment of a partition (per symbol of a whole-day partition): what readiness
#: reads, newest per partition, instead of scanning the data.
READINESS_LOG_SCHEMA: dict[str, pl.DataType] = {
    "dataset": pl.String(),
    "partition": pl.String(),
    "trade_date": pl.Date(),
    "symbol": pl.String(),
    "state": pl.String(),
    "unit": pl.String(),
    "expected": pl.Int64(),
    "present": pl.Int64(),
    "missing": pl.Int64(),
    "no_trade": pl.Int64(),
    "anomalies": pl.Int64(),
    "worst_anomaly_score": pl.Float64(),
    "worst_anomaly_kind": pl.String(),
    "capture_id": pl.String(),
    "captured_at": _UTC,
    "final_at": _UTC,
    "computed_at": _UTC,
    "run_id": pl.String(),
    "delta_version": pl.Int64(),
    # Added after the first homes were made: the lake takes it on at their next judgment and
    # their earlier rows read it as null.
    "reason": pl.String(),
    # Added later still, the same way: the contract the counts are of (a futures partition's
    # accepted one, the one a continuous series holds), so a reason can name it.
    "instrument": pl.String(),
}

#: What an anomaly check finds, one row per flagged data row (a CheckOutcome's `flagged`).
FLAG_FINDING_SCHEMA: dict[str, pl.DataType] = {
    "trade_date": pl.Date(),
    "symbol": pl.String(),
    "instrument": pl.String(),
    "ts": _UTC,
    "kind": pl.String(),
    "score": pl.Float64(),
    "value": pl.Float64(),
    "capture_id": pl.String(),
}

#: Every flagged row beside the data: joinable to a dataset's rows on trade date and
#: instrument (and `ts` for minute bars), and to the capture they were found in.
ANOMALY_FLAGS_SCHEMA: dict[str, pl.DataType] = {
    "dataset": pl.String(),
    "partition": pl.String(),
    "check_name": pl.String(),
    **FLAG_FINDING_SCHEMA,
    "run_id": pl.String(),
    "recorded_at": _UTC,
}
