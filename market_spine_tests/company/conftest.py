"""Company tests register homes' own datasets in the process's catalog: each test leaves the
catalog as it found it, so other tests in the same worker see the package's datasets only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from market_spine.catalog.registry import CATALOG
from market_spine.company.catalog import COMPANY_DATASETS


@pytest.fixture(autouse=True)
def _catalog_restored() -> Iterator[None]:
    company, entries = list(COMPANY_DATASETS), dict(CATALOG.entries)
    yield
    COMPANY_DATASETS[:] = company
    CATALOG.entries.clear()
    CATALOG.entries.update(entries)
