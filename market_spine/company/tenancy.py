"""What an identity may read of each lake table, decided in one place so that every path (the
API, Spine opened with a key, its SQL views, catalog counts) fails closed the same way.

A key bound to a tenant reads a company table only when the table says which tenant each row
belongs to (its YAML's `tenant_column`); the platform's shared tables (readiness, checks,
certifications, captures, revisions, ...) only for their rows about datasets that hold no
tenant's data; and nothing else but market data. A lake table no dataset declares (a company
dataset whose YAML is gone or invalid) is refused to every key without the `pii` scope or
bound to a tenant: nobody can say which of its columns are personal or whose its rows are.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from market_spine.catalog.vocabulary import DatasetSpec
from market_spine.company.catalog import COMPANY_DATASETS, company_spec
from market_spine.company.config import DatasetConfig
from market_spine.errors import AccessRefused, OperatorWarning
from market_spine.security.identity import Identity

#: The layers whose declared tables hold market data, which belongs to no tenant.
MARKET_LAYERS = ("raw", "normalized", "analytics")
#: The audit outcome of a read refused under these rules.
REFUSED = "refused"


@dataclass(frozen=True)
class SharedTable:
    """A platform table whose rows are each about one dataset: `about` is the column naming
    it (a catalog name or asset key); `counts` are the columns counting that dataset's rows,
    which a tenant-bound identity sees as null on rows about a dataset that is not
    `tenant_free` (the row stays, so its state shows). Without `counts`, such rows are left
    out."""

    about: str
    counts: tuple[str, ...] = ()


@cache
def shared_tables() -> dict[str, SharedTable]:
    """Every platform table a tenant-bound identity may read, filtered as its entry says."""
    from market_spine.certification.tables import (
        ANOMALY_FLAGS,
        CERTIFICATIONS,
        READINESS_LOG,
        REVISION_ROWS,
        REVISIONS,
    )
    from market_spine.company.captures import CAPTURES
    from market_spine.operations.cost.table import COST_DAILY
    from market_spine.operations.retention import PRUNINGS
    from market_spine.warehouse.tables import CHECK_RESULTS

    counts = ("expected", "present", "missing", "no_trade")
    return {
        READINESS_LOG: SharedTable("dataset", counts),
        CERTIFICATIONS: SharedTable("dataset"),
        REVISIONS: SharedTable("dataset"),
        REVISION_ROWS: SharedTable("dataset"),
        ANOMALY_FLAGS: SharedTable("dataset"),
        PRUNINGS: SharedTable("dataset"),
        COST_DAILY: SharedTable("dataset"),
        CHECK_RESULTS: SharedTable("asset_key"),
        # Its `dataset` is a company dataset's YAML name: no row is about a tenant-free one.
        CAPTURES: SharedTable("dataset"),
    }


def tenant_free() -> list[str]:
    """The declared datasets whose rows hold no tenant's data (so rows about them may be
    shown to any tenant): every catalog entry but the company tables and the warehouse models
    built from them."""
    from market_spine.catalog.registry import CATALOG

    return sorted(
        s.name for s in CATALOG if company_spec(s.name) is None and "company" not in s.name
    )


def untenanted(spec: DatasetSpec, identity: Identity) -> str:
    """The refusal of a company table without a tenant column to a tenant-bound identity."""
    return (
        f"{identity.actor} is bound to tenant {identity.tenant}, and {spec.name} is not split "
        "by tenant (its YAML declares no `tenant_column`), so its rows cannot be kept to one "
        "tenant: declare the column naming each row's tenant as `tenant_column` in the "
        "dataset's YAML, or read it with a key bound to no tenant"
    )


def refusal(dataset: str, identity: Identity | None) -> str | None:
    """Why `identity` may read nothing of `dataset` (None: it may, as `view_sql` scopes it;
    an identity of None is the home's owner, who reads everything)."""
    if identity is None:
        return None
    spec = company_spec(dataset)
    if spec is not None:
        if identity.tenant is not None and spec.tenant_column is None:
            return untenanted(spec, identity)
        return None
    from market_spine.catalog.registry import CATALOG

    if dataset not in CATALOG.entries:
        if identity.tenant is None and identity.pii:
            return None
        return (
            f"{dataset} is in the lake but no dataset declares it (a company dataset whose "
            "YAML is gone or invalid?), so which of its columns are personal data and whose "
            f"rows it holds is unknown: {identity.actor} needs the pii scope and no tenant to "
            "read it, or its YAML must be restored (`market-spine catalog` lists what loads)"
        )
    if identity.tenant is None or dataset in shared_tables():
        return None
    if dataset.split("/", 1)[0] in MARKET_LAYERS:
        return None
    return (
        f"{identity.actor} is bound to tenant {identity.tenant}, and {dataset} holds rows "
        "about every tenant's datasets with no rule keeping it to one: read it with a key "
        "bound to no tenant"
    )


def refuse(dataset: str, identity: Identity | None) -> None:
    """AccessRefused when `identity` may read nothing of `dataset` (see `refusal`)."""
    reason = refusal(dataset, identity)
    if reason is not None:
        raise AccessRefused(f"{dataset} is refused: {reason}")


def revisions_refusal(dataset: str, identity: Identity | None) -> str | None:
    """Why `identity` may not read the revisions of `dataset` (None: it may): a company
    table's span every tenant and their detail rows hold its values in clear, so they need
    the `pii` scope and no tenant."""
    if identity is None or company_spec(dataset) is None:
        return None
    if identity.tenant is None and identity.pii:
        return None
    return (
        f"revisions of {dataset} hold every tenant's rows in clear: they need a key with the "
        "pii scope and no tenant; read the dataset itself (/v1/datasets, Spine.dataset)"
    )


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _listed(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values) or "NULL"


def shared_view_sql(table: SharedTable, body: str) -> str:
    """A shared table's rows as a tenant-bound identity sees them, over the table's `body`."""
    free = f"{_quoted(table.about)} IN ({_listed(tenant_free())})"
    if not table.counts:
        return f"SELECT * FROM ({body}) AS src WHERE {free}"
    hidden = ", ".join(
        f"CASE WHEN {free} THEN {_quoted(c)} END AS {_quoted(c)}" for c in table.counts
    )
    return f"SELECT * REPLACE ({hidden}) FROM ({body}) AS src"


def shared_rows(dataset: str, rows: pl.DataFrame, identity: Identity | None) -> pl.DataFrame:
    """A shared table's `rows` (a frame) as `identity` sees them: as `shared_view_sql`."""
    table = shared_tables().get(dataset)
    if identity is None or identity.tenant is None or table is None or rows.is_empty():
        return rows
    free = pl.col(table.about).is_in(tenant_free())
    if not table.counts:
        return rows.filter(free)
    return rows.with_columns(
        pl.when(free).then(pl.col(c)).otherwise(None).alias(c)
        for c in table.counts
        if c in rows.columns
    )


def view_sql(dataset: str, body: str, identity: Identity | None) -> str:
    """The SQL view of `dataset` as `identity` may see it, over the table's `body`;
    AccessRefused when it may read none of it (such a table gets no view at all)."""
    refuse(dataset, identity)
    if identity is None:
        return body
    spec = company_spec(dataset)
    if spec is not None:
        from market_spine.company.reading import view_sql as company_view_sql

        return company_view_sql(spec, body, identity)
    table = shared_tables().get(dataset)
    if identity.tenant is not None and table is not None:
        return shared_view_sql(table, body)
    return body


def counts_hidden(dataset: str, identity: Identity | None) -> bool:
    """Whether `identity` is shown no row count of `dataset` in the catalog: bound to a
    tenant, for every table but market data (a company table's count is its tenant's rows,
    `reading.visible_rows`)."""
    if identity is None or identity.tenant is None:
        return False
    if refusal(dataset, identity) is not None or dataset in shared_tables():
        return True
    return dataset.split("/", 1)[0] not in MARKET_LAYERS


class TenantColumnWarning(OperatorWarning):
    """A dataset file with a column that looks like a tenant but no `tenant_column`."""


def undeclared_tenant(config: DatasetConfig, path: Path) -> str | None:
    """The warning for a dataset whose columns include one named like a tenant (`tenant`,
    `tenant_id`, ...) while it declares no `tenant_column`: it loads, unsplit, and keys bound
    to a tenant are refused it. None when it declares one or has no such column."""
    if config.tenant_column is not None:
        return None
    named = [c.name for c in config.columns if c.name == "tenant" or c.name.startswith("tenant_")]
    if not named:
        return None
    return (
        f"{path}: dataset {config.name!r} has a column {named[0]!r} but declares no "
        "`tenant_column`, so it is not split by tenant and every key bound to a tenant is "
        f"refused it; if {named[0]!r} names each row's tenant, add `tenant_column: {named[0]}` "
        "under `attributes`"
    )


def known_tenants(lake: Any) -> list[str]:
    """Every tenant the company tables in `lake` hold rows of (their tenant columns' values),
    sorted."""
    found: set[str] = set()
    for spec in COMPANY_DATASETS:
        if spec.tenant_column is None or spec.layer != "normalized" or not lake.exists(spec.name):
            continue
        rows = lake.read(spec.name, columns=[spec.tenant_column])
        found |= {str(v) for v in rows[spec.tenant_column].drop_nulls().unique()}
    return sorted(found)


def record_refusal(
    home: Path,
    identity: Identity | None,
    action: str,
    tables: list[str],
    reason: str,
    **detail: object,
) -> None:
    """Put a refused read in the audit trail under `identity`'s actor (the OS user for None):
    the `action` refused, the `tables` it asked for and why, outcome `refused`."""
    from market_spine.audit.recorder import record

    record(
        home,
        action,
        tables[0] if len(tables) == 1 else ",".join(tables),
        {"tables": tables, "reason": reason, "tenant": getattr(identity, "tenant", None), **detail},
        REFUSED,
        actor=None if identity is None else identity.actor,
    )
