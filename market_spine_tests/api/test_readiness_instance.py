"""`/readyz`'s instance check names a variable the instance configuration reads and this process
lacks, instead of blaming dagster.yaml for a hostname it does hold."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from market_spine.api.routes_health import probe_dagster
from market_spine.config.profiles import instance_file
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for

PG = ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD")


def test_an_unset_variable_is_named_as_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    settings.dagster_home.mkdir(parents=True)
    shutil.copy(instance_file("prod"), settings.dagster_home / "dagster.yaml")
    for name in (*PG, "DAGSTER_PG_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_PG_HOST", "127.0.0.1")
    probe = probe_dagster(settings)
    assert not probe.ok
    assert "DAGSTER_PG_DB" in probe.detail and "unset" in probe.detail
    assert "DAGSTER_PG_HOST" not in probe.detail
    assert "no hostname" not in probe.detail


def test_a_route_that_needs_the_unopenable_instance_answers_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    settings = settings_for(home)
    settings.lake_root.mkdir(parents=True)
    settings.dagster_home.mkdir(parents=True)
    shutil.copy(instance_file("prod"), settings.dagster_home / "dagster.yaml")
    for name in (*PG, "DAGSTER_PG_DB"):
        monkeypatch.delenv(name, raising=False)
    with serving(home) as client:
        r = client.get("/v1/cost")
        ready = client.get("/readyz")
    assert r.status_code == 503, r.text
    assert "Dagster instance is unavailable" in r.json()["error"]
    assert "DAGSTER_PG" not in r.text  # the cause is the operator's
    assert ready.status_code == 503 and ready.json()["failed"] == ["dagster"]
    assert "DAGSTER_PG_DB" in ready.json()["checks"]["dagster"]["detail"]
