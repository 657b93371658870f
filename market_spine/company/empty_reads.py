"""Why a read of a company dataset came back with no rows: its drop folder is missing (where it
is expected, and which key says so), or nothing was captured yet, or retention deleted every
row, or its reader's tenant has no rows. The API sends it as `empty_reason`; Spine raises it
as an `EmptyReadWarning`."""

from __future__ import annotations

from pathlib import Path

from market_spine.company.config import FilesSource
from market_spine.company.home_defs import all_declared
from market_spine.company.retention import RETENTION_OPERATION
from market_spine.company.tables import PREFIX, SILVER, silver_table
from market_spine.lake.store import Lake
from market_spine.markets.empty_reads import NOT_LOADED, EmptyReason

#: A `files` source's drop folder does not exist, so nothing can be captured.
NO_DROP_FOLDER = "no_drop_folder"
#: What makes a company dataset hold rows.
_PROCESS = "market-spine process --domain company"


def why_empty(
    lake: Lake, table: str, home: Path, tenant: str | None = None, *, admin: bool = False
) -> EmptyReason:
    """Why the silver `table` of a company dataset gave a reader (bound to `tenant`, or not)
    no rows: `no_drop_folder`, else `not_loaded`. Only an `admin` reader is shown where the
    folder is expected on the server; others are told the dataset and the operator's fix."""
    name = table.removeprefix(f"{SILVER}/{PREFIX}")
    setting = ""
    for declared in all_declared(home):
        config = declared.config
        if silver_table(config) != table:
            continue
        name, source = config.name, config.source
        if config.retention_days is not None:
            setting = f"`retention_days: {config.retention_days}` in {declared.path}"
        if isinstance(source, FilesSource):
            drop = source.drop(declared.folder)
            if not drop.is_dir() and not admin:
                return EmptyReason(
                    NO_DROP_FOLDER,
                    f"{name}'s drop folder is missing, so nothing of it can be captured: an "
                    f"operator must create the folder its YAML's `attributes.source.path` "
                    f"names, put the {source.format} files there and run `{_PROCESS}`",
                )
            if not drop.is_dir():
                return EmptyReason(
                    NO_DROP_FOLDER,
                    f"{name}'s drop folder is missing: it is expected at {drop} (key "
                    f"`attributes.source.path` {source.path!r} of {declared.path}); create "
                    f"it, put the {source.format} files there and run `{_PROCESS}`",
                )
        break
    if not lake.exists(table):
        return EmptyReason(NOT_LOADED, f"nothing of {name} is captured yet: run `{_PROCESS}`")
    if tenant is not None:
        return EmptyReason(
            NOT_LOADED, f"{name} holds no rows of tenant {tenant!r}, the one your key reads"
        )
    deleted = _retention_deletion(lake, table)
    if deleted is not None:
        cutoff = str(deleted.get("cutoff", "?"))[:10]
        under = f" under {setting}" if setting else ""
        return EmptyReason(
            NOT_LOADED,
            f"{name} holds no rows: retention deleted them, every row being older than its "
            f"cutoff {cutoff}{under}; raise retention_days to keep older rows, or capture "
            f"newer ones ({_PROCESS})",
        )
    return EmptyReason(
        NOT_LOADED, f"{name} holds no rows: its source had none when last captured ({_PROCESS})"
    )


def _retention_deletion(lake: Lake, table: str) -> dict[str, object] | None:
    """The metadata of `table`'s newest commit when it is a retention deletion (the one that
    left it empty), else None."""
    newest = lake.history(table, limit=1)
    if newest and newest[0].get("deleted_by") == RETENTION_OPERATION:
        return newest[0]
    return None
