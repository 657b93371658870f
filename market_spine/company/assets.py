"""The Dagster assets of one company dataset: the capture (new source rows appended to the raw
table with their provenance) and the silver table (rebuilt per partition from every capture,
judged by the declared checks and certified like market data)."""

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import polars as pl
from ulid import ULID

from market_spine.catalog.dagster_metadata import catalog_metadata, dataset_asset
from market_spine.catalog.vocabulary import DatasetSpec
from market_spine.certification.certify import (
    Before,
    Judged,
    Partition,
    capture_time,
    certify,
    newest_capture,
    selected_checks,
    with_certified,
)
from market_spine.certification.readiness import Completeness
from market_spine.check_kit import (
    CERTIFIED_CHECK,
    CheckOutcome,
    check_result,
    judge,
    partition_checks,
)
from market_spine.company import checks as rules
from market_spine.company.captures import captured_payloads
from market_spine.company.captures import record as record_captures
from market_spine.company.catalog import dataset_specs
from market_spine.company.config import DatasetConfig, FilesSource, HttpSource, PostgresSource
from market_spine.company.http_source import fetch_http
from market_spine.company.partitions import business_days
from market_spine.company.retention import past_retention_note, within_retention
from market_spine.company.sources import (
    BLANK_LINES,
    Fetched,
    blank_lines_note,
    fetch_files,
    fetch_postgres,
)
from market_spine.company.tables import (
    BUSINESS_DATE,
    VALID_FROM,
    WHOLE_TABLE,
    raw_table,
    silver_rows,
    silver_schema,
    silver_table,
    with_business_date,
)
from market_spine.lake.capture import with_provenance
from market_spine.lake.resource import LakeResource
from market_spine.lake.store import Lake

GROUP = "company"
DAY_COLUMNS = (BUSINESS_DATE,)
#: A capture's metadata: rows left out as already past the dataset's retention, and the
#: sentence saying so (present only when some were), which `process` prints.
PAST_RETENTION = "rows_past_retention"
LEFT_OUT = "left_out"
#: The partition key of an unpartitioned table that holds no capture yet.
NO_CAPTURE = "no-capture"


def fetch(config: DatasetConfig, folder: Path, lake: Lake) -> list[Fetched]:
    """What the source holds that no capture has yet: files by their hash, PostgreSQL rows
    from the newest captured cursor value on (less those already captured there), the whole
    HTTP API."""
    source = config.source
    raw = raw_table(config)
    if isinstance(source, FilesSource):
        captured = captured_payloads(lake, config)
        if lake.exists(raw):
            captured |= set(lake.read(raw, columns=["payload_sha256"])["payload_sha256"])
        return fetch_files(config, source, folder, captured)
    if isinstance(source, PostgresSource):
        cursor = at_cursor = None
        if lake.exists(raw):
            cursor, at_cursor = captured_cursor(lake, config, source)
        return fetch_postgres(config, source, cursor, at_cursor)
    assert isinstance(source, HttpSource)
    with httpx.Client(timeout=30) as client:
        return fetch_http(config, source, client)


def captured_cursor(
    lake: Lake, config: DatasetConfig, source: PostgresSource
) -> tuple[Any, pl.DataFrame | None]:
    """The newest cursor value the raw table holds and its rows there (declared columns):
    the cursor column alone is read to find the value, then only the rows at it, which the
    file statistics prune to a few files, so a capture's cost does not grow with the table."""
    raw = raw_table(config)
    cursor = lake.read(raw, columns=[source.cursor])[source.cursor].max()
    if cursor is None:
        return None, None
    return cursor, lake.read(raw, equals={source.cursor: cursor}, columns=list(config.dtypes))


def capture(config: DatasetConfig, folder: Path, lake: Lake, run_id: str) -> dict[str, Any]:
    """Append every new capture of the source to the raw table (one commit each), leaving out
    the rows of a daily dataset already past its retention, and record each capture in the
    ledger; the counts, with the rows left out and why (`LEFT_OUT`) when there were any."""
    raw = raw_table(config)
    rows = past = 0
    found = fetch(config, folder, lake)
    ledger: list[dict[str, object]] = []
    for fetched in found:
        captured_at = datetime.now(UTC)
        frame = with_provenance(
            with_business_date(config, fetched.rows),
            fetched.source,
            fetched.request,
            fetched.payload,
            captured_at,
        )
        capture_id = (
            frame["capture_id"][0] if frame.height else str(ULID.from_datetime(captured_at))
        )
        kept = within_retention(config, frame, captured_at)
        past += frame.height - kept.height
        frame = kept
        ledger.append(
            {
                "dataset": config.name,
                "capture_id": capture_id,
                "captured_at": captured_at,
                "source": fetched.source,
                "payload_sha256": hashlib.sha256(fetched.payload).hexdigest(),
                "rows": frame.height,
            }
        )
        if frame.height:
            lake.append(
                raw,
                frame,
                metadata={"capture_id": frame["capture_id"][0], "run_id": run_id},
            )
        rows += frame.height
    record_captures(lake, ledger, run_id)
    counts: dict[str, Any] = {"captures": len(found), "rows": rows, PAST_RETENTION: past}
    notes = []
    if past:
        notes.append(past_retention_note(config, past, rows, datetime.now(UTC)))
    blank = {f.request["file"]: f.request[BLANK_LINES] for f in found if BLANK_LINES in f.request}
    if blank:
        notes.append(blank_lines_note(blank))
    if notes:
        counts[LEFT_OUT] = " ".join(notes)
    return counts


def final_at(day: Any) -> datetime:
    """A business day's rows are final once the day is over (UTC)."""
    return datetime.combine(day, time(), UTC) + timedelta(days=1)


def rebuild(
    config: DatasetConfig, lake: Lake, day: Any | None, run_id: str
) -> tuple[pl.DataFrame, int | None, pl.DataFrame | None]:
    """Replace one partition of the silver table (`day`, or the whole table) from its raw
    captures; the new rows, the row count it held before (None: first write) and the raw
    rows they were built from (None: no capture), which checks judge before deduplication."""
    raw, silver = raw_table(config), silver_table(config)
    schema = silver_schema(config)
    equals = {BUSINESS_DATE: day} if day is not None else None
    between = None if day is not None else {"captured_at": WHOLE_TABLE}
    source = lake.read(raw, equals=equals, between=between) if lake.exists(raw) else None
    if source is None or source.height == 0:
        rows = pl.DataFrame(schema=schema)
    else:
        rows = silver_rows(config, source).select(pl.col(n).cast(t) for n, t in schema.items())
    before = None
    if lake.exists(silver):
        before = lake.read(silver, equals=equals, between=between, columns=["capture_id"]).height
    lake.replace(
        silver,
        rows,
        equals=equals,
        between=between,
        metadata={"run_id": run_id},
    )
    return rows, before, source


def row_count(rows: pl.DataFrame) -> Completeness:
    """A company partition's completeness: the rows it holds (nothing is owed by a calendar,
    so there is no expected count and no completeness share)."""
    return Completeness(None, unit="rows", present=rows.height)


def capture_partition(rows: pl.DataFrame, now: datetime) -> Partition:
    """What certification judges of an unpartitioned table: the table as of its newest
    capture. Its key is that capture's id, so each capture is judged once (certified when every
    error-severity check passed, failed otherwise); its trade date is the capture's UTC date
    and its data is final when captured (a snapshot of the source). Without rows, `now`."""
    capture = newest_capture(rows)
    captured_at = min(capture_time(capture, now), now)
    return Partition(capture or NO_CAPTURE, captured_at.date(), None, (), captured_at)


def owned(
    verdicts: Mapping[str, Mapping[str, CheckOutcome]], owner: str
) -> dict[str, dict[str, CheckOutcome]]:
    """Each partition's verdicts with the `certified` one naming the dataset's `owner`, as the
    declared checks' do, so its findings are routed and reported like theirs."""
    return {
        key: {
            name: replace(outcome, metadata={**outcome.metadata, "owner": owner})
            if name == CERTIFIED_CHECK
            else outcome
            for name, outcome in by_check.items()
        }
        for key, by_check in verdicts.items()
    }


def whole_table_spec(config: DatasetConfig, spec: DatasetSpec) -> DatasetSpec:
    """The silver entry as certification diffs it: a dimension holds one row per version of a
    key, so a version is told apart by its key and when it became true."""
    if config.kind != "dimension":
        return spec
    return replace(spec, keys=(*spec.keys, VALID_FROM))


def build_assets(config: DatasetConfig, folder: Path) -> dg.Definitions:
    """The capture and silver assets of one declared dataset, with its checks."""
    raw_spec, silver_spec = dataset_specs(config)
    checks = rules.check_defs(config)
    raw_key = dg.AssetKey(raw_spec.asset_path)
    silver_key = dg.AssetKey(silver_spec.asset_path)

    @dg.asset(
        key=raw_key,
        group_name=GROUP,
        kinds={"delta", "polars"},
        owners=[config.owner],
        description=raw_spec.description,
        metadata=catalog_metadata(raw_spec),
    )
    def capture_asset(
        context: dg.AssetExecutionContext, lake: LakeResource
    ) -> dg.MaterializeResult:
        counts = capture(config, folder, lake.lake, context.run.run_id)
        return dg.MaterializeResult(metadata=counts)

    if config.partitioning.kind == "daily":
        days = business_days(config)

        @dataset_asset(silver_spec, with_certified(checks), days, group_name=GROUP)
        def silver_daily(
            context: dg.AssetExecutionContext, lake: LakeResource
        ) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
            store = lake.lake
            now = datetime.now(UTC)
            dates = [datetime.fromisoformat(k).date() for k in context.partition_keys]
            before_rows = (
                store.read(silver_spec.name, between={BUSINESS_DATE: (min(dates), max(dates))})
                if store.exists(silver_spec.name)
                else pl.DataFrame()
            )
            before = Before(before_rows, store.version(silver_spec.name))
            written, verdicts = [], {}
            for day in dates:
                rows, previous, source = rebuild(config, store, day, context.run.run_id)
                written.append(rows)
                subject = rules.Subject(rows, previous, now, source)
                verdicts[day.isoformat()] = judge(checks, subject)
            partitions = [Partition(d.isoformat(), d, None, (d,), final_at(d)) for d in dates]
            judged = Judged(checks, verdicts, selected_checks(context, silver_key))
            all_rows = pl.concat(written)
            certified = certify(
                store,
                silver_spec,
                context.run.run_id,
                partitions,
                DAY_COLUMNS,
                before,
                all_rows,
                judged,
                now,
                {d.isoformat(): [row_count(r)] for d, r in zip(dates, written, strict=True)},
            )
            yield dg.MaterializeResult(
                metadata={
                    "rows": all_rows.height,
                    "delta_version": store.version(silver_spec.name),
                    **certified.metadata(),
                }
            )
            yield from partition_checks(
                context,
                silver_key,
                with_certified(checks),
                owned(certified.verdicts(verdicts), config.owner),
            )

        return dg.Definitions(assets=[capture_asset, silver_daily])

    @dg.asset(
        key=silver_key,
        deps=[raw_key],
        group_name=GROUP,
        kinds={"delta", "polars"},
        owners=[config.owner],
        description=silver_spec.description,
        metadata=catalog_metadata(silver_spec),
        check_specs=[
            dg.AssetCheckSpec(
                c.name, asset=silver_key, description=c.description, blocking=c.blocking
            )
            for c in with_certified(checks)
        ],
    )
    def silver_whole(
        context: dg.AssetExecutionContext, lake: LakeResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        store = lake.lake
        now = datetime.now(UTC)
        name = silver_spec.name
        before = Before(
            store.read(name) if store.exists(name) else pl.DataFrame(), store.version(name)
        )
        rows, previous, source = rebuild(config, store, None, context.run.run_id)
        verdicts = judge(checks, rules.Subject(rows, previous, now, source))
        partition = capture_partition(rows, now)
        judged = Judged(checks, {partition.key: verdicts}, selected_checks(context, silver_key))
        certified = certify(
            store,
            whole_table_spec(config, silver_spec),
            context.run.run_id,
            [partition],
            (),
            before,
            rows,
            judged,
            now,
            {partition.key: [row_count(rows)]},
        )
        yield dg.MaterializeResult(
            metadata={
                "rows": rows.height,
                "delta_version": store.version(name),
                **certified.metadata(),
            }
        )
        judged_verdicts = owned(certified.verdicts({partition.key: verdicts}), config.owner)[
            partition.key
        ]
        for check_name, outcome in judged_verdicts.items():
            yield check_result(silver_key, check_name, outcome)

    return dg.Definitions(assets=[capture_asset, silver_whole])
