"""What a dbt command costs before dbt starts: no `dbt --version` process, no dbt adapter
made in the calling process."""

from __future__ import annotations

import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.version import Version

from market_spine.warehouse.project import dbt_resource
from market_spine.warehouse.resource import WarehouseResource


def test_a_dbt_command_starts_one_process_and_no_adapter_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[list[str]] = []
    popen = subprocess.Popen

    def noted(args: list[str], *rest: object, **options: object) -> subprocess.Popen:
        started.append(list(args))
        return popen(args, *rest, **options)  # type: ignore[call-overload]

    # Every process dbt is started in, `dbt --version` included, passes through Popen.
    monkeypatch.setattr(subprocess, "Popen", noted)
    dbt = dbt_resource()
    assert dbt._cli_version == Version(version("dbt-core"))
    assert dbt._initialize_dbt_core_adapter(["parse"]) is None

    invocation = WarehouseResource(home=str(tmp_path / "home")).run(["parse"], dbt=dbt)
    assert invocation.process.returncode == 0
    assert [a[1:] for a in started if Path(a[0]).name == "dbt"] == [["parse"]], started
