"""The API with its stores on PostgreSQL (`state_database`): keys issued by one replica are
accepted by another, `/readyz` asks the database, and a database that refuses answers 503
without the cause, which goes to the operator."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import SecretStr

from market_spine.api.app import create_app
from market_spine.security.keys import KeyStore
from market_spine_tests.kit.api import serving_app
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.postgres import PostgresServer
from market_spine_tests.kit.state_db import PII_HASH_KEY, drop_sessions, use_postgres


def _replica(home: Path, state: str) -> object:
    """One API replica: its own home (nothing shared on disk), the stores in `state`."""
    settings = replace(
        settings_for(home), state_database=state, pii_hash_key=SecretStr(PII_HASH_KEY)
    )
    return create_app(settings)


def test_replicas_on_two_nodes_share_keys_and_readiness_asks_the_database(
    postgres: PostgresServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="market_spine.api")
    state = use_postgres(postgres, monkeypatch)
    for node in ("a", "b"):
        (tmp_path / node / "lake").mkdir(parents=True)
    issued = KeyStore(tmp_path / "a").create("admin", name="from-node-a")
    headers = {"Authorization": f"Bearer {issued.token}"}
    with serving_app(_replica(tmp_path / "b", state), role=None) as b:  # type: ignore[arg-type]
        keys = b.get("/v1/keys", headers=headers)
        assert keys.status_code == 200, keys.text
        assert [k["name"] for k in keys.json()["keys"]] == ["from-node-a"]
        ready = b.get("/readyz", headers=headers).json()
        assert ready["checks"]["state"]["ok"] is True, ready
        assert "accepts the credentials" in ready["checks"]["state"]["detail"]
        assert not (tmp_path / "b" / "secrets" / "keys.db").exists()

        monkeypatch.setenv("PGPASSWORD", "not-the-password")
        # Every session of the API ends: the next request must log in again.
        drop_sessions(postgres)
        # A checked key is kept a while (no login per request); listing keys reads the store.
        refused = b.get("/v1/keys", headers=headers)
        assert refused.status_code == 503, refused.text
        assert "state database is unavailable" in refused.json()["error"]
        assert "PGPASSWORD" not in refused.text and "not-the-password" not in refused.text
        unready = b.get("/readyz")
        assert unready.status_code == 503 and unready.json() == {"status": "unavailable"}
        # A key checked a moment ago is still known: its operator reads why.
        detail = b.get("/readyz", headers=headers).json()["checks"]["state"]
        assert detail["ok"] is False and "PGPASSWORD" in detail["detail"]
        # One whose key cannot be checked (its store down) is answered as anyone; the server
        # log said why, once, when readiness was lost (not on every probe).
        unknown = {"Authorization": f"Bearer {issued.token[:-4]}AAAA"}
        assert b.get("/readyz", headers=unknown).json() == {"status": "unavailable"}
    said = [r.getMessage() for r in caplog.records if "readiness" in r.getMessage()]
    assert "the state database" in said[-1] and "PGPASSWORD" in said[-1]
    assert len([m for m in said if "the state database" in m]) == 1


def test_a_replica_on_an_empty_home_opens_its_profiles_instance(
    postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pod's home is scratch: `market-spine api` puts the profile's dagster.yaml in place, so
    the replica's readiness reaches the instance's PostgreSQL instead of asking for `up`."""
    import uvicorn
    from typer.testing import CliRunner

    from market_spine.api.routes_health import probe_dagster
    from market_spine.cli import app
    from market_spine.settings import Settings

    state = use_postgres(postgres, monkeypatch)
    home = tmp_path / "scratch-home"
    env = {
        "MARKET_SPINE_HOME": str(home),
        "MARKET_SPINE_PROFILE": "prod",
        "MARKET_SPINE_LAKE_URI": "s3://market-spine-lake/lake",
        "MARKET_SPINE_STATE_DATABASE": state,
        **postgres.env(postgres.create_database("replica_instance")),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    served: list[object] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: served.append(self))
    result = CliRunner().invoke(app, ["api"])
    assert result.exit_code == 0, result.output
    assert served and (home / "dagster" / "dagster.yaml").is_file()
    probe = probe_dagster(Settings.from_env())
    assert probe.ok, probe.detail
