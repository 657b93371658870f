"""The catalog listing — every dataset's entry with its live facts — kept ready to serve: built
off the request path, in memory for the API and in a file of the home for the CLI, and rebuilt
when the lake or the warehouse changes.

A listing never waits on the warehouse lock: while a dbt build holds it, the models keep the
facts of the last listing (marked `warehouse_busy`). Whether a listing is current is told by a
`stamp` of cheap `stat` calls (each table's `_delta_log` folder, the warehouse file, the dbt
manifest), so the CLI can answer from the file without importing the registry.

On object storage every look is a paid request: the stamp is one HEAD of the lake's change
marker (every commit rewrites it), and a listing rebuilt only for the instance's news keeps the
previous listing's lake facts while the marker is unchanged (at most LAKE_MAX_AGE_S).

Listing file: `<home>/cache/catalog.json`, `{"stamp": {...}, "built_at": ISO UTC,
"lake_read_at": ISO UTC, "warehouse_busy": bool, "datasets": [entry, ...]}` where an entry is
`catalog.describe`'s.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from market_spine.settings import HOME_COMPANY_DEFS, Settings

log = logging.getLogger("market_spine.catalog.registry")

#: How often the API's watcher stats the home for changes.
POLL_S = 1.0
#: A listing is rebuilt at least this often: Dagster materializations change without a file.
MAX_AGE_S = 30.0
#: On object storage, lake facts unchanged by any commit are read again at least this often
#: (a damaged file changes no marker).
LAKE_MAX_AGE_S = 600.0
LISTING_FILE = Path("cache") / "catalog.json"

Listing = dict[str, Any]


def _mtime(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def stamp(settings: Settings) -> dict[str, int | str | None]:
    """What the listing depends on, by modification time: a new Delta commit adds a file to its
    table's `_delta_log` folder (on object storage, rewrites the lake's change marker); a dbt
    build rewrites the warehouse file."""
    from market_spine.lake.integrity import LEDGER_FILE
    from market_spine.warehouse.paths import warehouse_path

    marks: dict[str, int | str | None] = {}
    lake = settings.lake_root
    if settings.lake_uri:
        # Object storage has no folder times, and listing every table's log is a request per
        # table: the marker every commit rewrites says the same in one.
        marks["lake"] = settings.lake().change_mark()
    elif lake.is_dir():
        for log_dir in sorted(lake.glob("*/*/_delta_log")):
            marks[f"{log_dir.parent.parent.name}/{log_dir.parent.name}"] = _mtime(log_dir)
        # Rows journaled for a table (lake/journal.py) land in the ledger's write-ahead log
        # before any folder of the table changes.
        marks["journal"] = _mtime(lake / f"{LEDGER_FILE}-wal")
    # A home's own company dataset files add datasets to the catalog.
    defs = settings.home / HOME_COMPANY_DEFS
    times = [t for t in map(_mtime, [defs, *defs.rglob("*.y*ml")]) if t is not None]
    marks["home_datasets"] = f"{len(times)}:{max(times, default=0)}"
    db = warehouse_path(settings.home)
    marks["warehouse"] = _mtime(db)
    marks["warehouse.wal"] = _mtime(db.with_name(db.name + ".wal"))
    marks["manifest"] = _mtime(_manifest())
    return marks


def _manifest() -> Path:
    return Path(__file__).resolve().parents[1] / "market_spine_dbt" / "target" / "manifest.json"


def build(
    settings: Settings,
    previous: Listing | None = None,
    instance: Any = None,
    marks: dict[str, Any] | None = None,
) -> Listing:
    """A fresh listing: lake facts from the Delta logs, model facts from the warehouse unless a
    build holds it (then `previous`'s), last materializations from `instance` if given.
    `marks` is the `stamp` just taken, when the caller has one."""
    from market_spine.catalog.facts import lake_facts
    from market_spine.catalog.registry import CATALOG, entry, last_materialization
    from market_spine.warehouse.lock import WarehouseBusy
    from market_spine.warehouse.model_catalog import warehouse_facts

    marks = stamp(settings) if marks is None else marks
    lake = settings.lake()
    specs = list(CATALOG)
    kept = _unchanged_lake_facts(settings, marks, previous)
    models = [s for s in specs if s.kind == "dbt"]
    busy = False
    try:
        in_warehouse = warehouse_facts(settings.home, models, timeout_s=0.0)
    except WarehouseBusy:
        busy = True
        before = {d["name"]: d["facts"] for d in (previous or {}).get("datasets", [])}
        unknown = {"materialized": None, "note": "a dbt build holds the warehouse"}
        in_warehouse = {s.name: dict(before.get(s.name, unknown)) for s in models}
    datasets = []
    for spec in specs:
        if spec.kind == "dbt":
            live = in_warehouse[spec.name]
        elif spec.name in kept:
            live = dict(kept[spec.name])
        else:
            live = lake_facts(lake, spec)
        live.pop("columns_in_table", None)
        live.pop("last_materialization", None)
        live["last_materialization"] = last_materialization(instance, spec)
        datasets.append({**entry(spec), "facts": live})
    now = datetime.now(UTC).isoformat()
    return {
        "stamp": marks,
        "built_at": now,
        "lake_read_at": previous["lake_read_at"] if kept and previous else now,
        "warehouse_busy": busy,
        "datasets": datasets,
    }


def _unchanged_lake_facts(
    settings: Settings, marks: dict[str, Any], previous: Listing | None
) -> dict[str, dict[str, Any]]:
    """The previous listing's lake facts by dataset when nothing was committed to an
    object-storage lake since they were read (less than LAKE_MAX_AGE_S ago), else {}."""
    if not settings.lake_uri or previous is None or marks.get("lake") is None:
        return {}
    if (previous.get("stamp") or {}).get("lake") != marks["lake"]:
        return {}
    try:
        read_at = datetime.fromisoformat(previous["lake_read_at"])
    except (KeyError, TypeError, ValueError):
        return {}
    if (datetime.now(UTC) - read_at).total_seconds() > LAKE_MAX_AGE_S:
        return {}
    return {d["name"]: d["facts"] for d in previous.get("datasets", [])}


def listing_path(settings: Settings) -> Path:
    """Where the home keeps its last listing."""
    return settings.home / LISTING_FILE


def load(settings: Settings) -> Listing | None:
    """The home's last listing, or None when there is none or it cannot be read."""
    try:
        return json.loads(listing_path(settings).read_text())
    except (OSError, ValueError):
        return None


def save(settings: Settings, listing: Listing) -> None:
    """Write the listing atomically; a home that cannot be written keeps working without it."""
    path = listing_path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        partial.write_text(json.dumps(listing, default=str))
        os.replace(partial, path)
    except OSError as exc:
        log.debug("catalog listing not saved: %s", exc)


def current(settings: Settings) -> Listing:
    """The listing, from the home's file when nothing changed since it was built (no registry
    import, no warehouse connection), else freshly built and saved."""
    saved = load(settings)
    if saved is not None and saved.get("stamp") == stamp(settings) and not saved["warehouse_busy"]:
        return saved
    listing = build(settings, saved)
    save(settings, listing)
    return listing


def overview(listing: Listing) -> list[dict[str, Any]]:
    """The listing's entries without their columns (what `/v1/catalog` lists)."""
    return [{k: v for k, v in d.items() if k != "columns"} for d in listing["datasets"]]


class CatalogCache:
    """The API's listing: built by a background thread, read by requests without waiting.

    The thread stats the home every POLL_S and rebuilds when the stamp changed, the warehouse
    was busy last time, or MAX_AGE_S passed; a request never builds, locks or connects.
    """

    def __init__(self, settings: Settings, instance: Callable[[], Any] | None = None) -> None:
        self.settings = settings
        self._open_instance = instance or (lambda: None)
        self._instance: Any = None
        self._listing: Listing | None = load(settings)
        self._body: bytes | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self._listing is not None:
            self._publish(self._listing)

    def start(self) -> None:
        """Start the refresh thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="catalog-refresh", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the refresh thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def refresh(self, marks: dict[str, Any] | None = None) -> None:
        """Build a listing now (the thread's work; tests and benches call it directly), with
        the `stamp` just taken if there is one."""
        listing = build(self.settings, self._listing, self._safe_instance(), marks)
        save(self.settings, listing)
        self._publish(listing)

    def _publish(self, listing: Listing) -> None:
        body = {
            "built_at": listing["built_at"],
            "warehouse_busy": listing["warehouse_busy"],
            "datasets": overview(listing),
        }
        self._body = json.dumps(body, default=str, separators=(",", ":")).encode()
        self._listing = listing
        self._ready.set()

    def _safe_instance(self) -> Any:
        """The home's Dagster instance, opened once (it may appear after the API started)."""
        if self._instance is None:
            try:
                self._instance = self._open_instance()
            except Exception as exc:  # a broken instance must not stop the catalog
                log.warning("Dagster instance unavailable for the catalog: %s", exc)
        return self._instance

    def _run(self) -> None:
        last_build = 0.0
        while not self._stop.is_set():
            listing = self._listing
            try:
                marks: dict[str, Any] | None = stamp(self.settings)
            except Exception:  # a lake that does not answer: rebuild, which says why
                marks = None
            stale = (
                listing is None
                or marks is None
                or listing["warehouse_busy"]
                or listing.get("stamp") != marks
                or time.monotonic() - last_build > MAX_AGE_S
            )
            if stale:
                try:
                    self.refresh(marks)
                except Exception:
                    log.exception("catalog refresh failed; serving the previous listing")
                last_build = time.monotonic()
            self._stop.wait(POLL_S)

    def body(self, wait_s: float = 10.0) -> bytes | None:
        """The `/v1/catalog` JSON, pre-rendered; None if no listing was ever built in time."""
        self._ready.wait(wait_s)
        return self._body

    def entry(self, name: str, wait_s: float = 10.0) -> dict[str, Any] | None:
        """One dataset's full entry (columns included), or None if the listing lacks it."""
        self._ready.wait(wait_s)
        for dataset in (self._listing or {}).get("datasets", []):
            if dataset["name"] == name:
                return dataset
        return None
