"""`market-spine config get|set|validate|reset|history`: the settings persisted in the home's
`settings.toml`, beneath the environment (a `MARKET_SPINE_*` variable wins over the file, the
file over the default). Secrets are shown masked.

Exit status: 0 on success, 1 when `validate` finds a provider unreachable (or, with `--profile`,
any error in the profile's files or connectivity), 2 when a setting or the command's input is
invalid (nothing is written then).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from typing import Annotated, Any

import typer

from market_spine.cli.console import command_run, console

config = typer.Typer(
    help="Settings persisted in the home (settings.toml): get, set, validate, reset, history.",
    no_args_is_help=True,
)


def _shown(value: Any) -> str:
    if value is None:
        return "–"
    return ",".join(value) if isinstance(value, list) else str(value)


@config.command("get")
def get(
    key: Annotated[str | None, typer.Argument(help="One setting, e.g. api_port.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the settings as JSON.")] = False,
) -> None:
    """Show each setting's value and where it comes from (environment, file or default)."""
    from market_spine.config.edit import entries
    from market_spine.config.file import known_key

    with command_run():
        if key is not None:
            known_key(key)
        shown = [e for e in entries(os.environ) if key is None or e.key == key]
    if as_json:
        typer.echo(json.dumps([asdict(e) for e in shown], indent=2))
    elif key is not None:
        (entry,) = shown
        typer.echo(_shown(entry.value))
        console.print(f"from {_origin(entry.origin, entry.variable)}", highlight=False)
    else:
        width = max(len(e.key) for e in shown)
        for e in shown:
            typer.echo(f"{e.key:<{width}}  {_shown(e.value)}  ({_origin(e.origin, e.variable)})")


def _origin(origin: str, variable: str) -> str:
    return f"environment {variable}" if origin == "environment" else origin


@config.command("set", context_settings={"ignore_unknown_options": True})
def set_(
    key: Annotated[str, typer.Argument(help="The setting, e.g. api_port.")],
    value: Annotated[
        str, typer.Argument(help="Its new value, e.g. 8001 or -5 (a leading dash is a value).")
    ],
) -> None:
    """Persist KEY = VALUE in the home's settings file, once it validates."""
    from market_spine.config.edit import overridden, set_value
    from market_spine.config.secrets import mask_setting

    with command_run():
        done = set_value(os.environ, key, value)
    if done is None:
        shown = _shown(mask_setting(key, value))  # type: ignore[arg-type]
        console.print(f"{key} is already {shown}: nothing changed", highlight=False)
    else:
        console.print(f"{key}: {_shown(done.old)} → {_shown(done.new)}", highlight=False)
    variable = overridden(os.environ, key)
    if variable:
        console.print(
            f"[yellow]note:[/] {variable} is set in the environment and overrides the file",
            highlight=False,
        )
    _note_this_machine_only()


def _note_this_machine_only() -> None:
    """Where the platform's processes share no home (`state_database` set), the home's
    settings file is this machine's alone: say so, and where every node's settings are."""
    from market_spine.errors import SpineError
    from market_spine.settings import Settings

    try:
        shared = bool(Settings.from_env().state_database)
    except SpineError:
        return
    if shared:
        console.print(
            "[yellow]note:[/] state_database is set, so the platform's nodes share no home: "
            "this changed this machine's settings file only; set what every node reads where "
            "their environment comes from (the market-spine-platform ConfigMap in Kubernetes)",
            highlight=False,
        )


@config.command("reset")
def reset(
    key: Annotated[str | None, typer.Argument(help="One setting, e.g. api_port.")] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Without KEY: reset every setting the file holds.")
    ] = False,
) -> None:
    """Remove KEY from the file (or, with --all, every setting): the environment or the default
    applies. Without KEY nor --all it asks first on a terminal and refuses elsewhere."""
    from market_spine.config.edit import reset as reset_settings
    from market_spine.config.file import read_file
    from market_spine.errors import InvalidInput
    from market_spine.settings import Settings

    with command_run():
        if key is not None and every:
            raise InvalidInput(f"give a setting ({key}) or --all, not both")
        if key is None and not every:
            held = sorted(read_file(Settings.home_from_env(), strict=False))
            if not held:
                console.print("the file holds nothing to reset", highlight=False)
                return
            if not sys.stdin.isatty():
                raise InvalidInput(
                    f"`config reset` without a setting would reset all {len(held)} "
                    f"({', '.join(held)}): name one, e.g. `config reset {held[0]}`, or give --all"
                )
            if not typer.confirm(f"reset every setting in the file ({', '.join(held)})?"):
                console.print("nothing reset", highlight=False)
                return
        changes = reset_settings(os.environ, key)
    if not changes:
        console.print(f"{key or 'the file'} holds nothing to reset", highlight=False)
    for c in changes:
        console.print(f"{c.key}: {_shown(c.old)} → default", highlight=False)


@config.command("validate")
def validate(
    offline: Annotated[
        bool, typer.Option("--offline", help="Skip the connectivity probes.")
    ] = False,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="Check a deployment profile (deploy/profiles/NAME): its files, the settings it "
            "gives this home, and PostgreSQL, the lake and the providers reached.",
        ),
    ] = None,
) -> None:
    """Validate the settings (values and cross-field rules) and reach what the home's profile
    names: the instance's PostgreSQL, the lake and the providers in use."""
    from market_spine.cli.console import settings_from_env
    from market_spine.config.connectivity import probe_providers
    from market_spine.config.profile_check import check_lake, check_postgres, check_state

    if profile is not None:
        _validate_profile(profile, offline)
        return
    with command_run():
        settings = settings_from_env()
    console.print("[green]ok[/] settings are valid", highlight=False)
    if offline:
        console.print("connectivity not probed (--offline)")
        return
    with command_run():
        probes = [
            check_postgres(settings.profile, os.environ),
            check_state(settings, os.environ),
            check_lake(settings),
            *probe_providers(settings),
        ]
    for p in probes:
        label = {True: "[green]ok[/]", False: "[bold red]unreachable[/]", None: "skipped"}[p.ok]
        console.print(f"{label} {_name(p)}: {p.detail}", highlight=False, soft_wrap=True)
    raise typer.Exit(1 if any(p.ok is False for p in probes) else 0)


def _name(probe: Any) -> str:
    """A probe's or a finding's name."""
    return str(getattr(probe, "part", None) or probe.name)


_LABEL = {True: "[green]ok[/]", False: "[bold red]error[/]", None: "skipped"}


def _validate_profile(profile: str, offline: bool) -> None:
    """Print a finding a line; exit 1 when any is an error."""
    from market_spine.config.file import unknown_variables
    from market_spine.config.profile_check import validate_profile

    for warning in unknown_variables(os.environ):
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    with command_run():
        findings = validate_profile(profile.strip().lower(), os.environ, offline=offline)
    for f in findings:
        console.print(f"{_LABEL[f.ok]} {f.part}: {f.detail}", highlight=False, soft_wrap=True)
    errors = sum(f.ok is False for f in findings)
    if errors:
        console.print(f"profile {profile}: {errors} error(s)", highlight=False)
    raise typer.Exit(1 if errors else 0)


@config.command("history")
def history(
    as_json: Annotated[bool, typer.Option("--json", help="Print the changes as JSON.")] = False,
) -> None:
    """Every change to the home's settings: when (UTC), who, the key, old and new value."""
    from market_spine.config.history import read_history
    from market_spine.settings import Settings

    with command_run():
        changes = read_history(Settings.home_from_env())
    if as_json:
        typer.echo(json.dumps([asdict(c) for c in changes], indent=2))
        return
    if not changes:
        console.print("no settings changed yet")
    for c in changes:
        new = "default" if c.action == "reset" else _shown(c.new)
        typer.echo(f"{c.at}  {c.user}  {c.action} {c.key}: {_shown(c.old)} → {new}")
