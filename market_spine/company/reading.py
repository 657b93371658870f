"""Reading a company dataset as an identity may see it: only its tenant's rows when it is bound
to one, personal-data columns masked unless it holds the `pii` scope, and every clear read of
personal data recorded in the audit trail under the reader's actor. The API, Spine opened with
a key and its SQL views all read through here, so the rules hold on every path."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from market_spine.audit.recorder import recorder
from market_spine.catalog.vocabulary import DatasetSpec, UnknownDataset
from market_spine.certification.status import CertificationStates
from market_spine.certification.tables import READINESS_LOG
from market_spine.company.catalog import COMPANY_DATASETS, company_spec
from market_spine.company.masking import for_tenant, masked, scoped_view_sql, tenant_value
from market_spine.company.tables import BUSINESS_DATE
from market_spine.company.tenancy import counts_hidden, refusal, refuse, shared_rows
from market_spine.lake.store import Lake
from market_spine.security.identity import Identity
from market_spine.security.pii_hash_key import pii_hash_key

#: The audit action of a read that returned personal data in clear.
CLEAR_PII_READ = "pii.read_clear"


def silver_name(name: str, identity: Identity | None = None) -> str:
    """The silver table of a company dataset named as in its YAML (`clients`), or the table
    itself; UnknownDataset listing the company datasets when there is none (only those
    `identity` may read, when given: an error names nothing its reader may not see)."""
    for candidate in (name, f"normalized/company_{name}"):
        spec = company_spec(candidate)
        if spec is not None:
            return spec.name
    known = sorted(
        s.name.removeprefix("normalized/company_")
        for s in COMPANY_DATASETS
        if s.layer == "normalized" and (identity is None or identity.may_read(s.name))
    )
    listed = (
        f"the company datasets you may read are {', '.join(known)}"
        if known
        else ("you may read no company dataset")
    )
    raise UnknownDataset(f"no company dataset {name!r}: {listed}")


def _spec(dataset: str) -> DatasetSpec:
    spec = company_spec(dataset)
    if spec is None:
        raise UnknownDataset(f"{dataset!r} is not a company table")
    return spec


def scoped(spec: DatasetSpec, rows: pl.DataFrame, identity: Identity, home: Path) -> pl.DataFrame:
    """`rows` of `spec`'s table as `identity` may see them; a clear read of PII is audited."""
    rows = for_tenant(rows, spec.tenant_column, identity.tenant)
    pii = dict(spec.pii)
    shown = [c for c in pii if c in rows.columns]
    if not identity.pii:
        return masked(rows, pii, pii_hash_key(home))
    if shown and rows.height:
        record_clear_read(home, identity, spec.name, shown, rows.height)
    return rows


def record_clear_read(
    home: Path,
    identity: Identity,
    dataset: str,
    columns: list[str],
    rows: int,
    **detail: object,
) -> None:
    """Put a read that returned `dataset`'s personal-data `columns` in clear in the audit
    trail, under `identity`'s actor (with how many rows, its tenant and any `detail`)."""
    recorder(home).record(
        identity.actor,
        CLEAR_PII_READ,
        dataset,
        {"columns": columns, "rows": rows, "tenant": identity.tenant, **detail},
    )


def read(
    lake: Lake,
    dataset: str,
    identity: Identity,
    home: Path,
    states: CertificationStates | None = None,
) -> pl.DataFrame:
    """Every row of a company table `identity` may see (tenant-scoped, PII per its scope),
    each with its partition's `certification` as market data carries it (`states`: the
    reader's cached certifications, read afresh when None); AccessRefused for a table
    without tenants to an identity bound to one."""
    spec = _spec(dataset)
    refuse(spec.name, identity)
    if not lake.exists(dataset):
        rows = pl.DataFrame(schema={c.name: c.dtype for c in spec.columns})
    elif spec.tenant_column and identity.tenant is not None:
        rows = lake.read(dataset, equals=_tenant_equals(spec, identity.tenant))
    else:
        rows = lake.read(dataset)
    rows = scoped(spec, rows, identity, home)
    return certified(rows, dataset, states or CertificationStates(lake))


#: The column a whole-table read briefly carries: the date its newest judgment is keyed by.
_JUDGED_ON = "_judged_on"


def certified(rows: pl.DataFrame, dataset: str, states: CertificationStates) -> pl.DataFrame:
    """`rows` of a company table with the `certification` of the partition each belongs to:
    a daily table's business date, or, for a table judged whole at each capture, the newest
    capture judged (its date keys the judgment)."""
    if BUSINESS_DATE in rows.columns:
        return states.attach(rows, dataset, by_symbol=False, day=BUSINESS_DATE)
    newest = max((day for day, _ in states.of(dataset)), default=None)
    judged = rows.with_columns(pl.lit(newest, pl.Date()).alias(_JUDGED_ON))
    return states.attach(judged, dataset, by_symbol=False, day=_JUDGED_ON).drop(_JUDGED_ON)


def visible_rows(lake: Lake, dataset: str, identity: Identity) -> int | None:
    """How many rows of a company table `identity` sees (its catalog row count); None when
    it may read none of them."""
    spec = _spec(dataset)
    if not lake.exists(dataset) or refusal(spec.name, identity) is not None:
        return None
    if spec.tenant_column is None or identity.tenant is None:
        return lake.read(dataset, columns=[spec.columns[0].name]).height
    equals = _tenant_equals(spec, identity.tenant)
    if not equals:
        return 0
    return lake.read(dataset, equals=equals, columns=[spec.tenant_column]).height


def _tenant_equals(spec: DatasetSpec, tenant: str) -> dict[str, object]:
    """The lake filter keeping `tenant`'s rows of `spec`'s table, its tenant compared in the
    column's type; empty when no row can be the tenant's (`scoped` then keeps none)."""
    assert spec.tenant_column is not None
    dtypes = {c.name: c.dtype for c in spec.columns}
    value = tenant_value(tenant, dtypes.get(spec.tenant_column))
    return {} if value is None else {spec.tenant_column: value}


def catalog_rows(
    lake: Lake, dataset: str, identity: Identity | None, rows: int | None
) -> int | None:
    """The row count the catalog shows `identity` for `dataset`, whose whole table holds
    `rows`: all of them unless it is bound to a tenant; then its tenant's rows of a company
    table, and none of any table but market data (`tenancy.counts_hidden`)."""
    if identity is None or identity.tenant is None:
        return rows
    if company_spec(dataset) is not None:
        return visible_rows(lake, dataset, identity)
    return None if counts_hidden(dataset, identity) else rows


def view_sql(spec: DatasetSpec, body: str, identity: Identity) -> str:
    """A SQL view of a company table as `identity` may see it, over the table's `body`."""
    if identity.pii and (spec.tenant_column is None or identity.tenant is None):
        return body
    pii = {} if identity.pii else dict(spec.pii)
    columns = [(c.name, c.dtype) for c in spec.columns]
    return scoped_view_sql(columns, pii, body, spec.tenant_column, identity.tenant)


def readiness_as(rows: pl.DataFrame, identity: Identity | None) -> pl.DataFrame:
    """Readiness rows as `identity` may see them: bound to a tenant, it does not see the row
    counts of company tables (they count every tenant's rows, or are not split by tenant);
    their state, capture and compute time are the table's and stay."""
    return shared_rows(READINESS_LOG, rows, identity)
