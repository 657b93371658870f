"""`market-spine`: the operator's command line — process dates through Dagster, start the platform,
serve the API, import vendor files, stream, maintain and verify the lake, keep the home's
settings, score data quality, say which data is ready, build the warehouse as of an instant,
find and fill gaps, show status and runs, retry, test and list alerts, issue and revoke API
keys, verify and export the audit trail, validate company dataset files. A module per command
group."""

from __future__ import annotations

import typer

from market_spine.cli.alerts import alerts
from market_spine.cli.audit import audit
from market_spine.cli.catalog import catalog
from market_spine.cli.company import company
from market_spine.cli.config import config
from market_spine.cli.console import show_operator_warnings
from market_spine.cli.cost import cost
from market_spine.cli.fake import fake
from market_spine.cli.gaps import gaps
from market_spine.cli.help_text import reflow_help
from market_spine.cli.importing import import_app
from market_spine.cli.keys import keys
from market_spine.cli.maintain import maintain
from market_spine.cli.platform import api, up
from market_spine.cli.process import process
from market_spine.cli.quality import quality
from market_spine.cli.readiness import readiness
from market_spine.cli.retry import retry
from market_spine.cli.rolls import rolls
from market_spine.cli.runs import runs
from market_spine.cli.session import start_session
from market_spine.cli.state import state
from market_spine.cli.status import status
from market_spine.cli.stream import stream
from market_spine.cli.verify import verify
from market_spine.cli.warehouse import warehouse


def _before_command(ctx: typer.Context) -> None:
    """Typer's callback before any command: the platform's warnings as the CLI's own lines,
    and the command's session record."""
    show_operator_warnings()
    start_session(ctx)


app = typer.Typer(
    help="Market Spine: market data as Dagster assets over a Delta Lake.",
    no_args_is_help=True,
    callback=_before_command,
)
app.command()(process)
app.command()(up)
app.command()(api)
app.command()(maintain)
app.command()(verify)
app.command()(quality)
app.command()(gaps)
app.command()(retry)
app.command()(status)
app.command()(warehouse)
app.command()(readiness)
app.command()(rolls)
app.command("catalog")(catalog)
app.command("stream")(stream)
app.command()(cost)
app.add_typer(import_app, name="import")
app.add_typer(fake, name="fake")
app.add_typer(config, name="config")
app.add_typer(alerts, name="alerts")
app.add_typer(runs, name="runs")
app.add_typer(keys, name="keys")
app.add_typer(audit, name="audit")
app.add_typer(state, name="state")
app.add_typer(company, name="company")
reflow_help(app)

__all__ = ["app"]
