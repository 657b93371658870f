"""Fixtures of the lake tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from market_spine_tests.kit.damage import forget_lake_caches


@pytest.fixture
def copy(materialized_home: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the materialized home this test may damage."""
    home = tmp_path / "home"
    shutil.copytree(materialized_home, home, symlinks=True)
    forget_lake_caches()
    yield home
    forget_lake_caches()
