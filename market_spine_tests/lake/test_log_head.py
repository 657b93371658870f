"""The head of a table's log found without listing the folder (which keeps every commit of the
retention): from the checkpoint `_last_checkpoint` names, each commit after it by name; the
folder is listed only when that file cannot say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from market_spine.errors import LakeDamaged
from market_spine.lake import Lake
from market_spine.lake.files import (
    LAST_CHECKPOINT,
    LogHead,
    LogListing,
    checkpoint_name,
    commit_name,
)
from market_spine.lake.store import CHECKPOINT_EVERY
from market_spine_tests.kit.s3 import S3Server
from market_spine_tests.lake.test_own_commits import LOG, log_rows

COMMITS = 2 * CHECKPOINT_EVERY + 5


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    written = Lake(tmp_path / "lake")
    for i in range(COMMITS):
        written.append(LOG, log_rows(i))
    return written


@pytest.fixture
def listings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The log folders listed, as they are listed."""
    listed: list[str] = []
    real = LogListing.of

    def spied(storage: Any, log_dir: str) -> LogListing:
        listed.append(log_dir)
        return real(storage, log_dir)

    monkeypatch.setattr(LogListing, "of", staticmethod(spied))
    return listed


def log_dir(lake: Lake) -> str:
    return lake.storage.join(lake.location(LOG), "_delta_log")


def test_the_probed_head_is_the_listed_one(lake: Lake) -> None:
    probed = LogHead.probed(lake.storage, log_dir(lake))
    listing = LogListing.of(lake.storage, log_dir(lake))
    assert probed == listing.head(listing.newest())
    assert probed is not None
    assert (probed.base, probed.newest) == (2 * CHECKPOINT_EVERY, COMMITS - 1)


def test_a_cold_read_lists_no_log(lake: Lake, listings: list[str]) -> None:
    assert Lake(lake.root).read(LOG).height == COMMITS
    assert listings == []


def test_without_a_last_checkpoint_the_head_is_probed_from_the_first_commit(lake: Lake) -> None:
    (Path(log_dir(lake)) / LAST_CHECKPOINT).unlink()
    probed = LogHead.probed(lake.storage, log_dir(lake))
    assert probed == LogHead(-1, (), COMMITS - 1)
    assert Lake(lake.root).read(LOG).height == COMMITS


@pytest.mark.parametrize(
    "hint", ['{"version": 999, "size": 1}', "not json", '{"version": 20, "parts": 2}']
)
def test_a_last_checkpoint_that_cannot_say_leaves_it_to_a_listing(
    lake: Lake, listings: list[str], hint: str
) -> None:
    (Path(log_dir(lake)) / LAST_CHECKPOINT).write_text(hint)
    assert LogHead.probed(lake.storage, log_dir(lake)) is None
    assert Lake(lake.root).read(LOG).height == COMMITS
    assert listings == [log_dir(lake)]


def test_a_gap_after_the_checkpoint_reads_as_the_commits_lost_after_it(lake: Lake) -> None:
    (Path(log_dir(lake)) / commit_name(COMMITS - 3)).unlink()
    with pytest.raises(LakeDamaged, match=rf"version {COMMITS - 3}\.\.{COMMITS - 1} was committed"):
        Lake(lake.root).read(LOG)


def test_on_object_storage_the_head_is_listed_from_the_checkpoint_on(
    s3: S3Server, tmp_path: Path
) -> None:
    settings = s3.settings(tmp_path / "home", s3.bucket())
    lake = settings.lake()
    for i in range(CHECKPOINT_EVERY + 3):
        lake.append(LOG, log_rows(i))
    folder = log_dir(lake)
    later = lake.storage.names_after(folder, checkpoint_name(CHECKPOINT_EVERY))
    commits = [commit_name(v) for v in range(CHECKPOINT_EVERY, CHECKPOINT_EVERY + 3)]
    assert later == [*commits, LAST_CHECKPOINT]
    probed = LogHead.probed(lake.storage, folder)
    listing = LogListing.of(lake.storage, folder)
    assert probed == listing.head(listing.newest())
    assert probed == LogHead(
        CHECKPOINT_EVERY, (checkpoint_name(CHECKPOINT_EVERY),), CHECKPOINT_EVERY + 2
    )
    assert settings.lake().read(LOG).height == CHECKPOINT_EVERY + 3
