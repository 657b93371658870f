"""`market-spine alerts test|list`: prove every sink of the home's rules file receives a message,
and list the open alerts (a table on a terminal, tab-separated when piped, or `--json`)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from market_spine.cli.console import command_run, console, settings_from_env
from market_spine.errors import InvalidInput

if TYPE_CHECKING:
    from market_spine.operations.alerts.store import Alert

alerts = typer.Typer(
    help="Alert routing: send a test alert to every sink, list open alerts.",
    no_args_is_help=True,
)

_COLUMNS = ("id", "severity", "rule", "kind", "subject", "partition", "owners", "opened_at")


@alerts.command("test")
def send_test(
    sink: Annotated[
        list[str] | None, typer.Option("--sink", help="Only this sink (repeatable).")
    ] = None,
) -> None:
    """Send a test alert to every sink of <home>/alerts.toml; exit 1 if one fails."""
    from rich.text import Text

    from market_spine.operations.alerts.rules import load_rules, rules_path
    from market_spine.operations.alerts.sinks import DeliveryFailed, Message, send

    with command_run(dagster=False):
        path = rules_path(settings_from_env().home)
        if not path.is_file():
            raise InvalidInput(f"no alert rules at {path}: copy alerts.example.toml there")
        rules = load_rules(path)
        names = sink or list(rules.sinks)
        unknown = [name for name in names if name not in rules.sinks]
        if unknown:
            raise InvalidInput(
                f"unknown sink(s) {', '.join(unknown)}; {path} declares {', '.join(rules.sinks)}"
            )
        failed = []
        for name in names:
            kind = rules.sinks[name].type
            try:
                tries = send(name, rules, Message.test(name))
            except DeliveryFailed as exc:
                failed.append(name)
                # The cause as plain text: an error's own brackets are not markup.
                line = Text.assemble((f"{name} ({kind}): failed", "red"), f" — {exc.cause}")
                console.print(line, highlight=False)
                continue
            console.print(
                f"{name} ({kind}): delivered" + (f" after {tries} tries" if tries > 1 else ""),
                highlight=False,
            )
    if failed:
        console.print(
            f"[red]{len(failed)} of {len(names)} sink{'' if len(names) == 1 else 's'} failed[/]: "
            f"{', '.join(failed)}; alerts routed to {'it' if len(failed) == 1 else 'them'} "
            "are not reaching anyone",
            highlight=False,
        )
        raise typer.Exit(1)
    console.print(f"every sink delivered ({len(names)})", highlight=False)


@alerts.command("list")
def list_alerts(
    all_alerts: Annotated[
        bool, typer.Option("--all", help="Resolved alerts too, not only the open ones.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The open alerts (with --all, resolved ones too), oldest first, with the messages still
    owed to a sink."""
    from market_spine.operations.alerts.store import AlertStore, has_state

    with command_run(dagster=False):
        home = settings_from_env().home
        if not has_state(home):
            found, owed = [], {}
        else:
            store = AlertStore(home)
            found = store.alerts() if all_alerts else store.open_alerts()
            owed = store.pending_count()
    if as_json:
        rows = [{**a.as_json(), "undelivered": owed.get(a.id, 0)} for a in found]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not found:
        console.print("no open alerts" if not all_alerts else "no alerts")
        return
    header = [*_COLUMNS, "resolved_at", "undelivered"]
    rows_text = [_cells(a, owed.get(a.id, 0)) for a in found]
    if not sys.stdout.isatty():
        typer.echo("\t".join(header))
        for row in rows_text:
            typer.echo("\t".join(row))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*header)
    for row in rows_text:
        table.add_row(*row)
    Console().print(table)


def _cells(alert: Alert, undelivered: int) -> list[str]:
    values = [getattr(alert, column) for column in _COLUMNS]
    text = [", ".join(v) if isinstance(v, tuple) else str(v) for v in values]
    return [*text, alert.resolved_at or "", str(undelivered)]
