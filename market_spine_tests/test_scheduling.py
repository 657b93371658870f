"""The list of the longest test files names files that exist: a renamed file would silently
fall back to collection order, and a long file handed out last lengthens the whole run."""

from __future__ import annotations

from pathlib import Path

from market_spine_tests.conftest import LONGEST_FILES


def test_every_longest_file_exists_once() -> None:
    here = Path(__file__).parent
    missing = [name for name in LONGEST_FILES if not (here / name).is_file()]
    assert not missing, f"rename or remove them in LONGEST_FILES: {missing}"
    assert len(set(LONGEST_FILES)) == len(LONGEST_FILES)
