"""A dimension whose every column is a key has no values to version: silver keeps each key's
first capture as its one current version rather than failing to build."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from market_spine.company.config import DatasetConfig, parse
from market_spine.company.tables import silver_rows


def _memberships(tmp_path: Path) -> DatasetConfig:
    drop = tmp_path / "drop"
    drop.mkdir()
    return parse(
        {
            "type": "market_spine.company.component.CompanyDataset",
            "attributes": {
                "name": "memberships",
                "description": "Which client belongs to which programme.",
                "owner": "team:sales-ops",
                "kind": "dimension",
                "source": {"kind": "files", "path": "drop", "format": "csv"},
                "columns": [
                    {"name": "client_id", "type": "string", "description": "The client."},
                    {"name": "programme", "type": "string", "description": "The programme."},
                ],
                "keys": ["client_id", "programme"],
            },
        },
        tmp_path / "defs.yaml",
    )


def test_a_key_only_dimension_keeps_each_keys_first_capture(tmp_path: Path) -> None:
    config = _memberships(tmp_path)
    first, second = datetime(2024, 3, 4, tzinfo=UTC), datetime(2024, 3, 5, tzinfo=UTC)
    raw = pl.DataFrame(
        {
            "client_id": ["c1", "c2", "c1", "c2", "c3"],
            "programme": ["gold", "gold", "gold", "gold", "silver"],
            "capture_id": ["a", "a", "b", "b", "b"],
            "captured_at": [first, first, second, second, second],
        },
        schema_overrides={"captured_at": pl.Datetime("ns", "UTC")},
    )
    silver = silver_rows(config, raw)
    assert silver["client_id"].to_list() == ["c1", "c2", "c3"]
    assert silver["capture_id"].to_list() == ["a", "a", "b"]
    assert silver["is_current"].all() and silver["valid_to"].null_count() == 3
