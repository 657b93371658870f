"""`raw/spx_options_quotes_1m`: intraday 1-minute quotes of the nearest SPXW expirations.

Captured one (day, expiration) at a time and committed as it arrives, so a month of quotes
streams through in bounded memory: each commit is one capture with its own id and provenance.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl

from market_spine.catalog.dagster_metadata import dataset_asset
from market_spine.catalog.vocabulary import conform
from market_spine.certification.derived import judge_derived_asset
from market_spine.certification.readiness import Completeness
from market_spine.check_kit import CheckOutcome, judge, partition_checks
from market_spine.lake.capture import with_provenance
from market_spine.lake.resource import LakeResource
from market_spine.lake.store import Lake
from market_spine.markets.expirations import listed_expirations, quote_minutes_expected
from market_spine.options import checks, keys
from market_spine.options.catalog import CERTIFIED_FROM, RAW_QUOTES_SPEC
from market_spine.options.judgment import DAY_COLUMNS, session_days
from market_spine.options.partitions import option_days, run_days
from market_spine.options.schemas import RAW_QUOTES
from market_spine.providers.base import QuoteCapture
from market_spine.providers.resource import MarketDataResource

#: How many of the nearest SPXW expirations (0DTE first) are captured each day.
NEAREST_EXPIRATIONS = 2
ROOT = "SPXW"


@dataclass
class QuoteLanding:
    """What a stream of quote captures left in the lake."""

    rows: int = 0
    captures: int = 0
    versions: list[int] = field(default_factory=list)
    outcomes: dict[date, list[dict[str, CheckOutcome]]] = field(default_factory=dict)
    capture_ids: dict[date, list[str]] = field(default_factory=dict)

    def captured(self) -> pl.DataFrame:
        """The captures landed, one row each: trade_date, capture_id."""
        return pl.DataFrame(
            [(d, c) for d, ids in self.capture_ids.items() for c in ids],
            schema={"trade_date": pl.Date(), "capture_id": pl.String()},
            orient="row",
        )

    def verdicts(self, days: list[date]) -> dict[str, dict[str, CheckOutcome]]:
        """Each day's verdict of every check, its captures' outcomes merged (a day without a
        capture passes: it owed none), by partition key."""
        return {d.isoformat(): merged_verdict(self.outcomes.get(d, [])) for d in days}


def minute_completeness(verdict: Mapping[str, CheckOutcome]) -> list[Completeness]:
    """A day's quote minutes for readiness (SPXW only): owed by the contracts captured, those
    held and those short."""
    counts = verdict["minute_completeness"].metadata
    owed, missing = int(counts.get("expected_minutes", 0)), int(counts.get("missing_minutes", 0))
    return [Completeness(ROOT, "minutes", owed, owed - missing, missing)]


def nearest_expirations(day: date, n: int = NEAREST_EXPIRATIONS) -> list[date]:
    """The `n` nearest SPXW expirations listed on `day`, that day's own (0DTE) included."""
    return listed_expirations(ROOT, day)[:n]


def land_quotes(
    lake: Lake,
    captures: Iterable[QuoteCapture],
    metadata: dict[str, object],
    now: datetime | None = None,
) -> QuoteLanding:
    """Append each capture as its own commit the moment it arrives, checking it on the way;
    only one capture's rows are ever held. `now` decides which minutes a live day owes."""
    landing = QuoteLanding()
    for capture in captures:
        day, stamped = stamp_quotes(capture)
        commit = lake.append(
            keys.table(keys.RAW_QUOTES), stamped, partition_by=["root"], metadata=metadata
        )
        expiration = date.fromisoformat(_iso(capture.request["expiration"]))
        landing.outcomes.setdefault(day, []).append(judge_quotes(stamped, day, expiration, now))
        landing.capture_ids.setdefault(day, []).append(stamped["capture_id"][0])
        landing.rows += stamped.height
        landing.captures += 1
        landing.versions.append(commit.version)
    return landing


def stamp_quotes(capture: QuoteCapture) -> tuple[date, pl.DataFrame]:
    """A quote capture's trade date and its raw rows (provenance stamped, schema conformed)."""
    day = date.fromisoformat(_iso(capture.request["date"]))
    rows = capture.quotes.with_columns(trade_date=pl.lit(day))
    stamped = with_provenance(
        rows, capture.source, capture.request, capture.payload, datetime.now(UTC)
    )
    return day, conform(stamped, RAW_QUOTES)


def judge_quotes(
    stamped: pl.DataFrame, day: date, expiration: date, now: datetime | None = None
) -> dict[str, CheckOutcome]:
    """Every quote check's outcome on one capture of `expiration` on `day`; `now` decides which
    minutes a live day owes."""
    owed = quote_minutes_expected(ROOT, expiration, day, now)
    expected = {(day, expiration): owed} if owed else {}
    return judge(checks.RAW_QUOTES_CHECKS, checks.OptionsDay(day, stamped, expected=expected))


def merged_verdict(outcomes: list[dict[str, CheckOutcome]]) -> dict[str, CheckOutcome]:
    """One day's verdict of every quote check from its captures' outcomes (none owed: passes)."""
    return {c.name: _merged([o[c.name] for o in outcomes]) for c in checks.RAW_QUOTES_CHECKS}


def _iso(value: str) -> str:
    """A request date as ISO (`20240304` or `2024-03-04`)."""
    return value if "-" in value else f"{value[:4]}-{value[4:6]}-{value[6:]}"


def _merged(outcomes: list[CheckOutcome]) -> CheckOutcome:
    """One outcome from many: failed if any failed; counts summed, the first failures' examples."""
    total: dict[str, object] = {"captures": len(outcomes)}
    worst: list = []
    for outcome in outcomes:
        for name, value in outcome.metadata.items():
            if name == "worst":
                worst += list(value)[: checks.WORST - len(worst)]
            elif isinstance(value, int):
                total[name] = int(total.get(name, 0)) + value  # type: ignore[arg-type]
    return CheckOutcome(all(o.passed for o in outcomes), {**total, "worst": worst})


@dataset_asset(
    RAW_QUOTES_SPEC, checks.RAW_QUOTES_CHECKS, option_days, group_name="options", pool="thetadata"
)
def raw_spx_options_quotes_1m(
    context: dg.AssetExecutionContext, lake: LakeResource, market: MarketDataResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
    """Capture each day's nearest expirations, one commit per capture as it arrives, then
    judge each day by its captures (quotes are final at the session's close)."""
    provider = market.quotes()
    days = run_days(context)
    captures = (
        provider.fetch_quotes(ROOT, expiration, day)
        for day in days
        for expiration in nearest_expirations(day)
    )
    meta = {"run_id": context.run.run_id, "source": provider.name}
    landing = land_quotes(lake.lake, captures, meta, market.now())
    verdicts = landing.verdicts(days)
    judged = judge_derived_asset(
        context,
        lake.lake,
        RAW_QUOTES_SPEC.name,
        CERTIFIED_FROM,
        checks.RAW_QUOTES_CHECKS,
        landing.captured(),
        DAY_COLUMNS,
        session_days(days),
        verdicts,
        market.now(),
        lambda _, verdict, __: minute_completeness(verdict),
    )
    yield dg.MaterializeResult(
        metadata={
            "rows": landing.rows,
            "captures": landing.captures,
            "delta_version": landing.versions[-1] if landing.versions else -1,
            **judged.metadata(),
        }
    )
    yield from partition_checks(context, keys.RAW_QUOTES, checks.RAW_QUOTES_CHECKS, verdicts)
