"""The environment variables a Market Spine process sets while it runs, put in place (empty when
unset) as the package is imported, so that afterwards they are only ever overwritten.

glibc grows the environment's array whenever a variable is added (or removed and added again)
and frees the old one, while other threads may be reading it: polars' I/O runtime looks its
settings up from threads of its own, and a lookup racing that reads freed memory and crashes
the process. Overwriting a variable that is already there swaps one pointer and frees nothing,
which a concurrent lookup survives. Every reader takes an empty value for unset: `Settings`,
and the dbt project's `env_var(NAME, '') or default`.
"""

from __future__ import annotations

import os

#: The run a dbt invocation builds for: its reads of an S3 lake name the run (lake/requester.py).
RUN_ID = "MARKET_SPINE_RUN_ID"
#: The home (set when a home's instance opens), and the reference seeds' folder, the trade-date
#: window of a partitioned build and the run it builds for (set around each dbt invocation).
RESERVED = (
    "MARKET_SPINE_HOME",
    "MARKET_SPINE_SEEDS",
    "MARKET_SPINE_START_DATE",
    "MARKET_SPINE_END_DATE",
    RUN_ID,
)


def reserve() -> None:
    """Put each RESERVED variable in this process's environment, empty, unless it is set."""
    for name in RESERVED:
        os.environ.setdefault(name, "")


def overwrite(name: str, value: str | None) -> None:
    """Set a RESERVED variable to `value` (None: empty, which readers take for unset), without
    adding or removing a name. ValueError for a variable that is not RESERVED."""
    if name not in RESERVED:
        raise ValueError(f"{name} is not reserved at start: add it to RESERVED to set it here")
    value = value or ""
    if os.environ.get(name) != value:
        os.environ[name] = value
