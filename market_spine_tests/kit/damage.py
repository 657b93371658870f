"""For tests that damage a lake: forget what a process caches of it, as a new process would
start, so a read meets the damage and not a cached view of the table."""

from __future__ import annotations

from market_spine.lake import lake_at
from market_spine.lake.integrity import ledger_at


def forget_lake_caches() -> None:
    """Forget every process-level cache of lakes and integrity ledgers."""
    lake_at.cache_clear()
    ledger_at.cache_clear()
