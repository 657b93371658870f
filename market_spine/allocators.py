"""How the native allocators inside our libraries behave in every Market Spine process.

polars, delta-rs and pyarrow each bundle an allocator (jemalloc in all three, plus mimalloc v3 as
pyarrow's default pool). Left at their defaults they run purging threads of their own, and
mimalloc v3 sets up and tears down a heap in every thread that allocates through Arrow, where
its releases have had a run of crashes in processes with many short-lived threads, as ours
are. Here purging happens on the allocating threads and Arrow allocates from its jemalloc,
which has none of mimalloc's per-thread set-up. Measured with `bench/ingest.py`: our writer is
as fast on jemalloc as on mimalloc.

Each library reads its setting once, when it loads or first allocates, so `settle()` runs when
`market_spine` is imported, before any of them; a value already in the environment wins, and
child processes (dbt, Dagster's step processes) inherit them.
"""

from __future__ import annotations

import os

#: Environment variable → value: the jemalloc of polars and delta-rs (`_RJEM_`), pyarrow's jemalloc
#: (`JE_ARROW_`) and pyarrow's default memory pool.
SETTINGS: dict[str, str] = {
    "_RJEM_MALLOC_CONF": "background_thread:false",
    "JE_ARROW_MALLOC_CONF": "background_thread:false",
    "ARROW_DEFAULT_MEMORY_POOL": "jemalloc",
}


def settle() -> None:
    """Put each setting in this process's environment unless it is set already."""
    for name, value in SETTINGS.items():
        os.environ.setdefault(name, value)
