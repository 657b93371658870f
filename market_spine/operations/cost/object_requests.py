"""The lake's object-store requests per dataset, counted from the bucket's server access logs.

The requests are made by Rust libraries (delta-rs, polars, obstore) that no Python code sees,
so they are counted where the store records them: S3 server access logging writes a line per
request (MinIO writes no such log: its audit log is JSON sent to a webhook), with its
operation (`REST.GET.OBJECT`, `REST.PUT.OBJECT`, `REST.GET.BUCKET` for a listing ...) and its
key, or for a listing the prefix it asked for. A
key under the lake's root names its dataset (`<root>/<layer>/<name>/...`); a request for no
dataset (the bucket itself, the lake's root) is the lake's own. Each line also records the
request's User-Agent, which names the run that made it (lake/requester.py).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from market_spine.errors import InvalidInput
from market_spine.lake.requester import run_of
from market_spine.lake.storage import ObjectStorage, ObjectStoreOptions

#: A dataset-less request (the bucket, the lake's root), as a dataset of the cost report.
LAKE_ITSELF = "lake/(bucket)"

#: The fields of an access-log line this reader uses: bucket owner, bucket, [time], remote IP,
#: requester, request id, operation, key, "request URI", HTTP status, and after the error
#: code, bytes sent, object size, total and turn-around time and "referer", the "User-Agent".
_LINE = re.compile(
    r"^\S+ (?P<bucket>\S+) \[(?P<time>[^\]]+)\] \S+ \S+ \S+ (?P<operation>\S+) (?P<key>\S+) "
    r'"(?P<request>[^"]*)" (?P<status>\S+)'
    r'(?: \S+ \S+ \S+ \S+ \S+ "[^"]*" "(?P<agent>[^"]*)")?'
)
_TIME = "%d/%b/%Y:%H:%M:%S %z"


def request_kind(operation: str) -> str | None:
    """The kind (get, head, put, list, delete) of an access log's `REST.<METHOD>.<WHAT>`
    operation; None for one that is not a REST request (the store's own: `BATCH.*`, `S3.*`)."""
    parts = operation.split(".")
    if len(parts) < 3 or parts[0] != "REST":
        return None
    method, what = parts[1], ".".join(parts[2:])
    if method == "GET":
        return "list" if what in ("BUCKET", "BUCKETVERSIONS") else "get"
    if method == "HEAD":
        return "head"
    if method == "DELETE":
        return "delete"
    if method == "POST" and what == "MULTI_OBJECT_DELETE":
        return "delete"
    return "put"  # PUT, POST, COPY: S3 prices them as one class


def dataset_of(key: str, root_key: str) -> str | None:
    """The dataset (`layer/name`) an object key of the lake belongs to; LAKE_ITSELF for the
    lake's root; None for a key outside the lake (`root_key`: the lake's prefix in its bucket)."""
    prefix = root_key.strip("/")
    rest = key.lstrip("/")
    if prefix:
        if rest != prefix and not rest.startswith(prefix + "/"):
            return None
        rest = rest[len(prefix) :].lstrip("/")
    parts = [p for p in rest.split("/") if p]
    return "/".join(parts[:2]) if len(parts) >= 2 else LAKE_ITSELF


def _requested_key(key: str, request: str) -> str:
    """The key a request was for: its object key, else a listing's `prefix`."""
    if key != "-":
        return unquote(key)
    _, _, target = request.partition(" ")
    query = parse_qs(urlsplit(target.rpartition(" ")[0] or target).query)
    return query.get("prefix", [""])[0]


class Requests(NamedTuple):
    """What a count of requests is of: the dataset, the kind (get, head, put, list, delete)
    and the run that made them (None: made outside a run, or by another client)."""

    dataset: str
    kind: str
    run_id: str | None = None


def count_requests(
    lines: Iterable[str], lake_uri: str, since: datetime, until: datetime
) -> Counter[Requests]:
    """Requests to the lake at `lake_uri` (`s3://bucket/prefix`) logged in [since, until], by
    dataset, kind and run. Lines of other buckets, outside the lake's prefix, or unreadable (a
    partial last line while the store writes) are skipped."""
    bucket, _, root_key = lake_uri.removeprefix("s3://").partition("/")
    counts: Counter[Requests] = Counter()
    for line in lines:
        found = _LINE.match(line)
        if found is None or found["bucket"] != bucket:
            continue
        kind = request_kind(found["operation"])
        if kind is None:
            continue
        try:
            at = datetime.strptime(found["time"], _TIME)
        except ValueError:
            continue
        if not since <= at <= until:
            continue
        dataset = dataset_of(_requested_key(found["key"], found["request"]), root_key)
        if dataset is not None:
            counts[Requests(dataset, kind, run_of(found["agent"]))] += 1
    return counts


class AccessLog:
    """A home's lake requests over a window, counted from the access logs at `location` (read
    with the lake's `options`); `lines` says how many log lines the last count read, so a
    location that holds none can be told from a quiet window."""

    def __init__(self, location: str, lake_uri: str, options: ObjectStoreOptions | None) -> None:
        self.location, self.lake_uri, self.options = location, lake_uri, options
        self.lines = 0

    def __call__(self, since: datetime, until: datetime) -> Counter[Requests]:
        self.lines = 0
        return count_requests(self._counted(), self.lake_uri, since, until)

    def _counted(self) -> Iterator[str]:
        """The log's lines, streamed (a month of logs need not be held), counted as they go."""
        for line in log_lines(self.location, self.options):
            self.lines += 1
            yield line

    def note(self) -> str:
        """What a report says of requests it could not count; empty when lines were read."""
        if self.lines:
            return ""
        return (
            f"object-store requests are not counted: no access log lines under {self.location} "
            "(is the lake bucket's server access logging on, and delivered there?)"
        )


#: What a report over an S3 lake with no access log configured says of its requests.
NOT_CONFIGURED = (
    "object-store requests are not counted: set lake_access_log to where the store delivers "
    "the lake bucket's server access logs"
)


def log_lines(location: str, options: ObjectStoreOptions | None) -> Iterator[str]:
    """Every line of every log object under `location` (`s3://bucket/prefix`, reached with the
    lake's `options`, or a local folder). InvalidInput when the location cannot be listed."""
    if location.startswith("s3://"):
        bucket = urlsplit(location).netloc
        storage = ObjectStorage(bucket, options or ObjectStoreOptions(), location)
        try:
            names = storage.walk(location)
        except FileNotFoundError:
            names = []
        except Exception as exc:
            if "nosuchbucket" not in str(exc).lower() and "404" not in str(exc):
                raise
            endpoint = storage.options.endpoint or "AWS S3"
            raise InvalidInput(
                f"lake_access_log {location}: the bucket {bucket} does not exist at {endpoint}: "
                "point MARKET_SPINE_LAKE_ACCESS_LOG at the bucket and prefix the store delivers "
                "the lake bucket's access logs to"
            ) from None
        for name in sorted(names):
            text = storage.read(f"{location}/{name}").decode("utf-8", errors="replace")
            yield from text.splitlines()
        return
    folder = Path(location)
    if not folder.is_dir():
        raise InvalidInput(
            f"lake_access_log {location} is not a folder: point MARKET_SPINE_LAKE_ACCESS_LOG at "
            "the folder (or s3:// prefix) the store delivers the lake bucket's access logs to"
        )
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        yield from path.read_text(encoding="utf-8", errors="replace").splitlines()
