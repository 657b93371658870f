"""Company tests register homes' own datasets in the process's catalog: each test leaves the
catalog as it found it, so other tests in the same worker see the package's datasets only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from market_spine.catalog.registry import CATALOG
from market_spine.company.catalog import COMPANY_DATASETS
from market_spine.company.definitions import build_definitions
from market_spine.lake.resource import LakeResource
from market_spine_tests.kit.homes import settings_for


def _restored() -> Iterator[None]:
    company, entries = list(COMPANY_DATASETS), dict(CATALOG.entries)
    yield
    COMPANY_DATASETS[:] = company
    CATALOG.entries.clear()
    CATALOG.entries.update(entries)


@pytest.fixture(autouse=True)
def _catalog_restored() -> Iterator[None]:
    yield from _restored()


@pytest.fixture(scope="module", autouse=True)
def _catalog_restored_after_module() -> Iterator[None]:
    """A module's own fixtures (set up before any test's) register datasets too."""
    yield from _restored()


@pytest.fixture(scope="module")
def company_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose lake holds the example company: clients, employees and one day of orders."""
    home = tmp_path_factory.mktemp("company") / "home"
    home.mkdir()
    settings = settings_for(home)
    defs = build_definitions(settings)
    assets = {a.key.to_user_string(): a for a in defs.assets or []}
    resources = {"lake": LakeResource(root=str(settings.lake_root))}
    instance = dg.DagsterInstance.ephemeral()
    wanted = ["raw/company_clients", "normalized/company_clients"]
    wanted += ["raw/company_employees", "normalized/company_employees", "raw/company_orders"]
    assert dg.materialize([assets[k] for k in wanted], resources=resources, instance=instance)
    day = dg.materialize(
        [assets["normalized/company_orders"]],
        resources=resources,
        instance=instance,
        partition_key="2026-11-26",
    )
    assert day.success
    return home
