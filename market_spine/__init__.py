"""Market Spine: market data as Dagster assets over a Delta Lake.

`from market_spine import Spine` is the notebook entry point; it is imported lazily so that
importing the package (e.g. for Dagster definitions) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from market_spine import allocators, process_environment

# Before any library with a native allocator loads, or starts a thread: see the modules.
allocators.settle()
process_environment.reserve()

if TYPE_CHECKING:
    from market_spine.client import Spine

__all__ = ["Spine"]


def __getattr__(name: str) -> Any:
    if name == "Spine":
        from market_spine.client import Spine

        return Spine
    raise AttributeError(name)
