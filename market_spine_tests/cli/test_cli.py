"""The operator CLI: runs land in the home's Dagster instance; bad input is a clear error."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from market_spine.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2024-13-01"], "there is no month 13"),
        (["--date", "2024-3-5"], "2024-01-02"),
        (["--date", "2024-03-09"], "no trading session"),
        (["--start", "2024-03-08", "--end", "2024-03-04"], "swap them"),
        (["--date", "2024-03-05", "--symbols", "XX"], "known symbols are CL, ES, NG"),
        (["--date", "2018-03-05"], "outside the partitions"),
        ([], "give --date"),
        (["--date", "2024-03-05", "--start", "2024-03-04"], "not both"),
        (
            ["--date", "2024-03-05", "--domain", "bonds"],
            "futures, options, company, warehouse, all",
        ),
    ],
)
def test_process_rejects_bad_input_with_a_fix(
    env_home: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["process", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    # Refused before the plan is said: nothing reads as if it were about to run.
    assert "process 20" not in result.output, result.output
    assert not (env_home / "lake" / "normalized").exists()


def test_process_runs_show_in_the_home_instance(env_home: Path) -> None:
    args = ["process", "--date", "2024-03-05", "--symbols", "CL,ES", "--domain", "futures"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "CL 2024-03-05..2024-03-05 ok" in result.output
    instance = dg.DagsterInstance.from_config(str(env_home / "dagster"))
    runs = instance.get_runs()
    assert len(runs) == 2 and all(r.is_success for r in runs)
    key = dg.AssetKey(["normalized", "futures_bars_1m"])
    assert instance.get_materialized_partitions(key) == {"2024-03-05|CL", "2024-03-05|ES"}


def test_bad_setting_is_reported_with_its_name(
    monkeypatch: pytest.MonkeyPatch, env_home: Path
) -> None:
    monkeypatch.setenv("MARKET_SPINE_API_PORT", "eighty")
    for command in (["process", "--date", "2024-03-05"], ["api"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, (command, result.output)
        assert "MARKET_SPINE_API_PORT" in result.output
        assert "Traceback" not in result.output


def test_process_options_domain_runs_one_backfill(env_home: Path) -> None:
    result = runner.invoke(
        app, ["process", "--start", "2024-03-07", "--end", "2024-03-08", "--domain", "options"]
    )
    assert result.exit_code == 0, result.output
    assert "SPX/SPXW 2024-03-07..2024-03-08 ok" in result.output
    instance = dg.DagsterInstance.from_config(str(env_home / "dagster"))
    key = dg.AssetKey(["analytics", "vol_surface_daily"])
    assert instance.get_materialized_partitions(key) == {"2024-03-07", "2024-03-08"}


def test_fake_thetaterminal_command_serves_v3(tmp_path: Path) -> None:
    """The command serves v3, with the faults `--fault` names injected in order."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "market-spine"
    faults = ["--fault", "474:2", "--fault", "471"]
    proc = subprocess.Popen([str(exe), "fake", "thetaterminal", "--port", str(port), *faults])
    try:
        url = f"http://127.0.0.1:{port}/v3/option/list/expirations"
        deadline = time.monotonic() + 60
        statuses = []
        while len(statuses) < 4:
            try:
                answer = httpx.get(url, params={"symbol": "SPXW"}, timeout=5)
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the fake never answered"
                time.sleep(0.3)
                continue
            statuses.append(answer.status_code)
        assert statuses == [474, 474, 471, 200]
        assert answer.text.startswith("symbol,expiration\r\n")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_fake_thetaterminal_refuses_an_unknown_fault() -> None:
    from typer.testing import CliRunner

    from market_spine.cli import app

    result = CliRunner().invoke(app, ["fake", "thetaterminal", "--fault", "teapot:2"])
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "teapot" in said and "570" in said and "nulls" in said
