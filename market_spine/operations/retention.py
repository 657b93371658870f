"""Lake maintenance under the retention policy: every table is compacted and pruned to the home's
retention horizon while the versions certification pins stay whole, and every pruning is
recorded in `operations/prunings` (which files, how many bytes, which versions, when, by which
run). The scheduled job and `market-spine maintain` both run `maintain_lake`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import polars as pl

from market_spine.audit import changes as audit_changes
from market_spine.catalog.vocabulary import Catalog, DatasetFamily, SchemaChange
from market_spine.certification.pins import pinned_versions
from market_spine.errors import LakeError
from market_spine.lake.maintenance import MaintenanceReport, maintain
from market_spine.lake.pruning import Pruning
from market_spine.lake.store import Lake

if TYPE_CHECKING:
    from market_spine.company.retention import Expired, Undeclared

PRUNINGS = "operations/prunings"

#: One row per table a maintenance pass deleted anything of, or kept files of for pins.
PRUNINGS_SCHEMA: dict[str, pl.DataType] = {
    "dataset": pl.String(),
    "run_id": pl.String(),
    "pruned_at": pl.Datetime("us", "UTC"),
    "retention_hours": pl.Int64(),
    "files_removed": pl.Int64(),
    "bytes_removed": pl.Int64(),
    "uncommitted_removed": pl.Int64(),
    "versions_removed": pl.Int64(),
    "versions": pl.String(),
    "log_files_removed": pl.Int64(),
    "pinned_versions": pl.String(),
    "kept_for_pins": pl.Int64(),
    "files": pl.String(),
}

_GLOSSARY = {
    "dataset": "The pruned table, e.g. normalized/futures_bars_1m.",
    "run_id": "The Dagster run (or `cli-<ULID>` for `market-spine maintain`) that pruned it.",
    "pruned_at": "When the pruning finished (UTC).",
    "retention_hours": "The horizon: unpinned history younger than this was kept.",
    "files_removed": "Data files deleted (removed from the table, or never committed).",
    "bytes_removed": "Their total size in bytes.",
    "uncommitted_removed": "Of those, files no version ever referenced (a write that died).",
    "versions_removed": "How many versions lost a file: they can no longer be read.",
    "versions": "Those versions as ranges, e.g. `0..4,6`.",
    "log_files_removed": "Delta log files (commits, checkpoints) trimmed below what is kept.",
    "pinned_versions": "The versions pinned by certification at the time, as ranges.",
    "kept_for_pins": "Files past the retention kept only because a pinned version needs them.",
    "files": "The deleted files, relative to the table, newline-separated.",
}

PRUNINGS_SPEC = DatasetFamily(
    owner="team:platform",
    partitioning="none (append-only)",
    glossary=_GLOSSARY,
    history=(SchemaChange(1, date(2026, 12, 1), "first version"),),
).dataset(
    PRUNINGS,
    PRUNINGS_SCHEMA,
    description=(
        "Every pruning of a lake table's history by maintenance: the files and bytes deleted, "
        "the versions that can no longer be read, the log trimmed and the pinned versions kept."
    ),
    grain="one row per table per maintenance pass that deleted anything or kept files past "
    "the retention for pinned versions",
    written_by="the lake maintenance job and `market-spine maintain`",
)


def ranges(values: Iterable[int]) -> str:
    """Sorted integers as compact ranges: `0..4,6`."""
    out: list[str] = []
    run: list[int] = []
    for v in sorted(set(values)):
        if run and v != run[-1] + 1:
            out.append(f"{run[0]}..{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(v)
    if run:
        out.append(f"{run[0]}..{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def descendants(catalog: Catalog) -> dict[str, set[str]]:
    """Each dataset's descendants by the catalog's lineage (`upstream`), transitively."""
    children: dict[str, set[str]] = {}
    for spec in catalog:
        for parent in spec.upstream:
            children.setdefault(parent, set()).add(spec.name)
    out: dict[str, set[str]] = {}
    for name in [s.name for s in catalog]:
        seen: set[str] = set()
        todo = list(children.get(name, ()))
        while todo:
            child = todo.pop()
            if child not in seen:
                seen.add(child)
                todo.extend(children.get(child, ()))
        out[name] = seen
    return out


@dataclass
class LakeMaintenance:
    """One pass over the lake: each maintained table's report, the tables refused as damaged
    (with why) and the prunings recorded."""

    reports: list[MaintenanceReport] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    recorded: int = 0
    #: Rows deleted past a company dataset's own retention, per table.
    expired: list[Expired] = field(default_factory=list)
    #: Company tables no dataset declares, so no retention is known (each a warning).
    undeclared: list[Undeclared] = field(default_factory=list)


def _row(pruning: Pruning, run_id: str, retention_hours: int, at: datetime) -> dict:
    return {
        "dataset": pruning.dataset,
        "run_id": run_id,
        "pruned_at": at,
        "retention_hours": retention_hours,
        "files_removed": len(pruning.files),
        "bytes_removed": pruning.bytes,
        "uncommitted_removed": pruning.uncommitted,
        "versions_removed": len(pruning.versions),
        "versions": ranges(pruning.versions),
        "log_files_removed": pruning.log_files,
        "pinned_versions": ranges(pruning.pinned),
        "kept_for_pins": pruning.kept_for_pins,
        "files": "\n".join(pruning.files),
    }


def _expire_company_rows(lake: Lake, run_id: str, done: LakeMaintenance) -> None:
    """Delete the company datasets' rows past each one's `retention_days` (the package's and
    the home's datasets); a table that cannot be written is refused, the others go on, and
    a company table no dataset declares is named in `done.undeclared`."""
    from market_spine.company.home_defs import all_configs
    from market_spine.company.retention import expire, undeclared

    now = datetime.now(UTC)
    declared = all_configs(lake.local.parent)
    done.undeclared = undeclared(lake.datasets(), declared)
    for config in declared:
        try:
            done.expired += expire(lake, config, now, run_id)
        except LakeError as exc:
            done.refused[f"company/{config.name}"] = f"retention of {config.name}: {exc}"


def maintain_lake(
    lake: Lake,
    retention_hours: int,
    run_id: str,
    on_report: Callable[[MaintenanceReport], None] | None = None,
) -> LakeMaintenance:
    """Delete the company datasets' rows past their own retention (`done.expired`), then
    maintain every table at `retention_hours`, keeping the versions certification pins
    (their descendants' too, by the catalog's lineage), and record each pruning in one commit
    of `operations/prunings`. A damaged table is refused without stopping the others."""
    from market_spine.catalog.registry import CATALOG

    pins = pinned_versions(lake, descendants(CATALOG))
    done = LakeMaintenance()
    # Rows past a dataset's own retention go first, so the files only they held are pruned
    # in this same pass unless a pinned version still needs them.
    _expire_company_rows(lake, run_id, done)
    rows = []
    for dataset in lake.datasets():
        try:
            report = maintain(
                lake, dataset, retention_hours=retention_hours, pinned=pins.get(dataset, ())
            )
        except LakeError as exc:
            done.refused[dataset] = str(exc)
            continue
        done.reports.append(report)
        if on_report is not None:
            on_report(report)
        # A pass that kept files only for pinned versions is recorded too: it is the audit
        # trail of why history past the retention is still on disk.
        pruning = report.pruning
        if pruning is not None and (not pruning.empty or pruning.kept_for_pins):
            rows.append(_row(pruning, run_id, retention_hours, datetime.now(UTC)))
    if rows:
        lake.append(
            PRUNINGS, pl.DataFrame(rows, schema=PRUNINGS_SCHEMA), metadata={"run_id": run_id}
        )
        done.recorded = len(rows)
        audit_changes.prunings(lake.local, rows, retention_hours)
    return done
