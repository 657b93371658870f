"""Prepared homes shared by a module's tests: one run made once, copied to each test's home."""

from __future__ import annotations

import shutil
from pathlib import Path

from market_spine.home import prepare_home
from market_spine_tests.kit.homes import settings_for


def copy_home(prepared: Path, home: Path) -> None:
    """`prepared` (lake, Dagster instance and all) copied to `home`, which then is the home the
    process works on (DAGSTER_HOME and MARKET_SPINE_HOME name it), as when the test's own runs
    had made it. Nothing may hold `prepared` open (its instance closed after its runs)."""
    shutil.copytree(prepared, home)
    prepare_home(settings_for(home))
