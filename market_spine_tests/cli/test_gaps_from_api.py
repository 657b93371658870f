"""`market-spine gaps` reads the report the home's API computes (`GET /v1/gaps`), so it answers
without loading Dagster or pandas; the same report as the one it computes with `--local`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from market_spine.api.app import create_app
from market_spine.cli import app
from market_spine.home import instance as home_instance
from market_spine.security.bootstrap import ensure_admin_key
from market_spine_tests.kit.api import serving_app
from market_spine_tests.kit.homes import settings_for

runner = CliRunner()
RANGE = ["--start", "2024-03-04", "--end", "2024-03-08", "--symbols", "CL,SPX"]
#: The command in a fresh process, saying at its exit which heavy libraries it loaded.
COMMAND = (
    "import atexit, sys\n"
    "heavy = ('dagster', 'pandas', 'polars')\n"
    "atexit.register(lambda: print('loaded', [m for m in heavy if m in sys.modules], "
    "file=sys.stderr))\n"
    "from market_spine.cli import app\n"
    "app(sys.argv[1:])\n"
)


def test_gaps_is_the_report_the_homes_api_computed_and_loads_no_dagster(env_home: Path) -> None:
    settings = settings_for(env_home)
    home_instance(settings).dispose()
    ensure_admin_key(env_home)
    with serving_app(create_app(settings)) as api:
        port = str(api.base_url).rsplit(":", 1)[1].rstrip("/")
        env = {**os.environ, "MARKET_SPINE_HOME": str(env_home), "MARKET_SPINE_API_PORT": port}
        served = subprocess.run(
            [sys.executable, "-c", COMMAND, "gaps", *RANGE, "--export", "json"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        screen = subprocess.run(
            [sys.executable, "-c", COMMAND, "gaps", *RANGE],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    local = runner.invoke(app, ["gaps", *RANGE, "--export", "json", "--local"])
    assert served.returncode == 1, served.stderr  # gaps: exit status 1
    assert "loaded []" in served.stderr, served.stderr
    doc, mine = json.loads(served.stdout), json.loads(local.stdout)
    assert "home_id" not in doc
    assert doc["gaps"] == mine["gaps"] and doc["owed"] == mine["owed"] > 0
    assert doc["roots"] == ["CL", "SPX", "SPXW"]
    assert "loaded []" in screen.stderr, screen.stderr
    assert f"gaps 2024-03-04..2024-03-08 futures+options (CL,SPX,SPXW): {len(doc['gaps'])} of " in (
        screen.stdout
    )
    assert "estimated fill time: unknown" in screen.stdout
