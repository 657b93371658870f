"""Auditing the changes the platform makes where they are written: runs launched or submitted
(who, from where, with which parameters), certification transitions and retention prunings.
Each hook is one call at the write; the entry goes to the home the lake or settings belong to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from market_spine.audit.recorder import record
from market_spine.config.secrets import mask

#: Run tags worth an audit entry (Dagster's own bookkeeping tags are left out).
_RUN_TAG_PREFIXES = (
    "market_spine/",
    "dagster/partition",
    "dagster/asset_partition",
    "dagster/backfill",
)


def home_of_lake(root: Path) -> Path | None:
    """The home a lake root `<home>/lake` belongs to; None for a lake outside a home."""
    root = Path(root)
    return root.parent if root.name == "lake" else None


def run_launched(
    home: Path,
    run_id: str,
    tags: Mapping[str, str],
    assets: Iterable[Any] = (),
    *,
    action: str = "run.launch",
) -> None:
    """A run created or submitted: its id, selection and provenance tags, under the user the
    `launched_by` tag names."""
    kept = {k: str(mask(v)) for k, v in tags.items() if k.startswith(_RUN_TAG_PREFIXES)}
    params = {"run_id": run_id, "tags": kept, "assets": sorted(map(_asset, assets))}
    actor = tags.get("market_spine/launched_by") or None
    record(home, action, "", params, tags.get("market_spine/launched_from", ""), actor=actor)


def _asset(key: Any) -> str:
    path = getattr(key, "path", None)
    return "/".join(path) if path else str(key)


def certifications(lake_root: Path, transitions: Sequence[Mapping[str, Any]]) -> None:
    """Each certification transition (state changes of a partition) written by a run."""
    home = home_of_lake(lake_root)
    if home is None:
        return
    for t in transitions:
        params = {
            k: t.get(k)
            for k in ("partition", "previous_state", "reason", "run_id", "delta_version")
        }
        record(home, "certification.change", str(t.get("dataset", "")), params, str(t.get("state")))


def prunings(lake_root: Path, rows: Sequence[Mapping[str, Any]], retention_hours: int) -> None:
    """Each table pruned (or kept past the retention for pins) by maintenance."""
    home = home_of_lake(lake_root)
    if home is None:
        return
    for row in rows:
        params = {k: v for k, v in row.items() if k != "dataset"}
        params["retention_hours"] = retention_hours
        record(home, "retention.prune", str(row.get("dataset", "")), params)
