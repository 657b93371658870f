"""A lake whose S3-compatible server stops answering, whose endpoint is wrong, or that refuses
the credentials: every read and write fails with one line naming the lake and the setting to
check, not the store's own dump, and a snapshot that cannot be refreshed is not reported as a
damaged log."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from market_spine.api.app import create_app
from market_spine.cli import app
from market_spine.client import Spine
from market_spine.errors import LakeRefused, LakeUnreachable
from market_spine.settings import Settings
from market_spine_tests.kit.api import auth_headers, serving_app
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


def test_refused_credentials_are_said_in_one_line_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with s3_server(checks_credentials=True) as s3:
        env = s3.lake_env(tmp_path / "home", "market-spine-lake")
        settings = Settings.from_env(env)
        for attempt in (
            lambda: Spine(settings=settings, warn_empty=False).bars("CL", DAY),
            lambda: settings.lake().datasets(),
            lambda: put(settings.lake(), DAY, "CL", 1.0),
        ):
            with pytest.raises(LakeRefused) as refused:
                attempt()
            text = str(refused.value)
            assert "\n" not in text and "InvalidAccessKeyId" in text, text
            assert "correct lake_access_key_id" in text and "config validate" in text
        # The command line says the same line, not the store's dump.
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        shown = CliRunner().invoke(app, ["catalog"])
        assert shown.exit_code != 0
        assert "refused the lake's credentials" in shown.output
        assert "Traceback" not in shown.output and len(shown.output.splitlines()) <= 3, shown.output
        # The API answers 503 without the settings' names; the server log has them.
        api = create_app(settings)
        with serving_app(api, role=None) as client:
            answer = client.get(
                "/v1/bars",
                params={"symbol": "CL", "start": DAY.isoformat()},
                headers=auth_headers(api, "reader"),
            )
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"].startswith("the lake is unavailable")
