"""Data-quality scores: for each dataset and day, the share of its latest check verdicts that
passed, weighted by severity, with the findings (the failed verdicts) and the trend against the
previous period of the same length.

The verdicts are the asset-check evaluations in the home's Dagster instance (what the UI shows;
`quality/check_results` in the lake is a copy collected hourly). Only the newest evaluation of
each check and partition counts, so a re-run that fixed a partition clears its finding. A
verdict's day is its partition's trade date (`2024-03-05|CL` → 2024-03-05), or the UTC day it
was evaluated for an unpartitioned check (the freshness SLA, dbt tests).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
from dagster import DagsterEventType, EventRecordsFilter

from market_spine.check_kit import is_finding
from market_spine.errors import InvalidInput, NoSuchDate

#: How much a verdict weighs in a score: a blocking check (its failure stops downstream assets)
#: more than an error, an error more than a failure judged minor (a warning).
WEIGHTS = {"blocking": 3, "error": 2, "warning": 1}
#: The period shown when no start is given: the week ending on the newest day with verdicts.
DEFAULT_DAYS = 7
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")
_RELATIVE = re.compile(r"^(\d+)d$")


@dataclass(frozen=True)
class Verdict:
    """The newest evaluation of one check on one partition ("" when unpartitioned)."""

    dataset: str
    check: str
    partition: str
    day: date
    passed: bool
    severity: str
    evaluated_at: datetime
    run_id: str
    metadata: dict[str, Any]

    @property
    def weight(self) -> int:
        return WEIGHTS[self.severity]


@dataclass(frozen=True)
class DayScore:
    """A dataset's score on one day (0..1), its verdicts and failures, and the change against
    the dataset's previous day with verdicts (None on its first)."""

    dataset: str
    day: date
    score: float
    verdicts: int
    failed: int
    change: float | None


@dataclass(frozen=True)
class DatasetScore:
    """A dataset's score over the period and the previous period (None without verdicts then),
    the trend (score minus previous), and its findings by severity."""

    dataset: str
    score: float
    previous: float | None
    trend: float | None
    findings: dict[str, int]


@dataclass(frozen=True)
class QualityReport:
    """Scores of every dataset over [start, end] (trade dates), per day and overall, and the
    failed verdicts of the period, most severe and newest first."""

    start: date
    end: date
    datasets: list[DatasetScore]
    days: list[DayScore]
    findings: list[Verdict]

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "weights": WEIGHTS,
            "datasets": [vars(d) for d in self.datasets],
            "days": [{**vars(d), "day": d.day.isoformat()} for d in self.days],
            "findings": [
                {
                    **vars(f),
                    "day": f.day.isoformat(),
                    "evaluated_at": f.evaluated_at.isoformat(),
                }
                for f in self.findings
            ],
        }


def severity_of(evaluation: dg.AssetCheckEvaluation) -> str:
    """`blocking`, `error` or `warning`: a blocking check is blocking whatever its verdict; a
    failure the check judged minor (severity WARN) is a warning; anything else an error."""
    if evaluation.blocking:
        return "blocking"
    minor = evaluation.severity == dg.AssetCheckSeverity.WARN
    return "warning" if minor and not evaluation.passed else "error"


def latest_verdicts(instance: dg.DagsterInstance) -> list[Verdict]:
    """The newest evaluation of every check and partition recorded in `instance`."""
    records = instance.get_event_records(
        EventRecordsFilter(DagsterEventType.ASSET_CHECK_EVALUATION), ascending=True
    )
    newest: dict[tuple[str, str, str], Verdict] = {}
    for record in records:
        entry = record.event_log_entry
        evaluation: dg.AssetCheckEvaluation = entry.dagster_event.event_specific_data
        if not is_finding(evaluation.check_name):
            continue
        at = datetime.fromtimestamp(entry.timestamp, UTC)
        partition = evaluation.partition or ""
        found = _DATE.match(partition)
        verdict = Verdict(
            dataset=evaluation.asset_key.to_user_string(),
            check=evaluation.check_name,
            partition=partition,
            day=date.fromisoformat(found.group(1)) if found else at.date(),
            passed=evaluation.passed,
            severity=severity_of(evaluation),
            evaluated_at=at,
            run_id=entry.run_id,
            metadata={k: v.value for k, v in evaluation.metadata.items()},
        )
        newest[(verdict.dataset, verdict.check, partition)] = verdict
    return list(newest.values())


def score(verdicts: Iterable[Verdict]) -> float | None:
    """The weighted share of `verdicts` that passed (None when there are none)."""
    total = passed = 0
    for v in verdicts:
        total += v.weight
        passed += v.weight if v.passed else 0
    return passed / total if total else None


def parse_day(value: str, today: date, option: str = "--since") -> date:
    """A period's first or last day: an ISO date (`2024-03-01`) or a number of days back
    (`7d`, `0d` for today)."""
    from market_spine.markets.dates import parse_date

    relative = _RELATIVE.match(value.strip())
    if relative:
        return today - timedelta(days=int(relative.group(1)))
    try:
        return parse_date(value.strip(), option)
    except NoSuchDate:
        raise
    except InvalidInput:
        raise InvalidInput(
            f"{option} {value!r} is not a date or a number of days; give e.g. 2024-03-01 or 7d"
        ) from None


def quality_report(
    verdicts: Sequence[Verdict],
    start: date | None = None,
    end: date | None = None,
    dataset: str | None = None,
) -> QualityReport:
    """Scores and findings of `verdicts` over [start, end]: `end` defaults to the newest day
    with verdicts, `start` to DEFAULT_DAYS days before `end`; for one `dataset` (its key, e.g.
    normalized/futures_bars_1m) or all. An unknown dataset or an empty period raise
    InvalidInput naming the fix."""
    if dataset is not None:
        known = sorted({v.dataset for v in verdicts})
        if dataset not in known:
            raise InvalidInput(
                f"no check verdicts for dataset {dataset!r}; datasets with verdicts: "
                f"{', '.join(known) or 'none (materialize something first)'}"
            )
        verdicts = [v for v in verdicts if v.dataset == dataset]
    if end is None:
        newest = max((v.day for v in verdicts), default=None)
        end = max(newest, start) if newest and start else newest or start
        end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if end < start:
        raise InvalidInput(f"the period ends ({end}) before it starts ({start}): swap them")
    before = start - (end - start) - timedelta(days=1)
    by_dataset: dict[str, list[Verdict]] = defaultdict(list)
    for v in verdicts:
        by_dataset[v.dataset].append(v)
    datasets, days, findings = [], [], []
    for name in sorted(by_dataset):
        current = [v for v in by_dataset[name] if start <= v.day <= end]
        if not current:
            continue
        previous = score(v for v in by_dataset[name] if before <= v.day < start)
        now = score(current)
        assert now is not None  # current is not empty
        failed = [v for v in current if not v.passed]
        datasets.append(
            DatasetScore(
                dataset=name,
                score=now,
                previous=previous,
                trend=None if previous is None else now - previous,
                findings={s: sum(v.severity == s for v in failed) for s in WEIGHTS},
            )
        )
        days.extend(_days(name, by_dataset[name], start, end))
        findings.extend(failed)
    findings.sort(key=lambda v: (-v.weight, -v.day.toordinal(), v.dataset, v.check, v.partition))
    return QualityReport(start, end, datasets, days, findings)


def _days(name: str, verdicts: list[Verdict], start: date, end: date) -> list[DayScore]:
    """A dataset's score per day in [start, end], each against its previous day with verdicts
    (which may lie before `start`)."""
    per_day: dict[date, list[Verdict]] = defaultdict(list)
    for v in verdicts:
        if v.day <= end:
            per_day[v.day].append(v)
    out, last = [], None
    for day in sorted(per_day):
        day_score = score(per_day[day])
        assert day_score is not None
        if day >= start:
            failed = sum(not v.passed for v in per_day[day])
            change = None if last is None else day_score - last
            out.append(DayScore(name, day, day_score, len(per_day[day]), failed, change))
        last = day_score
    return out


def summary(verdict: Verdict, width: int = 120) -> str:
    """A finding's metadata on one line, cut at `width` characters."""
    text = json.dumps(verdict.metadata, default=str, sort_keys=True)
    return text if len(text) <= width else text[: width - 1] + "…"
