"""`market-spine keys create | list | revoke`: the home's API keys. A key's secret is printed once,
at creation, and kept only as a hash; `list` never shows it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from market_spine.cli.console import command_run, console, output_console, settings_from_env
from market_spine.cli.session import note
from market_spine.errors import InvalidInput
from market_spine.settings import Settings

keys = typer.Typer(help="API keys of this home: create (shown once), list, revoke.")


@keys.command()
def create(
    role: Annotated[
        str, typer.Option(help="reader, quant, operator, compliance or admin.")
    ] = "reader",
    datasets: Annotated[
        str | None,
        typer.Option(help="Comma-separated dataset globs the key may read, e.g. 'normalized/*'."),
    ] = None,
    expires: Annotated[
        str | None, typer.Option(help="Lifetime: 90d, 12h, 30m, 2w or never.")
    ] = "90d",
    name: Annotated[str, typer.Option(help="Who or what the key is for.")] = "",
    tenant: Annotated[
        str | None, typer.Option(help="Bind the key to one tenant's rows of company datasets.")
    ] = None,
    pii: Annotated[
        bool, typer.Option("--pii", help="Let the key read personal-data columns in clear.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Bind the key to a tenant no company dataset holds rows of yet."
        ),
    ] = False,
) -> None:
    """Issue a key and print it once: store it now, it cannot be shown again. A `--tenant`
    that no company dataset of the home holds is refused (a typo would read nothing) unless
    `--force` says it is a tenant whose rows are still to come."""
    from market_spine.security.keys import KeyStore, parse_datasets, parse_expiry
    from market_spine.security.tenants import tenant_name

    note(role=role)
    with command_run(dagster=False):
        settings = settings_from_env()
        if tenant is not None:
            _known_tenant(settings, tenant_name(tenant), force)
        issued = KeyStore(settings.home).create(
            role, parse_datasets(datasets), parse_expiry(expires), name, tenant, pii
        )
    record = issued.record
    note(key_id=record.id, role=record.role, datasets=list(record.datasets), name=record.name)
    expiry = "never" if record.expires_at is None else record.expires_at.isoformat()
    tenant_scope = record.tenant or "every tenant"
    pii_scope = "personal data in clear" if record.pii else "personal data masked"
    console.print(
        f"key {record.id} ({record.role}; datasets {', '.join(record.datasets)}; "
        f"tenant {tenant_scope}; {pii_scope}; expires {expiry}). Its secret is printed below "
        "once and never again:",
        highlight=False,
    )
    typer.echo(issued.token)


def _known_tenant(settings: Settings, tenant: str, force: bool) -> None:
    """InvalidInput, listing the tenants the home's company datasets hold, when they hold no
    row of `tenant`, unless `force`."""
    from market_spine.company.home_defs import use_home
    from market_spine.company.tenancy import known_tenants

    use_home(settings.home)
    known = known_tenants(settings.lake())
    if tenant in known or force:
        return
    held = (
        f"the tenants they hold are {', '.join(known)}"
        if known
        else "they hold no tenant's rows yet"
    )
    raise InvalidInput(
        f"no company dataset of this home holds rows of tenant {tenant!r} ({held}): check "
        "its spelling, or pass --force to bind the key to a tenant whose rows are still to come"
    )


@keys.command("list")
def list_keys(
    as_json: Annotated[bool, typer.Option("--json", help="Print the keys as JSON.")] = False,
) -> None:
    """Every key issued: id, name, role, datasets, tenant, `pii` scope, times and state (never
    the secret)."""
    from rich.table import Table

    from market_spine.security.keys import KeyStore

    with command_run(dagster=False):
        settings = settings_from_env()
        records = KeyStore(settings.home).list()
    now = datetime.now(UTC)
    if as_json:
        typer.echo(json.dumps([r.as_json(now) for r in records], indent=2))
        return
    table = Table("id", "name", "role", "datasets", "tenant", "pii", "created", "expires", "state")
    for r in records:
        table.add_row(
            r.id,
            r.name,
            r.role,
            ", ".join(r.datasets),
            r.tenant or "every tenant",
            "clear" if r.pii else "masked",
            f"{r.created_at:%Y-%m-%d %H:%M}",
            "never" if r.expires_at is None else f"{r.expires_at:%Y-%m-%d %H:%M}",
            r.state(now),
        )
    output_console(highlight=False).print(table)


@keys.command()
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id, from `keys list`.")]) -> None:
    """Revoke a key: a running API refuses it within 10 seconds."""
    from market_spine.security.credentials import CACHE_TTL_S
    from market_spine.security.keys import KeyStore

    note(key_id=key_id)
    with command_run(dagster=False):
        settings = settings_from_env()
        record = KeyStore(settings.home).revoke(key_id)
    note(key_id=record.id, role=record.role, name=record.name)
    console.print(
        f"key {record.id} ({record.role}) revoked at {record.revoked_at:%Y-%m-%d %H:%M:%S} UTC; "
        f"a running API refuses it within {CACHE_TTL_S:g} s",
        highlight=False,
    )
