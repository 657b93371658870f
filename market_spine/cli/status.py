"""`market-spine status [--json]`: the morning check on one screen — health of every part, the
last day's failures with their cause and whether a retry is safe, stale datasets, missed
schedule ticks, active runs and open quality findings.

When the home's API is up, the API computes the report (`GET /v1/status`), where Dagster is
loaded and the instance open: the command then loads no Dagster and answers at once. `--local`
computes it here.

Exit status: 0 only when all is green, 1 when anything is red, 2 when the command could not run.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from market_spine.cli.console import (
    brief,
    command_run,
    output_console,
    quiet_libraries,
    settings_from_env,
)

if TYPE_CHECKING:
    from rich.console import Console

    from market_spine.operations.status_report import StatusReport
    from market_spine.settings import Settings

#: The API computes a report in well under a second; past this the command computes its own.
API_TIMEOUT_S = 5.0


def _mark(ok: bool) -> str:
    return "[green]✓[/]" if ok else "[bold red]✗[/]"


def _section(out: Console, title: str, ok: bool, lines: list[str], empty: str) -> None:
    out.print(f"\n{_mark(ok)} [bold]{title}[/]" + ("" if lines else f": {empty}"))
    for line in lines:
        out.print(f"    {line}")


def _over(partitions: str | None, datasets: list[str]) -> str:
    """What a run covers, said as such: `trade dates 2026-11-27..2026-11-30 CL of
    raw/futures_bars_1m, normalized/futures_bars_1m +1` (a bare date beside a run's state would
    read as a time)."""
    names = ", ".join(datasets[:2]) + (f" +{len(datasets) - 2}" if len(datasets) > 2 else "")
    company = _company(datasets)
    if not partitions:
        return f"{names} (unpartitioned)" if company else names
    # A company dataset's partitions are UTC days of its own data, not markets' trade dates.
    word = "day" if company else "trade date"
    kind = f"{word}s" if ".." in partitions else word
    return f"{kind} {partitions} of {names}"


def _company(datasets: list[str]) -> bool:
    """Whether a run covers company datasets alone (their tables, `raw/company_<name>` and
    `normalized/company_<name>`)."""
    from market_spine.company.tables import is_company_table

    return bool(datasets) and all(is_company_table(d) for d in datasets)


def _activity(run: dict[str, Any]) -> str:
    """A run's state in words: `queued`, `running for 2m 05s`, `starting`, `canceling`."""
    state = {"STARTED": "running", "NOT_STARTED": "not started"}.get(
        run["status"], run["status"].lower()
    )
    seconds = run.get("running_s")
    if state == "running" and seconds is not None:
        minutes, secs = divmod(int(seconds), 60)
        state += f" for {minutes}m {secs:02d}s" if minutes else f" for {secs}s"
    return state


def render(report: StatusReport, out: Console) -> None:
    """The report on one screen: a health table, then one short section per concern."""
    from rich.markup import escape
    from rich.table import Table

    verdict = "[bold green]all green[/]" if report.ok else "[bold red]attention needed[/]"
    out.print(f"Market Spine status at {report.generated_at:%Y-%m-%d %H:%M:%S} UTC: {verdict}")
    table = Table(show_header=False, box=None, padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column()
    for h in report.health:
        table.add_row(_mark(h.ok), h.name, h.detail)
    out.print(table)

    failures = [
        f"[red]{f['run_id'][:8]}[/] {escape(_over(f['partitions'], f['datasets']))}: "
        f"{escape(brief(f['cause'] or f['status'].lower()))} — {_retry_word(f)} "
        f"({escape(f['retry_reason'])})"
        for f in report.failures
    ]
    _section(out, "failures, last 24 h", not failures, failures, "none")
    stale = [
        f"{s['dataset']} ({s['check']}{_recheck(s.get('recheck'))}): "
        + ", ".join(f"{k} {v:.0f} min" for k, v in s["lag_minutes"].items())
        for s in report.stale
    ]
    _section(out, "stale datasets", not stale, stale, "none")
    ticks = [f"{t['schedule']} due {t['due']}: {t['problem']}" for t in report.missed_ticks]
    _section(out, "schedule ticks", not ticks, ticks, "none missed")
    active = [
        f"{r['run_id'][:8]} {_activity(r)}, {_over(r['partitions'], r['datasets'])}"
        + (" [red](its process is gone)[/]" if r["orphaned"] else "")
        for r in report.active_runs
    ]
    _section(out, f"active runs ({len(active)})" if active else "active runs", True, active, "none")
    counts = report.findings.get("by_severity", {})
    findings = [
        f"{c['severity']}{' blocking' if c['blocking'] else ''} {c['dataset']}:{c['check']} "
        f"× {c['count']} ("
        + ", ".join(p + _recheck(c.get("rechecks", {}).get(p)) for p in c["partitions"][:3])
        + ")"
        for c in report.findings.get("checks", [])[:8]
    ]
    title = f"quality findings: {counts.get('ERROR', 0)} error, {counts.get('WARN', 0)} warn"
    _section(out, title, not counts.get("ERROR", 0), findings, "none open")
    if report.failures:
        out.print("\n`market-spine runs show ID`: details; `market-spine retry --failed`: retry")


def _recheck(state: str | None) -> str:
    """` failed (re-check queued)` beside a failed verdict a queued or running run will judge
    again: the verdict stands until then."""
    return "" if state is None else f" failed (re-check {state})"


def _retry_word(failure: dict[str, Any]) -> str:
    """What a retry of a failure would do now, in a word or three."""
    if failure.get("retry") in ("in progress", "daemon retry"):
        return "[yellow]being retried[/]"
    if failure.get("retry") == "exhausted":
        return "[red]attempts used up[/]"
    if _company(failure.get("datasets") or []):
        # A company run reads its source again from where its captures stopped.
        return "running it again is " + (
            "[green]safe[/]" if failure["retry_safe"] else "[red]unsafe[/]"
        )
    return "retry " + ("[green]safe[/]" if failure["retry_safe"] else "[red]unsafe[/]")


def from_api(settings: Settings, verify: bool) -> StatusReport | None:
    """The report the home's API computes now (`GET /v1/status?max_age=0`, with the home's
    admin key), or None when no API of this home answers it: then the command computes it
    itself. A TLS certificate that does not verify is said on the console."""
    from market_spine.cli.home_api import ask
    from market_spine.operations.status_report import StatusReport

    params = {"verify": str(verify).lower(), "max_age": 0}
    data = ask(settings, "/v1/status", params, API_TIMEOUT_S)
    if data is None:
        return None
    try:
        return StatusReport.from_json(data)
    except (KeyError, TypeError, ValueError):
        return None


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    verify: Annotated[
        bool, typer.Option(help="Include the light verify of the lake, warehouse and instance.")
    ] = True,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Compute the report in this process even when the home's API serves it.",
        ),
    ] = False,
) -> None:
    """All green, or where the reds are: health, failures, staleness, ticks, runs, findings."""
    with command_run(dagster=False):
        settings = settings_from_env()
        report = None if local else from_api(settings, verify)
        if report is None:
            quiet_libraries()
            from market_spine.home import existing_instance
            from market_spine.operations.status import collect_status

            report = collect_status(settings, existing_instance(settings), verify=verify)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        render(report, output_console(highlight=False))
    raise typer.Exit(0 if report.ok else 1)
