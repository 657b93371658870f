"""`market-spine verify`: find every damaged part of a home and the command that repairs it.

Per lake table: the log's continuity and its files against the integrity ledger; every file
the newest version references (exists, size, footer readable, the log's statistics against the
footer's); with `deep`, also each file's SHA-256 against its record, a whole read with its page
checksums verified, and the log's statistics against the data itself. Orphans (data files no
commit references) are warnings. Beside the tables: the ledger's SQLite database (`quick_check`,
or `integrity_check` deep), or, on PostgreSQL, that it answers (the server checks its own pages).
The rest of a home (warehouse, instance) is verified by `operations.home_verification`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from market_spine.errors import LakeDamaged, LakeError
from market_spine.lake.files import LogListing
from market_spine.lake.filters import comparable
from market_spine.lake.integrity import SharedLedger
from market_spine.lake.reader import FileEntry, Snapshot, open_table
from market_spine.lake.repair import APPEND_ONLY_LAYERS, day_of
from market_spine.lake.storage import Storage
from market_spine.lake.store import Lake
from market_spine.lake.writer import remove_action


@dataclass(frozen=True)
class Finding:
    """One thing wrong: what (`subject`, a file in it), why, and the command that repairs it.
    `damage` is False for a warning, which reads are not affected by."""

    subject: str
    path: str | None
    problem: str
    repair: str
    damage: bool = True


@dataclass
class Report:
    """Everything one verification found, with what it looked at."""

    findings: list[Finding] = field(default_factory=list)
    tables: int = 0
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0

    @property
    def damaged(self) -> bool:
        """True when anything is damaged (warnings alone are not)."""
        return any(f.damage for f in self.findings)

    def damaged_paths(self, subject: str) -> set[str]:
        """The damaged files found in one subject (table-relative paths)."""
        return {f.path for f in self.findings if f.damage and f.subject == subject and f.path}

    def log_damage(self) -> list[Finding]:
        """The findings of damage to a table's log (its file list cannot be trusted)."""
        return [f for f in self.findings if f.damage and (f.path or "").startswith("_delta_log")]

    def as_json(self) -> dict[str, Any]:
        """The report as plain data (`verify --json`)."""
        return {
            "damaged": self.damaged,
            "tables": self.tables,
            "files": self.files,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "findings": [asdict(f) for f in self.findings],
        }


def _from_damage(exc: LakeDamaged) -> Finding:
    return Finding(exc.dataset, exc.path, f"{exc.problem} ({exc.partition})", exc.repair)


# -- one table --------------------------------------------------------------------------------


def _unparsable_commits(store: Storage, table_dir: str) -> list[tuple[str, str]]:
    """Commit files that are not JSON lines (delta-rs may panic on them rather than raise)."""
    log_dir = store.join(table_dir, "_delta_log")
    listing = LogListing.of(store, log_dir)
    bad = []
    for version in listing.versions:
        if version <= listing.base(listing.newest()):
            continue
        name = f"{version:020d}.json"
        try:
            for line in store.read(store.join(log_dir, name)).decode().splitlines():
                if line.strip():
                    json.loads(line)
        except (UnicodeDecodeError, ValueError) as exc:
            bad.append((name, f"{type(exc).__name__}: {exc}"))
    return bad


def _referenced_anywhere(store: Storage, table_dir: str) -> set[str]:
    """Every data path any commit still in the log adds or removes (time travel may need it)."""
    paths: set[str] = set()
    log_dir = store.join(table_dir, "_delta_log")
    for name in LogListing.of(store, log_dir).names:
        if not name.endswith(".json") or len(name) != 25:
            continue
        text = store.read(store.join(log_dir, name)).decode(errors="replace")
        for line in text.splitlines():
            try:
                action = json.loads(line)
            except ValueError:
                continue
            for kind in ("add", "remove"):
                if isinstance(action.get(kind), dict) and "path" in action[kind]:
                    paths.add(unquote(action[kind]["path"]))
    return paths


def _bounds_problem(
    f: FileEntry, data_min: dict[str, Any], data_max: dict[str, Any], rows: int, source: str
) -> str | None:
    """Why the log's statistics of `f` would prune rows its `source` (footer or data) holds."""
    if rows != f.rows:
        return f"the log says {f.rows} rows, its {source} holds {rows}"
    for col, low in f.mins.items():
        high = f.maxs.get(col)
        lo, hi = data_min.get(col), data_max.get(col)
        if low is None or high is None or lo is None or hi is None:
            continue
        try:
            if low > lo or high < hi:
                return (
                    f"the log's {col} range [{_show(col, low)}, {_show(col, high)}] does not "
                    f"cover the range [{_show(col, lo)}, {_show(col, hi)}] its {source} holds, "
                    "so reads would skip rows"
                )
        except TypeError:
            continue
    return None


def _show(col: str, value: Any) -> Any:
    return day_of(value) if col == "trade_date" and isinstance(value, int) else value


def _footer_bounds(meta: pq.FileMetaData) -> tuple[dict[str, Any], dict[str, Any]]:
    """Min and max per column from the footer's row-group statistics, as the index's keys."""
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    for i in range(meta.num_columns):
        name = meta.schema.column(i).name
        lows, highs = [], []
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(i).statistics
            if stats is None or not stats.has_min_max:
                break
            lows.append(comparable(stats.min))
            highs.append(comparable(stats.max))
        else:
            if lows:
                mins[name], maxs[name] = min(lows), max(highs)
    return mins, maxs


def _data_bounds(table: pa.Table) -> tuple[dict[str, Any], dict[str, Any]]:
    """Min and max per column of the rows themselves, as the index's keys."""
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            column = pc.cast(column, pa.timestamp("ns", column.type.tz))
            ints = column.cast(pa.int64())
            result = pc.min_max(ints)
        elif pa.types.is_date32(column.type):
            result = pc.min_max(column.cast(pa.int32()))
        elif (
            pa.types.is_integer(column.type)
            or pa.types.is_floating(column.type)
            or pa.types.is_string(column.type)
        ):
            result = pc.min_max(column)
        else:
            continue
        lo, hi = result["min"].as_py(), result["max"].as_py()
        if lo is not None:
            mins[name], maxs[name] = lo, hi
    return mins, maxs


def _check_file(
    store: Storage, ledger_files: dict[str, tuple[int, str]], f: FileEntry, deep: bool
) -> tuple[str | None, int]:
    """What is wrong with one referenced file (None: nothing), and the bytes looked at."""
    try:
        size = store.stat(f.path).size
    except FileNotFoundError:
        return "is missing", 0
    if size != f.size:
        return f"has {size} bytes, the log says {f.size} (cut short or grown)", 0
    record = ledger_files.get(f.rel)
    if record is not None and record[0] != f.size:
        return f"is listed in the log with {f.size} bytes, {record[0]} were committed", 0
    # On object storage the whole object is fetched once; locally the file is opened by path.
    data = None if store.local else store.read(f.path)
    source: Any = f.path if data is None else pa.BufferReader(data)
    try:
        meta = pq.read_metadata(source)
    except Exception as exc:  # pyarrow raises several types for a broken footer
        return f"has an unreadable footer ({type(exc).__name__}: {exc})", size
    problem = _bounds_problem(f, *_footer_bounds(meta), meta.num_rows, "footer")
    if problem or not deep:
        return problem, 0
    digest = store.sha256(f.path) if data is None else hashlib.sha256(data).hexdigest()
    if record is not None and digest != record[1]:
        return "differs from the file committed (SHA-256 mismatch)", size
    try:
        if data is not None:
            source = pa.BufferReader(data)
        table = pq.ParquetFile(source, page_checksum_verification=True).read()
    except Exception as exc:  # pyarrow raises OSError, ArrowInvalid and others for bad bytes
        return f"is unreadable ({type(exc).__name__}: {exc})", size
    return _bounds_problem(f, *_data_bounds(table), table.num_rows, "data"), size


def verify_table(lake: Lake, dataset: str, *, deep: bool = False) -> Report:
    """Verify one lake table; a damaged log stops at the log (its file list cannot be trusted)."""
    report = Report(tables=1)
    table_dir = lake.location(dataset)
    ledger = lake.ledger
    garbage = _unparsable_commits(lake.storage, table_dir)
    if garbage:
        name, why = garbage[0]
        exc = ledger.log_damage(dataset, table_dir, f"log file {name} is not JSON lines ({why})")
        report.findings.append(Finding(dataset, f"_delta_log/{name}", exc.problem, exc.repair))
        return report
    try:
        snapshot = lake.snapshot(dataset)
    except LakeDamaged as exc:
        report.findings.append(_from_damage(exc))
        return report
    except LakeError as exc:
        report.findings.append(Finding(dataset, "_delta_log", str(exc), "see the error"))
        return report
    records = ledger.file_records(dataset)
    if not ledger.known(dataset):
        # Tables that only grow by appends never rewrite their older files: nothing records
        # those but the checks they already get.
        grows_only = dataset.split("/")[0] in (*APPEND_ONLY_LAYERS, "operations")
        report.findings.append(
            Finding(
                dataset,
                None,
                "has no integrity records (written before the ledger): its files are checked "
                "by page checksums and footers only",
                "none needed: its older files keep those checks, and every new commit is recorded"
                if grows_only
                else f"rewrite it to record it: `market-spine process` over its dates "
                f"({_span(snapshot)})",
                damage=False,
            )
        )
    for f in snapshot.files:
        problem, looked = _check_file(lake.storage, records, f, deep)
        report.files += 1
        report.bytes += looked
        if problem:
            exc = ledger.file_damage(dataset, f, problem)
            report.findings.append(_from_damage(exc))
    report.findings += _orphans(lake, dataset, snapshot)
    return report


def _span(snapshot: Snapshot) -> str:
    days = [day_of(v) for f in snapshot.files for v in (f.mins.get("trade_date"),) if v]
    return f"{min(days)}..{max(days)}" if days else "all of them"


def _orphans(lake: Lake, dataset: str, snapshot: Snapshot) -> list[Finding]:
    """Data files in the lake that no commit in the log adds or removes: left by failed
    commits."""
    store = lake.storage
    table_dir = lake.location(dataset)
    known = {f.rel for f in snapshot.files} | _referenced_anywhere(store, table_dir)
    found = []
    now = time.time()
    for rel in sorted(store.walk(table_dir)):
        if not rel.endswith(".parquet") or rel.startswith("_delta_log/") or rel in known:
            continue
        age_h = (now - store.stat(store.join(table_dir, rel)).mtime) / 3600
        found.append(
            Finding(
                dataset,
                rel,
                f"is an orphan: no commit references it (written {age_h:.1f} h ago, most likely "
                "by a commit that failed); reads never see it",
                "`market-spine maintain --retention-hours H` deletes orphans older than H hours",
                damage=False,
            )
        )
    return found


# -- beside the lake --------------------------------------------------------------------------


def sqlite_findings(subject: str, path: Path, deep: bool, repair: str) -> list[Finding]:
    """`quick_check` (or `integrity_check` when deep) of one SQLite file, read-only."""
    pragma = "integrity_check" if deep else "quick_check"
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            rows = [r[0] for r in conn.execute(f"PRAGMA {pragma}").fetchall()]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        rows = [str(exc)]
    if rows == ["ok"]:
        return []
    return [Finding(subject, str(path), f"fails SQLite's {pragma}: {'; '.join(rows[:3])}", repair)]


def verify_ledger(lake: Lake, deep: bool = False) -> list[Finding]:
    """The lake's integrity ledger: its SQLite file passes SQLite's checks, or its PostgreSQL
    answers (nothing found); a PostgreSQL that refuses is a finding with its refusal, as the
    lake's tables cannot be checked without their records."""
    ledger = lake.ledger
    if isinstance(ledger, SharedLedger):
        refusal = ledger.refusal()
        if refusal is None:
            return []
        return [
            Finding(
                "integrity ledger",
                ledger.where(),
                f"cannot be reached: {refusal}",
                "make the state database reachable from this node, then verify again",
            )
        ]
    path = ledger.path
    if not path.exists():
        return []
    return sqlite_findings(
        "integrity ledger",
        path,
        deep,
        f"move {path} aside; later commits start a new one (older files are then checked by "
        "their page checksums only; the trust records it journals and has not yet folded "
        "into their tables go with it: process those days again to judge them anew)",
    )


# -- the lake ----------------------------------------------------------------------------------


def verify_lake(lake: Lake, datasets: Iterable[str] | None = None, deep: bool = False) -> Report:
    """Verify the lake's tables (all of them by default) and its ledger."""
    started = time.perf_counter()
    report = Report()
    names = list(datasets) if datasets is not None else lake.datasets()
    for dataset in names:
        if not lake.log_present(dataset) and not lake.ledger.known(dataset):
            report.findings.append(
                Finding(dataset, None, "is not a table of this lake", "check the name", False)
            )
            continue
        if not lake.log_present(dataset):
            exc = lake.ledger.log_damage(dataset, lake.location(dataset), "its Delta log is gone")
            report.findings.append(_from_damage(exc))
            continue
        one = verify_table(lake, dataset, deep=deep)
        report.findings += one.findings
        report.tables += 1
        report.files += one.files
        report.bytes += one.bytes
    report.findings += verify_ledger(lake, deep)
    report.seconds = time.perf_counter() - started
    return report


def known_datasets(lake: Lake) -> list[str]:
    """Tables on disk plus tables the ledger recorded (a table whose log is gone is damage)."""
    return sorted(set(lake.datasets()) | set(lake.ledger.datasets()))


def drop_damaged(lake: Lake, dataset: str) -> list[str]:
    """Remove the damaged data files of a table from its newest version, in one commit, so the
    rest of it reads again and a re-capture can land; returns their paths. The rows they held
    are gone from the table until re-materialized (earlier versions keep the reference).
    A damaged log cannot be dropped from: the table is rebuilt instead (LakeDamaged)."""
    from deltalake import CommitProperties

    report = verify_table(lake, dataset, deep=True)
    log = report.log_damage()
    if log:
        raise LakeError(f"{dataset}: its log is damaged, no file can be dropped: {log[0].repair}")
    bad = report.damaged_paths(dataset)
    if not bad:
        return []
    snapshot = lake.snapshot(dataset)
    gone = [f for f in snapshot.files if f.rel in bad]
    removes = [remove_action(f.rel, f.size, f.partition_raw) for f in gone]
    open_table(lake.storage, lake.location(dataset)).create_write_transaction(
        removes,
        mode="append",
        schema=snapshot.schema,
        partition_by=list(snapshot.partition_columns),
        commit_properties=CommitProperties(
            custom_metadata={"maintenance": "drop-damaged", "files": json.dumps(sorted(bad))}
        ),
    )
    lake.ledger.record_log(dataset, lake.location(dataset))
    return sorted(bad)


def start_afresh(lake: Lake, dataset: str) -> str | None:
    """Start a table whose log is gone or damaged afresh: what is left of its folder is set
    aside (`<table>.damaged`, numbered when taken), the ledger forgets its records, and the
    rows the journal still holds for it start the new table. Its history is lost: rebuild it
    with `market-spine process`. Returns where the remains went (None: nothing was left).
    LakeError when its log is sound, when the lake does not know it, or on object storage
    (whose prefixes cannot be renamed: copy the table's prefix aside and delete it first)."""
    if lake.log_present(dataset):
        if not verify_table(lake, dataset).log_damage():
            raise LakeError(
                f"{dataset}: its log is sound, so there is nothing to start afresh "
                f"(`market-spine verify {dataset}` shows its state; damaged data files are "
                "dropped with --drop-damaged)"
            )
    elif not lake.ledger.known(dataset):
        raise LakeError(
            f"{dataset} has never been written in this lake, so there is nothing to start "
            "afresh (`market-spine catalog` lists the tables and what each holds)"
        )
    aside = None
    if lake.storage.local:
        folder = lake.path(dataset)
        if folder.exists():
            target, n = folder.with_name(f"{folder.name}.damaged"), 1
            while target.exists():
                n += 1
                target = folder.with_name(f"{folder.name}.damaged-{n}")
            folder.rename(target)
            aside = str(target)
    elif lake.storage.folders(lake.location(dataset)) or lake.storage.is_dir(
        lake.storage.join(lake.location(dataset), "_delta_log")
    ):
        raise LakeError(
            f"{dataset} is on object storage: copy {lake.location(dataset)} aside and delete "
            "it, then start it afresh"
        )
    lake.ledger.forget(dataset)
    lake.fold()
    return aside
