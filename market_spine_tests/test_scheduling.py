"""The longest test files are handed out first: the list names files that exist (a renamed file
would silently fall back to collection order), and pytest-xdist keeps that order (by default it
hands out the files with the most tests first, whatever their length, and a long file handed
out last keeps one worker busy while the other has nothing left to do)."""

from __future__ import annotations

from pathlib import Path

import pytest

from market_spine_tests.conftest import LONGEST_FILES


def test_every_longest_file_exists_once() -> None:
    here = Path(__file__).parent
    missing = [name for name in LONGEST_FILES if not (here / name).is_file()]
    assert not missing, f"rename or remove them in LONGEST_FILES: {missing}"
    assert len(set(LONGEST_FILES)) == len(LONGEST_FILES)


def test_the_workers_take_files_in_collection_order(request: pytest.FixtureRequest) -> None:
    assert request.config.option.loadscopereorder is False, (
        "keep --no-loadscope-reorder in setup.cfg's addopts"
    )
