"""The identity a request or WebSocket acts as, set on `request.state.identity` once the
credential is verified, so every later step (routes, the audit trail) knows who is asking."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

Method = Literal["key", "jwt", "local"]

#: The connection-state key set once a WebSocket's identity passed every check.
ADMITTED = "admitted"
#: The connection-state key naming the key a refused credential claimed to be (`key:<id>`),
#: so the audit trail shows a revoked or guessed key being tried.
CLAIMED_ACTOR = "claimed_actor"
#: The scope of an identity that may read every dataset.
ALL_DATASETS = ("*",)


@dataclass(frozen=True)
class Identity:
    """`actor` is the key id (`key:<id>`), the JWT subject (`jwt:<sub>`) or, with authentication
    off, the OS user (`local:<user>`); `datasets` are glob patterns over dataset names such as
    `normalized/futures_bars_1m` (`*` for all); `tenant` binds it to one tenant's rows of the
    tables split by tenant (None: every tenant); `pii` lets it read personal-data columns in
    clear (otherwise they are masked)."""

    actor: str
    role: str
    datasets: tuple[str, ...] = ALL_DATASETS
    method: Method = "key"
    tenant: str | None = None
    pii: bool = False

    def may_read(self, dataset: str) -> bool:
        """Whether `dataset` falls within this identity's dataset scope."""
        return any(fnmatchcase(dataset, pattern) for pattern in self.datasets)
