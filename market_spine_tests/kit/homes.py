"""Test homes: settings for a temporary home, and the week the read-side tests materialize."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from market_spine.settings import Settings

#: The week the read-side tests use: five sessions for each of CL, ES and NG.
WEEK = (date(2024, 3, 4), date(2024, 3, 8))
SYMBOLS = ("CL", "ES", "NG")

#: The repository's root, and the data files that travel with the tests.
REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "market_spine_tests" / "data"


def settings_for(home: Path) -> Settings:
    """Settings of a test home (simulated source, default seed)."""
    return Settings.from_env({"MARKET_SPINE_HOME": str(home), "MARKET_SPINE_PROFILE": "test"})
