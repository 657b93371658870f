"""`market-spine stream` beside `up`: a taken API port is refused before anything starts, with
the option that fixes it."""

from __future__ import annotations

import socket
from contextlib import nullcontext
from pathlib import Path

import pytest
from typer.testing import CliRunner

from market_spine.cli import app as cli
from market_spine.fakes.tws import FakeTWS


def test_a_taken_port_says_to_pass_another(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[object] = []
    monkeypatch.setattr(FakeTWS, "running", lambda *a, **k: started.append(a) or nullcontext())
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {"MARKET_SPINE_HOME": str(tmp_path / "home"), "MARKET_SPINE_API_HOST": "127.0.0.1"}
        out = CliRunner().invoke(cli, ["stream", "--fake", "--port", str(port)], env=env)
    assert out.exit_code == 2, out.output
    assert f"port {port}" in out.output and "--port" in out.output
    assert "Traceback" not in out.output
    assert started == []  # refused before the fake TWS started
