"""Market Spine: market data as Dagster assets over a Delta Lake.

`from market_spine import Spine` is the notebook entry point; it is imported lazily so that
importing the package (e.g. for Dagster definitions) stays cheap.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# polars and delta-rs each carry a jemalloc that purges memory from background threads, nine of
# them in a process using both. Test workers died in threads with no Python frame, the mark of
# a native thread's crash, while the test itself only parsed symbols; with purging done on the
# allocating threads instead those threads are gone. Set before either library loads (jemalloc
# reads it once, at its first allocation); a value already in the environment wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "background_thread:false")

if TYPE_CHECKING:
    from market_spine.client import Spine

__all__ = ["Spine"]


def __getattr__(name: str) -> Any:
    if name == "Spine":
        from market_spine.client import Spine

        return Spine
    raise AttributeError(name)
