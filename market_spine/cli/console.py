"""The operator's console: where progress goes, how a command reads its settings, how it stops
on a signal, and how it ends on an error (one line naming the cause)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from market_spine.errors import OperatorWarning, SpineError
from market_spine.settings import Settings

if TYPE_CHECKING:
    import polars as pl

#: Progress and results go to stderr so a command's data output (JSON, tables) can be piped.
console = Console(stderr=True, soft_wrap=True)

#: The width of a command's output when it goes to a file or a pipe: wide enough that no table
#: or line is cut or wrapped, each at its natural width.
PIPED_WIDTH = 100_000


#: Characters of a failure's cause a one-line summary shows; the rest is in `runs show ID`.
CAUSE_CHARS = 160


def brief(cause: str, limit: int = CAUSE_CHARS) -> str:
    """A cause on one line of at most about `limit` characters: whitespace folded, and a longer
    one cut at a word with ` …` (a stack of wrapped errors, a library's dump of its request),
    so a summary line stays a line; the command that shows it whole is said beside it."""
    text = " ".join(cause.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip(" ,;:") + " …"


def output_console(*, highlight: bool = True) -> Console:
    """The console for a command's report on stdout: the terminal's width on a terminal; when
    piped or redirected, unbounded (unless COLUMNS says otherwise), so tables keep whole values
    and one row a line instead of being cut at rich's 80-column default."""
    piped = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
    return Console(width=PIPED_WIDTH if piped else None, highlight=highlight)


def print_rows(rows: pl.DataFrame, as_json: bool, table: Callable[[Console], None]) -> None:
    """A command's rows on stdout: JSON with `--json`; every column, one tab-separated line a
    row, when piped (made for grep, cut and awk); else `table` drawn on the terminal's console.
    Dates and timestamps as ISO text (UTC) in the first two."""
    import json

    from market_spine.api.formats import as_text_columns

    if as_json:
        typer.echo(json.dumps(as_text_columns(rows).to_dicts(), indent=2))
    elif not sys.stdout.isatty():
        typer.echo(as_text_columns(rows).write_csv(separator="\t", null_value="").rstrip("\n"))
    else:
        table(output_console())


def settings_from_env(symbols: str | None = None) -> Settings:
    """The home's settings from the environment, every value validated (a bad one raises
    InvalidInput naming the variable and the fix); `--symbols` overrides the configured roots.
    Every command that reads the home reads it here, so none runs on settings the others
    refuse."""
    from market_spine.config.file import unknown_variables

    env = dict(os.environ)
    if symbols:
        from market_spine.markets.instruments import parse_root

        Settings.from_env(env)  # registers the home's own roots, so they parse like ES
        for name in symbols.split(","):
            if name.strip():
                parse_root(name, "--symbols ")
        env["MARKET_SPINE_SYMBOLS"] = symbols
    settings = Settings.from_env(env)
    for warning in unknown_variables(env):
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    return settings


def show_operator_warnings() -> None:
    """Print each OperatorWarning as the command line's own `warning:` line on stderr, the
    message alone (it says what to do): Python's own form would lead with the file and line of
    the code that warned, which tells an operator nothing. Other warnings keep Python's form."""
    shown = warnings.showwarning
    if getattr(shown, "operator_lines", False):
        return

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: object = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, OperatorWarning):
            console.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False)
            return
        shown(message, category, filename, lineno, file, line)  # type: ignore[arg-type]

    show.operator_lines = True  # type: ignore[attr-defined]
    warnings.showwarning = show


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def interrupt_on_signals() -> None:
    """Make SIGINT and SIGTERM raise KeyboardInterrupt, so a command stops the same way on
    Ctrl-C and on `kill`, and cleans up on the way out. SIGINT is set explicitly: a shell
    starts background jobs with it ignored, and Python then keeps ignoring it."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)


def quiet_libraries(*, show_warnings: bool = False, dagster: bool = True) -> None:
    """Keep library chatter off the console: Dagster's preview warnings (the version is pinned
    and those features chosen knowingly) and Python logging, which Dagster records in a run's
    logs instead (dagster.yaml's managed_python_loggers). A long-running service passes
    `show_warnings` to print library warnings and errors, each distinct message once in a row.
    A command that never loads Dagster passes `dagster=False` and skips its import (a second)."""
    if dagster:
        import dagster as dg

        warnings.filterwarnings("ignore", category=dg.BetaWarning)
        warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    root = logging.getLogger()
    if not show_warnings:
        root.addHandler(logging.NullHandler())  # no handler would mean Python's last resort
        return
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_NoRepeats())
    root.addHandler(handler)


class _NoRepeats(logging.Filter):
    """Drops a record that repeats the previous one's logger and message."""

    def __init__(self) -> None:
        super().__init__()
        self._last: tuple[str, str] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.getMessage())
        repeat = key == self._last
        self._last = key
        return not repeat


def fail(exc: Exception) -> None:
    """End the command with the cause on one line and exit status 2."""
    # Escaped: a cause may quote brackets (`[instruments.6E]`) that rich would take for markup.
    console.print(f"[bold red]error:[/] {escape(str(exc))}")
    from market_spine.cli.session import failed_with

    failed_with(str(exc))
    raise typer.Exit(2)


def stopped() -> None:
    """End a command a signal stopped: one line and the conventional status 130, at once: a
    run's abandoned step may still hold threads that a normal interpreter exit would wait on."""
    console.print("stopped")
    from market_spine.audit.recorder import flush_all
    from market_spine.cli.session import finish

    finish("stopped")
    flush_all()  # os._exit skips atexit, where the audit entries would be written
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(130)


@contextmanager
def command_run(*, dagster: bool = True) -> Iterator[None]:
    """The frame of a command that does work: SIGINT and SIGTERM stop it like Ctrl-C, library
    chatter stays off the console, a SpineError ends it with its cause on one line (status 2)
    and a stop with "stopped" (status 130). `dagster=False` for a command that never loads
    Dagster (see `quiet_libraries`)."""
    interrupt_on_signals()
    quiet_libraries(dagster=dagster)
    try:
        yield
    except SpineError as exc:
        fail(exc)
    except KeyboardInterrupt:
        stopped()
