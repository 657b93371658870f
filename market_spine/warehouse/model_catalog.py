"""Catalog entries of the warehouse's dbt models and seeds, read from the dbt manifest (their
one yml each is the declaration), and their live facts from the DuckDB file — so the catalog
describes every dataset, lake table or mart, in one place."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from market_spine.catalog.vocabulary import ColumnSpec, DatasetSpec, SchemaChange
from market_spine.warehouse.paths import MANIFEST_PATH, warehouse_path
from market_spine.warehouse.reading import read_only

OWNER = "team:analytics"
WRITTEN_BY = "dbt (the warehouse assets)"
_HISTORY = (SchemaChange(1, date(2026, 11, 23), "first version"),)


def _dataset_name(node: dict[str, Any]) -> str:
    return f"{node['schema']}/{node['name']}"


def _upstream(node: dict[str, Any], names: dict[str, str]) -> tuple[str, ...]:
    """Model and seed parents by dataset name; a source is the lake table `<layer>/<table>`."""
    out = []
    for parent in node.get("depends_on", {}).get("nodes", []):  # seeds depend on nothing
        if parent.startswith("source."):
            _, _, layer, table = parent.split(".", 3)
            out.append(f"{layer}/{table}")
        elif parent in names:
            out.append(names[parent])
    return tuple(out)


def model_datasets(manifest: Path = MANIFEST_PATH) -> tuple[DatasetSpec, ...]:
    """One entry per dbt model and seed; none when the manifest is not built yet (`make
    install` runs `dbt parse`)."""
    if not manifest.is_file():
        return ()
    nodes = [
        n
        for n in json.loads(manifest.read_text())["nodes"].values()
        if n["resource_type"] in ("model", "seed")
    ]
    names = {n["unique_id"]: _dataset_name(n) for n in nodes}
    specs = []
    for node in sorted(nodes, key=lambda n: (n["schema"], n["name"])):
        incremental = node["config"].get("materialized") == "incremental"
        specs.append(
            DatasetSpec(
                name=names[node["unique_id"]],
                description=node["description"],
                owner=OWNER,
                grain=node["meta"].get("grain", "see the description"),
                partitioning="incremental by trade date" if incremental else "none (rebuilt)",
                columns=tuple(
                    ColumnSpec(c["name"], None, c.get("description", ""))
                    for c in node["columns"].values()
                ),
                history=_HISTORY,
                upstream=_upstream(node, names),
                kind="dbt",
                written_by=WRITTEN_BY,
            )
        )
    return tuple(specs)


def warehouse_facts(
    home: Path, specs: list[DatasetSpec], timeout_s: float = 10.0
) -> dict[str, dict[str, Any]]:
    """Rows and column types of models in the home's warehouse, by dataset name, through one
    read-only connection under the shared lock; `materialized: False` until it has them."""
    path = warehouse_path(home)
    missing: dict[str, Any] = {"materialized": False}
    if not path.is_file():
        return {spec.name: dict(missing) for spec in specs}
    out: dict[str, dict[str, Any]] = {}
    with read_only(home, timeout_s) as con:
        for spec in specs:
            schema, table = spec.name.split("/", 1)
            found = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            if not found:
                out[spec.name] = dict(missing)
                continue
            rows = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
            out[spec.name] = {
                "materialized": True,
                "rows": int(rows),
                # Relative to the home, so no answer reveals where the server keeps it.
                "warehouse": str(path.relative_to(home)),
                "column_types": {name: kind for name, kind in found},
            }
    return out
