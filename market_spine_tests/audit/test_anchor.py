"""The reviewer's rewrite of the audit trail (drop the triggers, delete an entry, recompute the
chain and the head) is caught, in a SQLite file and in PostgreSQL: by the missing triggers, and,
when the attacker puts them back, by the heads anchored outside the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from market_spine.audit.anchor import append_anchor, current_anchor, read_anchors
from market_spine.audit.entry import GENESIS, chain_hash
from market_spine.audit.recorder import flush_all
from market_spine.audit.store import audit_database
from market_spine.audit.verify import verify
from market_spine.cli import app
from market_spine.errors import InvalidInput
from market_spine.operations.audit_anchoring import build_audit_anchoring
from market_spine.settings import Settings
from market_spine_tests.audit.test_trail import raw, restore_guards, set_head, written

runner = CliRunner()


def rewrite_without(home: Path, removed: int, *, restore_triggers: bool) -> None:
    """What the reviewer did: delete entry `removed`, renumber and rehash every later entry,
    rewrite the head; with `restore_triggers` the triggers are created again after."""
    con = raw(home)
    con.execute("DELETE FROM entries WHERE seq = ?", (removed,))
    rows = con.execute("SELECT * FROM entries ORDER BY seq").fetchall()
    con.execute("DELETE FROM entries")
    prev = GENESIS
    for seq, (_, at, actor, action, dataset, params, outcome, _, _) in enumerate(rows, 1):
        digest = chain_hash(prev, seq, at, actor, action, dataset, params, outcome)
        con.execute(
            "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, at, actor, action, dataset, params, outcome, prev, digest),
        )
        prev = digest
    set_head(home, con, len(rows), prev)
    if restore_triggers:
        restore_guards(con)
    con.close()


def test_dropped_triggers_are_reported(state_home: Path) -> None:
    home = state_home
    written(home, 10)
    rewrite_without(home, 5, restore_triggers=False)
    found = verify(home)
    assert not found.intact
    dropped = "entries_no_update, entries_no_delete"
    if audit_database(home).shared:
        dropped += ", entries_no_truncate"
    assert any(f"{dropped} are missing" in p for p in found.problems), found.problems


def test_a_rewrite_with_the_triggers_back_is_caught_by_the_anchors(
    state_home: Path, tmp_path: Path
) -> None:
    home = state_home
    written(home, 10)
    anchors = tmp_path / "elsewhere" / "anchors.jsonl"
    anchors.parent.mkdir()
    append_anchor(str(anchors), current_anchor(home))
    rewrite_without(home, 5, restore_triggers=True)
    assert verify(home).intact  # the rewrite is consistent on its own
    found = verify(home, anchors=read_anchors(anchors))
    assert found.problems == [
        "the anchor of "
        + read_anchors(anchors)[0].at
        + " names entry 10 but the log ends at entry 9 (entries removed)"
    ]


def test_an_anchor_inside_the_rewritten_range_shows_the_rewrite(
    state_home: Path, tmp_path: Path
) -> None:
    home = state_home
    written(home, 6)
    anchors = tmp_path / "anchors.jsonl"
    append_anchor(str(anchors), current_anchor(home))  # entry 6
    written(home, 4)  # entries 7..10 after the anchor
    rewrite_without(home, 2, restore_triggers=True)
    [problem] = verify(home, anchors=read_anchors(anchors)).problems
    assert problem.startswith("entry 6 does not have the hash anchored")


def test_the_cli_anchors_and_verifies_against_anchors(
    state_home: Path, env_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written(env_home, 10)
    anchors = tmp_path / "anchors.jsonl"
    monkeypatch.setenv("MARKET_SPINE_AUDIT_ANCHOR", str(anchors))
    done = runner.invoke(app, ["audit", "anchor"])
    assert done.exit_code == 0, done.output
    [line] = anchors.read_text().splitlines()
    assert json.loads(line)["seq"] == 10 and anchors.stat().st_mode & 0o077 == 0
    assert runner.invoke(app, ["audit", "verify", "--anchors", str(anchors)]).exit_code == 0
    flush_all()  # the commands' own entries land first, as they would between two runs
    rewrite_without(env_home, 3, restore_triggers=True)
    caught = runner.invoke(app, ["audit", "verify", "--anchors", str(anchors)])
    assert caught.exit_code == 1 and "anchored at" in caught.output


def test_an_anchor_file_inside_the_home_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"MARKET_SPINE_HOME": str(home), "MARKET_SPINE_AUDIT_ANCHOR": str(home / "a.jsonl")}
    with pytest.raises(InvalidInput, match="inside the home"):
        Settings.from_env(env)


def test_the_daemons_job_appends_the_head(
    state_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = state_home
    written(home, 3)
    anchors = tmp_path / "anchors.jsonl"
    monkeypatch.setenv("MARKET_SPINE_HOME", str(home))
    monkeypatch.setenv("MARKET_SPINE_AUDIT_ANCHOR", str(anchors))
    settings = Settings.from_env()
    job, schedule = build_audit_anchoring(settings)
    assert schedule.cron_schedule == "7 * * * *"
    assert job.execute_in_process().success
    [anchor] = read_anchors(anchors)
    assert anchor.seq >= 3 and len(anchor.hash) == 64
