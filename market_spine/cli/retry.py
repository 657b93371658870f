"""`market-spine retry RUN | --failed [--since 1d] [--dry-run] [--force] [--json]`: re-execute
failed runs from their failure, as Dagster runs the UI shows under their parent.

Exit status: 0 when every planned retry ran and succeeded (or, with --dry-run, could run), 1
when one was refused or failed again, 2 when the command itself could not run.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from market_spine.cli.console import command_run, console, settings_from_env
from market_spine.errors import SpineError

if TYPE_CHECKING:
    from market_spine.operations.retry import RetryPlan


def _print_plan(plan: RetryPlan, dry_run: bool) -> None:
    span = plan.as_json()["partitions"] or "all partitions"
    colour = "green" if plan.ok else "yellow"
    action = ("would retry" if dry_run else "retrying") if plan.ok else f"refused ({plan.verdict})"
    console.print(
        f"run {plan.run.run_id[:8]} {span}: [{colour}]{action}[/]: {plan.reason}",
        highlight=False,
    )


def retry(
    run_id: Annotated[
        str | None, typer.Argument(help="The failed run (an id or its first 8 characters).")
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Retry every run that failed in --since.")
    ] = False,
    since: Annotated[str, typer.Option(help="With --failed: runs created since (1d, 12h...).")] = (
        "1d"
    ),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be retried; launch nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Retry even after the configured attempts.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plans and outcomes.")] = False,
) -> None:
    """Re-execute failed runs from their failure; never a partition another run is running."""
    from market_spine.home import instance as home_instance
    from market_spine.operations.retry import failed_since, plan_retry, reexecute
    from market_spine.operations.run_history import parse_since, resolve_run
    from market_spine.runs.launch import dispatch
    from market_spine.runs.workers import sweep_dead_runs

    outcomes: list[dict[str, Any]] = []
    with command_run():
        if (run_id is None) == (not failed):
            raise SpineError("give a RUN id or --failed (not both)")
        settings = settings_from_env()
        since_at = parse_since(since) if failed else None
        instance = home_instance(settings)
        if not dry_run:
            sweep_dead_runs(instance)  # a dead CLI run must not look like a running partition
        if since_at is not None:
            ids = failed_since(instance, since_at)
        else:
            ids = [resolve_run(instance, run_id or "").dagster_run.run_id]
        if not ids:
            console.print(f"no failed run since {since}: nothing to retry")
        handled = []
        for one in ids:
            plan = plan_retry(instance, one, force=force)
            if failed and plan.verdict in ("repaired", "in progress", "daemon retry"):
                handled.append(plan)  # not this command's to report as refused
                continue
            _print_plan(plan, dry_run)
            entry: dict[str, Any] = plan.as_json()
            if plan.ok and not dry_run:
                with console.status(f"run {plan.run.run_id[:8]}: re-executing"):
                    launched = dispatch(instance, reexecute(instance, plan.run))
                entry.update(retry_run_id=launched.run_id, success=launched.success)
                entry["cause"] = launched.failure
                status = "[green]ok[/]" if launched.success else "[red]failed[/]: "
                status += "" if launched.success else str(launched.failure)
                console.print(f"  retry {launched.run_id[:8]} {status}", highlight=False)
            outcomes.append(entry)
        if handled and not as_json:
            console.print(
                f"{len(handled)} failed run(s) since {since} already handled: "
                + "; ".join(f"{p.run.run_id[:8]} {p.reason}" for p in handled),
                highlight=False,
            )
    if as_json:
        typer.echo(json.dumps(outcomes, indent=2))
    ok = all(o["verdict"] == "retry" and o.get("success", dry_run) for o in outcomes)
    raise typer.Exit(0 if ok else 1)
