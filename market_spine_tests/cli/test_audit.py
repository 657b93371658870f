"""`market-spine audit` and what every command leaves in the trail: commands by OS user with
their arguments (credentials masked), configuration changes, runs with who launched them and
their partitions, certification transitions; a fresh home written by the CLI is private."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from market_spine.audit.export import AuditFilter, entries_as_dicts
from market_spine.audit.recorder import flush_all, recorder
from market_spine.audit.store import AuditStore, db_path
from market_spine.cli import app
from market_spine.config.identity import os_user

runner = CliRunner()


def trail(home: Path, **filters: str) -> list[dict]:
    flush_all()
    store = AuditStore(home, create=False)
    try:
        return entries_as_dicts(store, AuditFilter(**filters), 100_000)
    finally:
        store.close()


def test_commands_and_configuration_changes_are_recorded_without_secrets(env_home: Path) -> None:
    env_home.mkdir()
    url = "http://trader:hunter2@terminal.example:25503/v3"
    # A secret is refused (never written to the settings file); the attempt is recorded masked.
    assert runner.invoke(app, ["config", "set", "thetadata_url", url]).exit_code == 2
    assert runner.invoke(app, ["config", "set", "thetadata_tier", "pro"]).exit_code == 0
    commands = trail(env_home, action="cli.config")
    assert len(commands) == 2 and all(c["actor"] == os_user() for c in commands)
    assert all(c["params"]["argv"][0] == "config" for c in commands)
    [change] = trail(env_home, action="config.set")
    assert change["params"]["key"] == "thetadata_tier"
    assert change["params"]["new"] == "pro"
    assert b"hunter2" not in db_path(env_home).read_bytes()


def test_verify_passes_then_names_the_tampered_entry(env_home: Path, tmp_path: Path) -> None:
    env_home.mkdir()
    for _ in range(3):
        recorder(env_home).record("alice", "spine.read", "bars", {"symbol": "CL"})
    flush_all()
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "audit trail intact: 3 entries" in ok.output
    con = sqlite3.connect(db_path(env_home), isolation_level=None)
    con.execute("DROP TRIGGER entries_no_update")
    con.execute("UPDATE entries SET actor = 'mallory' WHERE seq = 2")
    bad = runner.invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1
    assert "entry 2: its content does not match its hash (edited)" in bad.output
    out = tmp_path / "week.jsonl"
    export = runner.invoke(
        app,
        [
            "audit",
            "export",
            "--since",
            "1h",
            "--format",
            "jsonl",
            "--actor",
            "alice",
            "-o",
            str(out),
        ],
    )
    assert export.exit_code == 0, export.output
    assert [json.loads(line)["seq"] for line in out.read_text().splitlines()] == [1, 3]


def test_audit_commands_in_a_home_without_a_trail_say_so(env_home: Path) -> None:
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 2
    assert "has no audit trail" in result.output


def test_runs_and_certifications_are_recorded_with_who_launched_them(
    materialized_home: Path,
) -> None:
    recorder(materialized_home).flush()
    runs = trail(materialized_home, action="run.launch")
    assert runs, "materializing the week launched runs"
    first = runs[0]
    assert first["actor"] == os_user() and first["outcome"] == "cli"
    assert first["params"]["tags"]["market_spine/launched_by"] == os_user()
    assert "dagster/asset_partition_range_start" in first["params"]["tags"]
    assert first["params"]["assets"]
    certified = trail(materialized_home, action="certification.change")
    assert {e["dataset"] for e in certified} >= {"normalized/futures_bars_1m"}
    assert all(e["params"]["run_id"] for e in certified)


def test_a_fresh_home_written_by_the_cli_is_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MARKET_SPINE_", "DAGSTER"))}
    env |= {"MARKET_SPINE_HOME": str(home), "MARKET_SPINE_PROFILE": "dev"}
    args = ["process", "--date", "2024-03-05", "--symbols", "CL", "--domain", "futures"]
    done = subprocess.run(
        [sys.executable, "-m", "market_spine.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        # The test process's own umask must not be what makes the files private.
        preexec_fn=lambda: os.umask(0o022),
    )
    assert done.returncode == 0, done.stderr
    shared = []
    for root, folders, files in os.walk(home):
        for name in folders + files:
            path = Path(root) / name
            if path.is_symlink():
                continue
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                shared.append(f"{oct(stat.S_IMODE(path.stat().st_mode))} {path.relative_to(home)}")
    assert not shared, shared[:20]
    assert stat.S_IMODE(home.stat().st_mode) & 0o077 == 0
    [command] = trail(home, action="cli.process")
    assert command["params"]["argv"] == args
