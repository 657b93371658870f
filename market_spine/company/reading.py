"""Reading a company dataset as an identity may see it: only its tenant's rows when it is bound
to one, personal-data columns masked unless it holds the `pii` scope, and every clear read of
personal data recorded in the audit trail under the reader's actor. The API, Spine opened with
a key and its SQL views all read through here, so the rules hold on every path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def scoped(
    spec: DatasetSpec, rows: pl.DataFrame, identity: Identity, home: Path, *, audit: bool = True
) -> pl.DataFrame:
    """`rows` of `spec`'s table as `identity` may see them; a clear read of PII is audited
    (unless `audit` is False: the caller audits the rows it hands over, `audit_clear_rows`)."""
    rows = for_tenant(rows, spec.tenant_column, identity.tenant)
    pii = dict(spec.pii)
    if not identity.pii:
        return masked(rows, pii, pii_hash_key(home))
    if audit:
        _audit_clear(spec, rows, identity, home)
    return rows


def audit_clear_rows(dataset: str, rows: pl.DataFrame, identity: Identity, home: Path) -> None:
    """Put `rows` of the company table `dataset` (as `read` names it) in the audit trail when
    they carry personal data in clear to `identity`, with how many rows were handed over."""
    _audit_clear(_spec(dataset), rows, identity, home)


def _audit_clear(spec: DatasetSpec, rows: pl.DataFrame, identity: Identity, home: Path) -> None:
    shown = [c for c, _ in spec.pii if c in rows.columns]
    if identity.pii and shown and rows.height:
        record_clear_read(home, identity, spec.name, shown, rows.height)


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
    *,
    audit: bool = True,
) -> pl.DataFrame:
    """Every row of a company table `identity` may see (tenant-scoped, PII per its scope),
    each with its partition's `certification` as market data carries it (`states`: the
    reader's cached certifications, read afresh when None); AccessRefused for a table
    without tenants to an identity bound to one. A clear read of PII is audited unless
    `audit` is False (a caller handing over only some rows audits those)."""
    spec = _spec(dataset)
    refuse(spec.name, identity)
    if not lake.exists(dataset):
        rows = pl.DataFrame(schema={c.name: c.dtype for c in spec.columns})
    elif spec.tenant_column and identity.tenant is not None:
        rows = lake.read(dataset, equals=_tenant_equals(spec, identity.tenant))
    else:
        rows = lake.read(dataset)
    rows = scoped(spec, rows, identity, home, audit=audit)
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
    `rows` (as `tenant_facts`)."""
    return tenant_facts(lake, dataset, identity, {"rows": rows})["rows"]


#: Catalog facts a tenant-bound identity sees of a table it may not count as they are: what
#: the table is (materialized, its column types, why facts are missing), never a figure of its
#: whole content or history (rows, files, Delta version, commits, runs), which would reveal
#: other tenants' writes. Any other fact, one added later included, is shown as null.
_TENANT_SAFE_FACTS = ("materialized", "column_types", "note")
#: What a tenant-bound identity reads of a damaged table in place of the repair, which names
#: the table's versions and files.
_DAMAGED = "the table cannot be read until an operator repairs it"


def tenant_facts(
    lake: Lake, dataset: str, identity: Identity | None, facts: dict[str, Any]
) -> dict[str, Any]:
    """`dataset`'s live catalog `facts` as `identity` may see them: as they are unless it is
    bound to a tenant; then market data's as they are, a tenant-split company table's row
    count and newest partition from its tenant's rows only, and every other fact but
    `_TENANT_SAFE_FACTS` (files, Delta version, commits, runs, and all of a table it may not
    count) null."""
    if identity is None or identity.tenant is None or not facts:
        return facts
    spec = company_spec(dataset)
    if spec is None and not counts_hidden(dataset, identity):
        return facts
    seen = {k: v if k in _TENANT_SAFE_FACTS else None for k, v in facts.items()}
    if facts.get("damaged"):
        seen["damaged"] = _DAMAGED
        return seen
    if spec is None or refusal(spec.name, identity) is not None or not lake.exists(dataset):
        return seen
    assert spec.tenant_column is not None  # refusal leaves a tenant-bound reader none without
    own = _own_rows(lake, spec, identity.tenant, [spec.tenant_column])
    seen["rows"] = own.height
    if "newest_partition" in facts and BUSINESS_DATE in {c.name for c in spec.columns}:
        newest = _own_rows(lake, spec, identity.tenant, [BUSINESS_DATE])[BUSINESS_DATE].max()
        seen["newest_partition"] = None if newest is None else str(newest)
    return seen


def _own_rows(lake: Lake, spec: DatasetSpec, tenant: str, columns: list[str]) -> pl.DataFrame:
    """`columns` of `tenant`'s rows of `spec`'s table (none when no row can be its)."""
    equals = _tenant_equals(spec, tenant)
    if not equals:
        return pl.DataFrame(schema={c: pl.String() for c in columns})
    return lake.read(spec.name, equals=equals, columns=columns)


def view_sql(spec: DatasetSpec, body: str, identity: Identity) -> str:
    """A SQL view of a company table as `identity` may see it, over the table's `body`."""
    if identity.pii and (spec.tenant_column is None or identity.tenant is None):
        return body
    pii = {} if identity.pii else dict(spec.pii)
    columns = [(c.name, c.dtype) for c in spec.columns]
    return scoped_view_sql(columns, pii, body, spec.tenant_column, identity.tenant)


def readiness_as(lake: Lake, rows: pl.DataFrame, identity: Identity | None) -> pl.DataFrame:
    """Readiness rows as `identity` may see them. Bound to a tenant, it sees no partition of
    a tenant-split company table that holds only other tenants' rows (a business date, or
    for a table judged whole, a capture), and each it keeps counts its own rows; other
    company tables' counts are left out (they count every tenant's rows); their state,
    capture and compute time are the table's and stay."""
    rows = shared_rows(READINESS_LOG, rows, identity)
    if identity is None or identity.tenant is None or rows.is_empty():
        return rows
    for dataset in rows["dataset"].unique().to_list():
        spec = company_spec(dataset)
        if spec is None or spec.tenant_column is None or not lake.exists(dataset):
            continue
        mine = rows["dataset"] == dataset
        counts = _own_partitions(lake, spec, identity.tenant)
        theirs = rows.filter(mine).join(counts, on="partition", how="inner")
        theirs = theirs.with_columns(pl.col("_own").cast(rows.schema["present"]).alias("present"))
        rows = pl.concat([rows.filter(~mine), theirs.drop("_own")], how="vertical")
    return rows.sort(["dataset", "trade_date"], maintain_order=True)


def _own_partitions(lake: Lake, spec: DatasetSpec, tenant: str) -> pl.DataFrame:
    """`partition` (as readiness keys it: a business date, else a capture id) and `_own`
    (how many of the partition's rows are `tenant`'s) for each partition holding its rows."""
    daily = BUSINESS_DATE in {c.name for c in spec.columns}
    if daily:
        own = _own_rows(lake, spec, tenant, [BUSINESS_DATE])
        key = pl.col(BUSINESS_DATE).cast(pl.String())
    else:
        raw = company_spec(spec.name.replace("normalized/", "raw/", 1))
        source = raw if raw is not None and lake.exists(raw.name) else spec
        own = _own_rows(lake, source, tenant, ["capture_id"])
        key = pl.col("capture_id").cast(pl.String())
    return own.group_by(key.alias("partition")).agg(pl.len().alias("_own"))
