"""A lake whose S3-compatible server stops answering, or whose endpoint is wrong: every read and
write fails with one line naming the lake and the setting to check, not the store's own dump,
and a snapshot that cannot be refreshed is not reported as a damaged log."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from market_spine.client import Spine
from market_spine.errors import LakeUnreachable
from market_spine.settings import Settings
from market_spine_tests.kit.frames import DS, put
from market_spine_tests.kit.run_homes import free_port
from market_spine_tests.kit.s3 import S3Server, s3_server

DAY = date(2024, 1, 2)


def _one_line(error: LakeUnreachable, settings: Settings) -> None:
    text = str(error)
    assert "\n" not in text and len(text) < 300, text
    assert text.startswith(f"the lake at {settings.lake_uri} is unreachable")
    assert "check lake_endpoint" in text and settings.lake_endpoint in text


def test_a_lake_whose_server_went_away_says_so_in_one_line(tmp_path: Path) -> None:
    with s3_server() as s3:
        settings = s3.settings(tmp_path / "home", s3.bucket())
        lake = settings.lake()
        put(lake, DAY, "CL", 1.0)
        assert lake.read(DS).height == 60
    # The server is gone; the lake was open and has its table's snapshot cached, as in a run.
    with pytest.raises(LakeUnreachable) as read:
        lake.read(DS)
    _one_line(read.value, settings)
    with pytest.raises(LakeUnreachable) as wrote:
        put(lake, date(2024, 1, 3), "CL", 2.0)
    _one_line(wrote.value, settings)
    with pytest.raises(LakeUnreachable):
        lake.datasets()


def test_a_wrong_endpoint_is_named_on_read(s3: S3Server, tmp_path: Path) -> None:
    env = s3.lake_env(tmp_path / "home", s3.bucket())
    env["MARKET_SPINE_LAKE_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
    settings = Settings.from_env(env)
    with pytest.raises(LakeUnreachable) as error:
        Spine(settings=settings, warn_empty=False).bars("CL", DAY)
    _one_line(error.value, settings)
