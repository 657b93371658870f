"""Help text as paragraphs: a docstring's line breaks are where its source wrapped, not where the
help should break. Typer's rich help keeps a command's single line breaks in the command lists
and in every paragraph after the first, so a sentence would break mid-line on the screen."""

from __future__ import annotations

import inspect

import typer


def reflow(text: str) -> str:
    """`text` with each paragraph (blank-line separated) on one line; a paragraph Click marks
    as preformatted (`\\b` on its own line) is kept as written."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines())
        for p in paragraphs
    )


def reflow_help(app: typer.Typer) -> typer.Typer:
    """Reflow the help of every command of `app` and of its groups, recursively (the help given
    explicitly, else the command's docstring); `app`, for chaining."""
    for info in app.registered_commands:
        given = info.help if isinstance(info.help, str) else inspect.getdoc(info.callback)
        if given:
            info.help = reflow(given)
    if isinstance(app.info.help, str):
        app.info.help = reflow(app.info.help)
    for group in app.registered_groups:
        if isinstance(group.help, str):
            group.help = reflow(group.help)
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)
    return app
