"""`market-spine quality [--since] [--until] [--dataset] [--json]`: each dataset's data-quality
score over a period (the share of its checks that passed, weighted by severity) with its trend
against the previous period, the scores per day, and the findings to act on.

Exit status: 0 when the report was made (findings or not), 2 when it could not be.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from market_spine.cli.console import command_run, console, settings_from_env


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _trend(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) < 5e-4:
        return "= 0.0"
    return f"{'▲' if value > 0 else '▼'} {value * 100:+.1f}"


def quality(
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="First trade date of the period: 2024-03-01, or 7d for a week back from today. "
            "Default: the week ending on the newest day with check verdicts.",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Last day of the period (a date, or 0d for today). Default: the newest day "
            "with check verdicts.",
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="One dataset, e.g. normalized/futures_bars_1m."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Data-quality scores per dataset and day, their trend, and the open findings."""
    from market_spine.errors import SpineError
    from market_spine.home import existing_instance
    from market_spine.operations.quality_scores import (
        WEIGHTS,
        latest_verdicts,
        parse_day,
        quality_report,
        summary,
    )

    with command_run():
        settings = settings_from_env()
        today = datetime.now(UTC).date()
        start = parse_day(since, today) if since else None
        end = parse_day(until, today, "--until") if until else None
        instance = existing_instance(settings)
        if instance is None:
            raise SpineError(
                f"{settings.home} has no Dagster instance yet: run `market-spine up` or "
                "`market-spine process` first"
            )
        with instance:
            report = quality_report(latest_verdicts(instance), start, end, dataset)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
        return
    weights = ", ".join(f"{k} {v}" for k, v in WEIGHTS.items())
    console.print(f"quality {report.start}..{report.end} (weights: {weights})", highlight=False)
    if not report.datasets:
        console.print("no check verdicts in this period")
        return
    width = max(len(d.dataset) for d in report.datasets)
    typer.echo(f"{'dataset':<{width}}  {'score':>7}  {'before':>7}  {'trend':>7}  findings")
    for d in report.datasets:
        counts = " ".join(f"{n} {s}" for s, n in d.findings.items() if n) or "none"
        typer.echo(
            f"{d.dataset:<{width}}  {_pct(d.score):>7}  {_pct(d.previous):>7}  "
            f"{_trend(d.trend):>7}  {counts}"
        )
    typer.echo("")
    for day in report.days:
        failed = f"{day.failed} of {day.verdicts} failed" if day.failed else f"{day.verdicts} ok"
        typer.echo(
            f"{day.dataset:<{width}}  {day.day}  {_pct(day.score):>7}  {_trend(day.change):>7}  "
            f"{failed}"
        )
    if report.findings:
        typer.echo("")
    for f in report.findings:
        where = f" {f.partition}" if f.partition else f" {f.day}"
        typer.echo(f"{f.severity.upper():<8} {f.dataset}:{f.check}{where}  {summary(f)}")
