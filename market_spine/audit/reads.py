"""Auditing reads: a Spine read is one entry under the identity it reads as (the OS user for a
Spine opened without a key), unless it serves an HTTP request, whose own entry (with the
request's identity) then names the datasets the request read instead, so one request is one
entry."""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any

from market_spine.audit.recorder import record

#: The outcome of a read that raised (a query DuckDB could not run, say).
FAILED = "failed"
#: The datasets the HTTP request being served has read (None: not serving one).
_request_datasets: ContextVar[set[str] | None] = ContextVar("audit_request_datasets", default=None)


def serving_request() -> tuple[set[str], Any]:
    """Start collecting the datasets of the current request: the set, and the token to pass to
    `request_served`."""
    found: set[str] = set()
    return found, _request_datasets.set(found)


def request_served(token: Any) -> None:
    """Stop collecting (the token from `serving_request`)."""
    _request_datasets.reset(token)


def audit_read(
    home: Path,
    action: str,
    dataset: str,
    params: dict[str, Any],
    *,
    actor: str | None = None,
    outcome: str = "ok",
) -> None:
    """Record a read of `dataset` by `actor` (None: this process's OS user) with its
    `outcome` (`ok`, `failed`, `refused`): into the current request's entry (whose outcome
    is the request's status), else as its own."""
    datasets = _request_datasets.get()
    if datasets is not None:
        datasets.add(dataset)
        return
    record(home, action, dataset, params, outcome, actor=actor)
