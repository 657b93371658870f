"""Every pod that opens the Dagster instance checks PostgreSQL's certificate against the CA:
PGSSLROOTCERT names a file the `market-spine-postgres-ca` Secret mounts in that very pod, and
the chart's instance connects with sslmode=verify-full, which the prod profile's check accepts
only with a root certificate. Validated offline, as the tools would read the files."""

from __future__ import annotations

from typing import Any

import pytest

from market_spine.config.profile_check import postgres_sslmode, tls_problem
from market_spine_tests.deploy.kit import (
    chart_instance,
    chart_parts,
    deployment_pods,
    find,
    manifests,
    secret_files,
)
from market_spine_tests.deploy.test_every_pod import helm_env, kubernetes_env
from market_spine_tests.deploy.test_helm_values import values

CA_SECRET = ("market-spine-postgres-ca", "ca.crt")


def instance_pods() -> dict[str, tuple[dict[str, str], dict[str, tuple]]]:
    """Each pod that talks to PostgreSQL: its variables and the secret files mounted in it."""
    objects = manifests()
    found: dict[str, tuple[dict[str, str], dict[str, tuple]]] = {}
    for name, (spec, container) in deployment_pods(objects).items():
        files = secret_files(spec["volumes"], container["volumeMounts"])
        found[name] = (kubernetes_env(container, objects), files)
    for name, part in chart_parts(values()).items():
        files = secret_files(part.get("volumes", []), part.get("volumeMounts", []))
        found[name] = (helm_env(part, objects), files)
    return found


def _instance(rendered: dict[str, Any]) -> dict[str, Any]:
    """The chart's run storage as a dagster.yaml's `storage.postgres` section."""
    return {"storage": {"postgres": rendered["run_storage"]["config"]}}


@pytest.mark.parametrize("pod", sorted(instance_pods()))
def test_every_instance_pod_has_postgres_ca_mounted_where_pgsslrootcert_points(pod: str) -> None:
    env, files = instance_pods()[pod]
    assert "PGSSLROOTCERT" in env, f"{pod} is given no root certificate"
    assert files.get(env["PGSSLROOTCERT"]) == CA_SECRET, (
        f"{pod}: PGSSLROOTCERT={env['PGSSLROOTCERT']} is not the mounted {CA_SECRET}"
    )


@pytest.mark.parametrize("pod", sorted(instance_pods()))
def test_the_pods_instance_verifies_the_server(pod: str) -> None:
    env, _ = instance_pods()[pod]
    data = _instance(chart_instance(values()))
    for part in ("run_storage", "event_log_storage", "schedule_storage"):
        assert postgres_sslmode(chart_instance(values())[part]["config"]) == "verify-full", part
    assert tls_problem("prod", data, env) == ""
    without = {k: v for k, v in env.items() if k != "PGSSLROOTCERT"}
    assert "none is named: set PGSSLROOTCERT" in tls_problem("prod", data, without)


def test_the_ca_secret_is_in_the_example_secrets() -> None:
    secret = find(manifests(), "Secret", CA_SECRET[0])
    assert CA_SECRET[1] in secret["stringData"]
