"""What the integrity checks read of the lake's files (local or on object storage): a file's
SHA-256, the commit and checkpoint files of a `_delta_log` folder, and whether a Parquet file
reads whole with its page checksums verified."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow.parquet as pq

from market_spine.lake.storage import Storage


def commit_name(version: int) -> str:
    """The log file of a commit: `00000000000000000005.json`."""
    return f"{version:020d}.json"


def checkpoint_name(version: int) -> str:
    """The single-part checkpoint file of a version: `00000000000000000010.checkpoint.parquet`."""
    return f"{version:020d}.checkpoint.parquet"


#: The file delta-rs names the newest checkpoint in.
LAST_CHECKPOINT = "_last_checkpoint"


@dataclass(frozen=True)
class LogHead:
    """What a replay of a table's newest version reads: the checkpoint it starts from
    (`base`, -1 for none, and its file names) and the newest commit (`newest`)."""

    base: int
    checkpoint: tuple[str, ...]
    newest: int

    @staticmethod
    def probed(storage: Storage, log_dir: str) -> LogHead | None:
        """The head found without listing the folder, which holds every commit the retention
        keeps (a year of a table committed every few minutes is a six-figure listing): the
        checkpoint `_last_checkpoint` names, then each commit after it until one is absent
        (by name on a local disk, by a listing that starts at the checkpoint on object
        storage). None when that file is missing or unreadable, names a checkpoint in parts or
        one that is gone, or the log has no checkpoint and no first commit: list it then."""
        try:
            hint = json.loads(storage.read(storage.join(log_dir, LAST_CHECKPOINT)))
            base = int(hint["version"])
        except FileNotFoundError:
            hint, base = None, -1
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if hint is not None:
            if hint.get("parts") or not storage.exists(
                storage.join(log_dir, checkpoint_name(base))
            ):
                return None
            checkpoint: tuple[str, ...] = (checkpoint_name(base),)
        elif storage.exists(storage.join(log_dir, commit_name(0))):
            checkpoint = ()
        else:
            return None
        newest = base
        if storage.local:
            # A stat per commit since the checkpoint (at most CHECKPOINT_EVERY): a local
            # listing reads the whole folder whatever it starts at.
            while storage.exists(storage.join(log_dir, commit_name(newest + 1))):
                newest += 1
        else:
            later = set(storage.names_after(log_dir, checkpoint[0] if checkpoint else ""))
            while commit_name(newest + 1) in later:
                newest += 1
        return LogHead(base, checkpoint, newest)


@dataclass(frozen=True)
class LogListing:
    """The files of a `_delta_log` folder: commit versions and checkpoint files by version."""

    names: frozenset[str]
    versions: tuple[int, ...]
    checkpoints: dict[int, tuple[str, ...]]

    @staticmethod
    def of(storage: Storage, log_dir: str) -> LogListing:
        """The listing of the `_delta_log` folder at `log_dir` (FileNotFoundError: none)."""
        names = frozenset(storage.list(log_dir))
        versions = sorted(
            int(n[:20]) for n in names if len(n) == 25 and n.endswith(".json") and n[:20].isdigit()
        )
        checkpoints: dict[int, list[str]] = {}
        for n in names:
            if ".checkpoint" in n and n.endswith(".parquet") and n[:20].isdigit():
                checkpoints.setdefault(int(n[:20]), []).append(n)
        return LogListing(
            names, tuple(versions), {v: tuple(sorted(ns)) for v, ns in checkpoints.items()}
        )

    def newest(self) -> int:
        """The newest version the folder holds a file of, or -1 for none."""
        return max([*self.versions[-1:], *self.checkpoints], default=-1)

    def head(self, newest: int) -> LogHead:
        """What a replay of version `newest` reads, by this listing."""
        base = self.base(newest)
        return LogHead(base, self.checkpoints.get(base, ()), newest)

    def base(self, version: int) -> int:
        """The checkpoint delta-rs starts from to reach `version` (-1: the first commit)."""
        return max((c for c in self.checkpoints if c <= version), default=-1)

    def replays(self, version: int) -> bool:
        """True when the folder still holds what delta-rs replays to reach `version`: the
        checkpoint it starts from and every commit after that up to `version`."""
        base = self.base(version)
        return all(commit_name(v) in self.names for v in range(base + 1, version + 1))

    def oldest_replayable(self) -> int | None:
        """The oldest version the folder can still be replayed to, or None for none."""
        return next(
            (v for v in sorted({*self.versions, *self.checkpoints}) if self.replays(v)), None
        )


def unreadable(storage: Storage, loc: str) -> str | None:
    """Why a Parquet file cannot be read whole with its page checksums verified, or None."""
    try:
        pq.ParquetFile(storage.source(loc), page_checksum_verification=True).read()
    except Exception as exc:  # pyarrow raises OSError, ArrowInvalid and others for bad bytes
        return f"is unreadable ({type(exc).__name__}: {exc})"
    return None
