"""Where a lake's files live: a local folder or an S3 bucket prefix (`s3://bucket/prefix`), behind
one small interface every lake module uses, plus the options delta-rs, polars and DuckDB need to
reach the same objects.

A location is a string: an absolute path for a local lake (so local reads and writes stay plain
file operations, as fast as before), a full `s3://bucket/key` URI on object storage. Object
storage goes through obstore (Rust's object_store, the library delta-rs and polars are built on),
so one set of options (`aws_*` keys) configures all three, server-side encryption included: every
object our writer, delta-rs and maintenance put carries the configured SSE-S3 or SSE-KMS
settings. DuckDB reads the same objects through obstore's fsspec filesystem registered with its
connection (it cannot fetch its httpfs extension offline).

The integrity ledger is a SQLite file, which object storage cannot hold: a lake on S3 keeps it
in a local folder (`local`, the home's `lake/` folder), or in the PostgreSQL every node reaches
(`ledger`, when the home sets `state_database`), registered beside its root.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ParamSpec, TypeVar
from urllib.parse import urlsplit

from pydantic import SecretStr

from market_spine.errors import InvalidInput, LakeRefused, LakeUnreachable

if TYPE_CHECKING:
    from market_spine.state_db.database import StateDatabase

#: Server-side encryption modes S3 knows: SSE-S3 (`AES256`) and SSE-KMS (`aws:kms`).
SSE_MODES = ("AES256", "aws:kms")
#: What object_store (under obstore and delta-rs) says, lower-cased, when no answer came back.
_NO_ANSWER = (
    "error sending request",
    "connection refused",
    "tcp connect error",
    "dns error",
    "connection reset",
    "operation timed out",
)

_P = ParamSpec("_P")
_T = TypeVar("_T")


def no_answer(exc: BaseException) -> bool:
    """Whether an obstore or delta-rs error says the object store did not answer at all (as
    opposed to answering that something is missing, refused or wrong)."""
    text = str(exc).lower()
    return any(words in text for words in _NO_ANSWER)


#: What S3 (and S3-compatible stores) answer, as delta-rs, polars and obstore quote it, when
#: they refuse the credentials or the permission (lowercase).
_REFUSED = (
    "invalidaccesskeyid",
    "signaturedoesnotmatch",
    "accessdenied",
    "access denied",
    "403 forbidden",
    "expiredtoken",
    "invalidtoken",
    "permissiondenied",
    "permission denied",
)


def refusal(exc: BaseException) -> str | None:
    """The code an object store's error refuses the credentials or the permission with, as the
    store spelled it (`InvalidAccessKeyId`, ...); None when it refused neither."""
    text = str(exc)
    lowered = text.lower()
    for words in _REFUSED:
        at = lowered.find(words)
        if at >= 0:
            return text[at : at + len(words)]
    return None


#: object_store's client option for the User-Agent (delta-rs and polars take it beside the
#: `aws_*` keys, obstore among its client options).
USER_AGENT = "user_agent"


@dataclass(frozen=True)
class ObjectStoreOptions:
    """How to reach an S3 bucket: endpoint (None: AWS itself), region, credentials (None: the
    `AWS_*` environment or the instance's role), the server-side encryption every write
    asks for (`AES256` or `aws:kms` with an optional KMS key id), and the User-Agent every
    request carries (None: the client library's own; see lake/requester.py)."""

    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = field(default=None, repr=False)
    session_token: SecretStr | None = field(default=None, repr=False)
    sse: str | None = None
    sse_kms_key_id: str | None = None
    user_agent: str | None = None

    def __post_init__(self) -> None:
        if self.sse is not None and self.sse not in SSE_MODES:
            raise InvalidInput(
                f"lake server-side encryption {self.sse!r} is not one of {', '.join(SSE_MODES)}: "
                "use AES256 (SSE-S3) or aws:kms (SSE-KMS, with lake_sse_kms_key_id)"
            )
        if self.sse_kms_key_id and self.sse != "aws:kms":
            raise InvalidInput(
                "a lake KMS key id is set but server-side encryption is not aws:kms: set "
                "lake_sse to aws:kms, or unset lake_sse_kms_key_id"
            )

    def object_store(self, *, writes: bool = True) -> dict[str, str]:
        """The options as object_store's `aws_*` keys (delta-rs, polars and obstore take them);
        `writes=False` leaves out encryption, which reads do not need."""
        out: dict[str, str] = {}
        if self.endpoint:
            out["aws_endpoint_url"] = self.endpoint
            if self.endpoint.startswith("http://"):
                out["aws_allow_http"] = "true"
        if self.region:
            out["aws_region"] = self.region
        if self.access_key_id:
            out["aws_access_key_id"] = self.access_key_id
        if self.secret_access_key is not None:
            out["aws_secret_access_key"] = self.secret_access_key.get_secret_value()
        if self.session_token is not None:
            out["aws_session_token"] = self.session_token.get_secret_value()
        if writes and self.sse:
            out["aws_server_side_encryption"] = self.sse
            if self.sse_kms_key_id:
                out["aws_sse_kms_key_id"] = self.sse_kms_key_id
        if self.user_agent:
            out[USER_AGENT] = self.user_agent
        return out


@dataclass(frozen=True)
class Stat:
    """A file's size in bytes, last modification (seconds since the epoch, UTC), and what
    changes whenever its bytes are rewritten (mtime, ctime and inode; an object's ETag)."""

    size: int
    mtime: float
    identity: tuple[Any, ...] = ()


class Storage:
    """The file operations the lake uses, on locations (paths or URIs) under one lake root."""

    local: bool = True

    def join(self, base: str, *parts: str) -> str:
        """The location of `parts` (a relative path's segments) under `base`."""
        return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts if p)])

    def exists(self, loc: str) -> bool:
        raise NotImplementedError

    def is_dir(self, loc: str) -> bool:
        """True when anything lives under `loc` (object stores have no empty folders)."""
        raise NotImplementedError

    def list(self, loc: str) -> list[str]:
        """Names of the files directly in folder `loc` (FileNotFoundError when it is empty)."""
        raise NotImplementedError

    def names_after(self, loc: str, name: str) -> list[str]:
        """Names of the files directly in folder `loc` that sort after `name`: on object
        storage one listing that starts there, not at the folder's first key."""
        raise NotImplementedError

    def walk(self, loc: str) -> list[str]:
        """Paths, relative to `loc`, of every file beneath it."""
        raise NotImplementedError

    def folders(self, loc: str) -> list[str]:
        """Names of the folders directly in `loc` ([] when there is none)."""
        raise NotImplementedError

    def sizes(self, loc: str) -> dict[str, int]:
        """Bytes of every file beneath `loc`, by path relative to it ({} when there is none):
        one listing on object storage, where each object's size comes with its name."""
        raise NotImplementedError

    def stat(self, loc: str) -> Stat:
        """Size and modification time (FileNotFoundError when the file is missing)."""
        raise NotImplementedError

    def read(self, loc: str) -> bytes:
        raise NotImplementedError

    def put(self, loc: str, data: bytes | memoryview) -> None:
        """Write a whole file at once (a reader never sees part of it on object storage)."""
        raise NotImplementedError

    def delete(self, loc: str) -> None:
        """Delete a file; a missing one is no error."""
        raise NotImplementedError

    def upload(self, loc: str, path: Path) -> None:
        """Write the local file `path` at `loc` whole, streamed (large files: in parts)."""
        raise NotImplementedError

    def download(self, loc: str, path: Path) -> None:
        """Write the file at `loc` to the local `path`, streamed (FileNotFoundError when it is
        missing)."""
        raise NotImplementedError

    def make_folder(self, loc: str) -> None:
        """Create a folder delta-rs is about to write into (object stores need none)."""

    def source(self, loc: str) -> str | BinaryIO:
        """What pyarrow's Parquet reader opens: the path itself, or the object's bytes."""
        import pyarrow as pa

        return pa.BufferReader(self.read(loc))  # type: ignore[return-value]

    def sha256(self, loc: str) -> str:
        """The SHA-256 of a file's bytes, hex."""
        return hashlib.sha256(self.read(loc)).hexdigest()

    def delta_options(self) -> dict[str, str] | None:
        """storage_options for delta-rs (None: a local path needs none)."""
        return None

    def read_options(self) -> dict[str, str] | None:
        """storage_options for polars' Parquet scans (None for local paths)."""
        return None

    def fsspec(self) -> Any | None:
        """An fsspec filesystem for DuckDB to read `s3://` locations through (None: local)."""
        return None

    @contextlib.contextmanager
    def reaching(self) -> Iterator[None]:
        """Turn a failure to reach the store inside the block, or its refusal of the
        credentials, into one line (LakeUnreachable, LakeRefused); a local folder is always
        reached: nothing to turn."""
        yield

    def failure(self, exc: BaseException) -> LakeUnreachable | LakeRefused | None:
        """What `reaching` turns `exc` into; None when it is no failure to reach the store."""
        return None


class LocalStorage(Storage):
    """A lake in a local folder: plain file operations on absolute paths."""

    local = True

    def join(self, base: str, *parts: str) -> str:
        return os.path.join(base, *parts)

    def exists(self, loc: str) -> bool:
        return os.path.exists(loc)

    def is_dir(self, loc: str) -> bool:
        return os.path.isdir(loc)

    def list(self, loc: str) -> list[str]:
        return os.listdir(loc)

    def names_after(self, loc: str, name: str) -> list[str]:
        return sorted(n for n in os.listdir(loc) if n > name)

    def walk(self, loc: str) -> list[str]:
        root = Path(loc)
        return [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]

    def folders(self, loc: str) -> list[str]:
        try:
            return [e.name for e in os.scandir(loc) if e.is_dir()]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def sizes(self, loc: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for base, _dirs, files in os.walk(loc):
            for name in files:
                path = os.path.join(base, name)
                # A file a maintenance pass deletes meanwhile holds no bytes any more.
                with contextlib.suppress(OSError):
                    found[os.path.relpath(path, loc).replace(os.sep, "/")] = os.stat(path).st_size
        return found

    def stat(self, loc: str) -> Stat:
        st = os.stat(loc)
        return Stat(st.st_size, st.st_mtime, (st.st_mtime_ns, st.st_ctime_ns, st.st_ino))

    def read(self, loc: str) -> bytes:
        return Path(loc).read_bytes()

    def put(self, loc: str, data: bytes | memoryview) -> None:
        path = Path(loc)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as out:
            out.write(data)

    def delete(self, loc: str) -> None:
        Path(loc).unlink(missing_ok=True)

    def upload(self, loc: str, path: Path) -> None:
        Path(loc).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, loc)

    def download(self, loc: str, path: Path) -> None:
        shutil.copyfile(loc, path)

    def make_folder(self, loc: str) -> None:
        Path(loc).mkdir(parents=True, exist_ok=True)

    def source(self, loc: str) -> str:
        return loc

    def sha256(self, loc: str) -> str:
        with open(loc, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()


def _reached(method: Callable[_P, _T]) -> Callable[_P, _T]:
    """An ObjectStorage operation whose failure to reach the store is LakeUnreachable."""

    @functools.wraps(method)
    def operation(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        storage = args[0]
        assert isinstance(storage, ObjectStorage)
        with storage.reaching():
            return method(*args, **kwargs)

    return operation


class ObjectStorage(Storage):
    """A lake in an S3 bucket (or an S3-compatible server), through obstore."""

    local = False

    def __init__(self, bucket: str, options: ObjectStoreOptions, root: str | None = None) -> None:
        from obstore.store import S3Store

        self.bucket = bucket
        self.options = options
        #: The lake root the errors name (`s3://bucket/prefix`).
        self.root = root or f"s3://{bucket}"
        config = options.object_store()
        client: dict[str, Any] = {"allow_http": True} if config.pop("aws_allow_http", None) else {}
        # obstore takes the User-Agent among its client options, not the store's.
        if USER_AGENT in config:
            client[USER_AGENT] = config.pop(USER_AGENT)
        self._config, self._client = config, client
        self._store = S3Store(bucket, config=config, client_options=client)  # type: ignore[arg-type]
        self._fsspec: Any = None

    @contextlib.contextmanager
    def reaching(self) -> Iterator[None]:
        try:
            yield
        except (LakeUnreachable, LakeRefused):
            raise
        except Exception as exc:
            found = self.failure(exc)
            if found is None:
                raise
            raise found from None

    def failure(self, exc: BaseException) -> LakeUnreachable | LakeRefused | None:
        """The one-line error of a store that did not answer `exc`'s request or refused its
        credentials; None for any other error (a missing object, damage)."""
        if no_answer(exc):
            return self.unreachable(exc)
        code = refusal(exc)
        if code is not None:
            endpoint = self.options.endpoint or "AWS S3"
            return LakeRefused(
                f"{endpoint} refused the lake's credentials for bucket {self.bucket} "
                f"({code}): correct lake_access_key_id / lake_secret_access_key (or "
                "their _FILE settings, or AWS_*), and give them read, write and delete on the "
                "bucket; `market-spine config validate` checks them"
            )
        return None

    def unreachable(self, exc: BaseException) -> LakeUnreachable:
        """The one-line error of a store that did not answer `exc`'s request."""
        endpoint = self.options.endpoint or "AWS S3 (lake_endpoint unset)"
        lowered = str(exc).lower()
        cause = next(words for words in (*_NO_ANSWER, "") if words in lowered) or "no answer"
        return LakeUnreachable(
            f"the lake at {self.root} is unreachable ({cause}): check lake_endpoint "
            f"({endpoint}), that the object store is up and the network reaches it, then retry"
        )

    def key(self, loc: str) -> str:
        """The object key of an `s3://bucket/key` location of this bucket."""
        prefix = f"s3://{self.bucket}/"
        if not loc.startswith(prefix):
            raise InvalidInput(f"{loc} is not in the lake's bucket s3://{self.bucket}")
        return loc[len(prefix) :]

    @_reached
    def exists(self, loc: str) -> bool:
        import obstore

        try:
            obstore.head(self._store, self.key(loc))
        except FileNotFoundError:
            return False
        return True

    @_reached
    def is_dir(self, loc: str) -> bool:
        import obstore

        found = obstore.list(self._store, self.key(loc).rstrip("/") + "/", chunk_size=1)
        return any(len(chunk) for chunk in found)

    @_reached
    def list(self, loc: str) -> list[str]:
        import obstore

        listed = obstore.list_with_delimiter(self._store, self.key(loc).rstrip("/") + "/")
        names = [o["path"].rsplit("/", 1)[-1] for o in listed["objects"]]
        if not names and not listed["common_prefixes"]:
            raise FileNotFoundError(loc)
        return names

    @_reached
    def names_after(self, loc: str, name: str) -> list[str]:
        import obstore

        prefix = self.key(loc).rstrip("/") + "/"
        listed = obstore.list(self._store, prefix, offset=prefix + name)
        return [
            o["path"][len(prefix) :]
            for chunk in listed
            for o in chunk
            if "/" not in o["path"][len(prefix) :]
        ]

    @_reached
    def walk(self, loc: str) -> list[str]:
        import obstore

        prefix = self.key(loc).rstrip("/") + "/"
        return [
            o["path"][len(prefix) :] for chunk in obstore.list(self._store, prefix) for o in chunk
        ]

    @_reached
    def sizes(self, loc: str) -> dict[str, int]:
        import obstore

        prefix = self.key(loc).rstrip("/") + "/"
        return {
            o["path"][len(prefix) :]: int(o["size"])
            for chunk in obstore.list(self._store, prefix)
            for o in chunk
        }

    @_reached
    def folders(self, loc: str) -> list[str]:
        import obstore

        listed = obstore.list_with_delimiter(self._store, self.key(loc).rstrip("/") + "/")
        return [p.rstrip("/").rsplit("/", 1)[-1] for p in listed["common_prefixes"]]

    @_reached
    def stat(self, loc: str) -> Stat:
        import obstore

        meta = obstore.head(self._store, self.key(loc))
        modified: datetime = meta["last_modified"]
        timestamp = modified.astimezone(UTC).timestamp()
        return Stat(meta["size"], timestamp, (meta["e_tag"], timestamp))

    @_reached
    def read(self, loc: str) -> bytes:
        import obstore

        return obstore.get(self._store, self.key(loc)).bytes().to_bytes()

    @_reached
    def put(self, loc: str, data: bytes | memoryview) -> None:
        import obstore

        obstore.put(self._store, self.key(loc), bytes(data), use_multipart=False)

    @_reached
    def upload(self, loc: str, path: Path) -> None:
        import obstore

        obstore.put(self._store, self.key(loc), path)

    @_reached
    def download(self, loc: str, path: Path) -> None:
        import obstore

        with open(path, "wb") as out:
            for chunk in obstore.get(self._store, self.key(loc)).stream():
                out.write(chunk)

    @_reached
    def delete(self, loc: str) -> None:
        import obstore

        with contextlib.suppress(FileNotFoundError):
            obstore.delete(self._store, self.key(loc))

    def delta_options(self) -> dict[str, str]:
        return self.options.object_store()

    def read_options(self) -> dict[str, str]:
        return self.options.object_store(writes=False)

    def fsspec(self) -> Any:
        if self._fsspec is None:
            from obstore.fsspec import FsspecStore

            config = self.options.object_store(writes=False)
            config.pop("aws_allow_http", None)
            config.pop(USER_AGENT, None)
            self._fsspec = FsspecStore(
                "s3", config=config, client_options=self._client, skip_instance_cache=True
            )
        return self._fsspec


# -- lake roots --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LakeLocation:
    """A lake root (an absolute path or `s3://bucket/prefix`), how to reach it, and where its
    integrity ledger lives: the SQLite file in the local folder `local` (the root itself for a
    local lake), or the PostgreSQL `ledger` every node of an S3 lake shares."""

    root: str
    options: ObjectStoreOptions | None
    local: Path
    # Not part of the key: each registration's storage is kept by how it reaches the store,
    # which is the same wherever the ledger lives.
    ledger: StateDatabase | None = field(default=None, compare=False)


_lock = threading.Lock()
_locations: dict[str, LakeLocation] = {}
#: One storage per way of reaching a root: switching back to an earlier registration (a run's
#: User-Agent, then the process's own) reuses its client. The oldest go past KEPT_STORAGES (a
#: process that executes run after run registers each run's).
_storages: OrderedDict[LakeLocation, Storage] = OrderedDict()
KEPT_STORAGES = 32


def is_object_uri(root: str | Path) -> bool:
    """True for an `s3://` lake URI."""
    return str(root).startswith("s3://")


def normalize_root(root: str | Path) -> str:
    """The lake root as the key every lookup uses: an absolute path, or `s3://bucket/prefix`
    without a trailing slash. Other URI schemes are InvalidInput."""
    text = str(root)
    if is_object_uri(text):
        parts = urlsplit(text)
        if not parts.netloc:
            raise InvalidInput(f"lake URI {text!r} names no bucket: use s3://bucket/prefix")
        return f"s3://{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
    if "://" in text:
        raise InvalidInput(
            f"lake root {text!r}: only local folders and s3://bucket/prefix URIs are supported"
        )
    return str(Path(text).expanduser().resolve())


def register(
    root: str | Path,
    options: ObjectStoreOptions | None,
    local: Path | None,
    ledger: StateDatabase | None = None,
) -> str:
    """Record how to reach the lake at `root` (options for S3; None: the `AWS_*` environment)
    and where its ledger lives; returns the normalized root. Registering again replaces it:
    the tables opened and read from then on reach the store the new way.

    `ledger` is the state database of an S3 lake's ledger: on PostgreSQL every node shares
    it, on SQLite it is the file in `local`; None keeps the one registered before (a Lake
    opened again with new options), else the file. A local lake's ledger is always the file
    beside it: one machine's disk holds both anyway."""
    key = normalize_root(root)
    if is_object_uri(key):
        if local is None:
            raise InvalidInput(
                f"the lake at {key} needs a local folder for its integrity ledger (the home's "
                "lake folder); pass one"
            )
        shared = ledger if ledger is not None and ledger.shared else None
        with _lock:
            before = _locations.get(key)
            if ledger is None and before is not None:
                shared = before.ledger
            location = LakeLocation(key, options or ObjectStoreOptions(), Path(local), shared)
            _locations[key] = location
        return key
    with _lock:
        _locations[key] = LakeLocation(key, None, Path(key))
    return key


def location_of(root: str | Path) -> LakeLocation:
    """The registered location of a lake root (a local one needs no registration)."""
    key = normalize_root(root)
    with _lock:
        found = _locations.get(key)
    if found is not None:
        return found
    if is_object_uri(key):
        raise InvalidInput(
            f"the lake at {key} was never configured in this process: open it with its "
            "settings (endpoint, credentials, ledger folder) first"
        )
    return LakeLocation(key, None, Path(key))


def storage_at(root: str | Path) -> Storage:
    """The storage of the lake at `root` as it is registered now (one per registration)."""
    return _storage_of(location_of(root))


def storage_of_root(key: str) -> Storage:
    """`storage_at` for a root already normalized (`normalize_root`), without resolving it
    again on the filesystem: what every read through the ledger asks."""
    with _lock:
        location = _locations.get(key)
    if location is None:
        if is_object_uri(key):
            return storage_at(key)  # refused there: an S3 lake is registered before use
        location = _local_location(key)
    return _storage_of(location)


@functools.lru_cache(maxsize=64)
def _local_location(key: str) -> LakeLocation:
    return LakeLocation(key, None, Path(key))


def _storage_of(location: LakeLocation) -> Storage:
    with _lock:
        found = _storages.get(location)
        if found is None:
            if location.options is None:
                found = LocalStorage()
            else:
                bucket = urlsplit(location.root).netloc
                found = ObjectStorage(bucket, location.options, location.root)
            _storages[location] = found
            while len(_storages) > KEPT_STORAGES:
                _storages.popitem(last=False)
    return found


def split_table(table_uri: str) -> tuple[str, str]:
    """(lake root, `<layer>/<name>`) of a table location `<root>/<layer>/<name>`; a delta-rs
    `file://` URI or trailing slash is accepted."""
    text = table_uri.removeprefix("file://").rstrip("/")
    head, layer_name = text.rsplit("/", 2)[0], text.rsplit("/", 2)[1:]
    return head, "/".join(layer_name)
