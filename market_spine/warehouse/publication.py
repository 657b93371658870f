"""The warehouse every node reads: after a build, its DuckDB file is published to the lake's
object store (`<lake>/_warehouse/`), and a node about to build or read takes the newest
published copy first.

Used when the home is not shared between machines (`state_database` set, the lake on object
storage): each node's home keeps a local copy. The published copy is the truth: a build starts
from it (its local marker is removed before dbt touches the file, so a failed build's partial
changes are replaced by the next refresh, never published), and builds follow one another
through the instance's `duckdb_warehouse` pool. Copies are whole files checked by SHA-256 on
arrival; the newest `KEPT` stay published.

DuckDB cannot open a database over S3 without its httpfs extension (not installable offline),
so a node reads its own copy.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from market_spine.errors import LakeDamaged
from market_spine.lake.storage import LocalStorage, Storage
from market_spine.warehouse.lock import DEFAULT_TIMEOUT_S, warehouse_lock
from market_spine.warehouse.paths import lock_path, warehouse_dir, warehouse_path

if TYPE_CHECKING:
    from market_spine.settings import Settings

#: The folder under the lake root that holds published warehouses and the pointer.
PUBLISHED_DIR = "_warehouse"
POINTER = "current.json"
#: The local marker naming the publication the home's copy is.
MARKER = "spine.published.json"
#: Published warehouses kept (the newest); older ones are deleted after each publication.
KEPT = 3
#: Seconds a reader trusts its last look at the pointer before asking the store again.
CHECK_EVERY_S = 5.0

_checked: dict[Path, float] = {}
_checked_lock = threading.Lock()


@dataclass(frozen=True)
class Publication:
    """One published warehouse: its build id (UTC time and a random suffix, so ids sort by
    time), the SHA-256 and size of its file, and when it was published (ISO 8601, UTC)."""

    build: str
    sha256: str
    size: int
    published_at: str

    @classmethod
    def of(cls, raw: bytes | str) -> Publication:
        data = json.loads(raw)
        return cls(str(data["build"]), str(data["sha256"]), int(data["size"]), data["published_at"])

    def as_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


class PublishedWarehouse:
    """The warehouse of `home` as published under the lake root `root` on `storage`."""

    def __init__(self, home: Path, storage: Storage, root: str) -> None:
        self.home = Path(home)
        self.storage = storage
        self.folder = storage.join(root, PUBLISHED_DIR)

    @property
    def marker(self) -> Path:
        return warehouse_dir(self.home) / MARKER

    def current(self) -> Publication | None:
        """The newest publication, or None before the first."""
        try:
            return Publication.of(self.storage.read(self.storage.join(self.folder, POINTER)))
        except FileNotFoundError:
            return None

    def local(self) -> Publication | None:
        """The publication the home's copy is, or None (no copy, or changed since)."""
        try:
            return Publication.of(self.marker.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError, KeyError):
            return None

    def _build_file(self, build: str) -> str:
        return self.storage.join(self.folder, "builds", f"{build}.duckdb")

    def before_build(self) -> None:
        """Bring the home's copy to the newest publication and mark it changing; the caller
        holds the writer lock."""
        self._take(self.current())
        self.marker.unlink(missing_ok=True)

    def publish(self) -> Publication:
        """Publish the home's freshly built file; the caller holds the writer lock."""
        path = warehouse_path(self.home)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        made = Publication(
            f"{stamp}-{secrets.token_hex(4)}",
            LocalStorage().sha256(str(path)),
            path.stat().st_size,
            datetime.now(UTC).isoformat(),
        )
        self.storage.upload(self._build_file(made.build), path)
        self.storage.put(self.storage.join(self.folder, POINTER), made.as_json().encode())
        self._write_marker(made)
        self._prune(made)
        return made

    def refresh(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
        """Take a newer publication when there is one (asking the store at most every
        CHECK_EVERY_S); True when the home's copy changed. Waits for the writer lock only to
        swap the file in."""
        home = warehouse_dir(self.home)
        now = time.monotonic()
        with _checked_lock:
            if now - _checked.get(home, float("-inf")) < CHECK_EVERY_S:
                return False
            _checked[home] = now
        newest = self.current()
        if newest is None or newest == self.local():
            return False
        with warehouse_lock(lock_path(self.home), timeout_s=timeout_s):
            return self._take(newest)

    def _take(self, newest: Publication | None) -> bool:
        """Replace the home's copy by `newest` unless it already is it; the writer lock held."""
        if newest is None or newest == self.local():
            return False
        target = warehouse_path(self.home)
        target.parent.mkdir(parents=True, exist_ok=True)
        incoming = target.with_name(f".{target.name}.{os.getpid()}.incoming")
        try:
            self.storage.download(self._build_file(newest.build), incoming)
            found = LocalStorage().sha256(str(incoming))
            if found != newest.sha256 or incoming.stat().st_size != newest.size:
                raise LakeDamaged(
                    "the published warehouse",
                    f"build {newest.build} reads {found}, published as {newest.sha256}",
                    partition=self._build_file(newest.build),
                    repair="rebuild the warehouse (`market-spine process` or the UI): the next "
                    "build publishes a sound copy",
                )
            os.chmod(incoming, 0o600)
            os.replace(incoming, target)
            target.with_name(target.name + ".wal").unlink(missing_ok=True)
        finally:
            incoming.unlink(missing_ok=True)
        self._write_marker(newest)
        return True

    def _write_marker(self, made: Publication) -> None:
        tmp = self.marker.with_name(f".{MARKER}.{os.getpid()}")
        tmp.write_text(made.as_json(), encoding="utf-8")
        os.replace(tmp, self.marker)

    def _prune(self, newest: Publication) -> None:
        builds = self.storage.join(self.folder, "builds")
        names = sorted(n for n in self.storage.list(builds) if n.endswith(".duckdb"))
        for name in names[:-KEPT]:
            if name != f"{newest.build}.duckdb":
                self.storage.delete(self.storage.join(builds, name))


def shared_warehouse(home: Path, settings: Settings | None = None) -> PublishedWarehouse | None:
    """The published warehouse of `home` (whose `settings` they are; None: this process's for
    it) when its nodes do not share the home (its stores on PostgreSQL, its lake on object
    storage), else None. Reaches the store the way this process last registered it (a run's
    requests name the run)."""
    from market_spine.settings import Settings

    settings = settings or Settings.for_home(home)
    if not (settings.state_database and settings.lake_uri):
        return None
    from market_spine.errors import InvalidInput
    from market_spine.lake.storage import location_of, normalize_root, storage_at

    root = normalize_root(settings.lake_uri)
    try:
        location_of(root)
    except InvalidInput:
        # Not opened in this process yet: registered now, the process's own way.
        settings.lake()
    return PublishedWarehouse(settings.home, storage_at(root), root)
