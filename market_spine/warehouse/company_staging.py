"""The dbt staging models of the company datasets, generated from their declarations: one view
per silver table. The warehouse's lake views already mask each PII column as its tag says
(`hash`: HMAC-SHA-256 of its text under the home's key, `redact`: null;
`dbt_plugin.lake_views`), so no warehouse view, model or mart holds personal data in clear;
clear reads go through the lake's access-checked paths (API, Spine with a key), which audit
them.

Regenerate with `python -m market_spine.warehouse.company_staging`; a test compares the files
with `render()`. Owners put their gold models beside them in `models/company_gold/`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from market_spine.company.catalog import configs
from market_spine.company.config import DatasetConfig
from market_spine.company.tables import silver_schema, silver_table
from market_spine.warehouse.paths import DBT_PROJECT_DIR

#: Where the generated staging models live.
STAGING_DIR = DBT_PROJECT_DIR / "models" / "staging" / "company"
HEADER = (
    "GENERATED from the dataset's defs.yaml by `python -m "
    "market_spine.warehouse.company_staging`; edit the YAML, not this file."
)


def model_name(config: DatasetConfig) -> str:
    """`stg_company__<dataset>`."""
    return f"stg_company__{config.name}"


def model_sql(config: DatasetConfig) -> str:
    """The staging view: every silver column (PII arrives masked from the lake view)."""
    table = silver_table(config).split("/", 1)[1]
    columns = ",\n".join(f'    "{name}"' for name in silver_schema(config))
    return f"-- {HEADER}\nselect\n{columns}\nfrom {{{{ source('normalized', '{table}') }}}}\n"


def _required_columns(config: DatasetConfig, columns: list[str]) -> dict[str, object]:
    """The model's one not-null check over its key columns, named like every model's."""
    return {"name": f"required_columns_{model_name(config)}", "arguments": {"columns": columns}}


def model_yml(config: DatasetConfig) -> str:
    """The staging model's properties: description, its keys required (one check), and columns,
    PII ones saying how masked."""
    masked = {
        "hash": " Masked: HMAC-SHA-256 of the value under the home's key.",
        "redact": " Masked: always null.",
    }
    columns = []
    for name in silver_schema(config):
        text = config.column(name).description if name in config.dtypes else f"See {name}."
        if name in config.pii:
            text += masked[config.pii[name]]
        columns.append({"name": name, "description": text})
    required = [name for name in silver_schema(config) if name in config.keys]
    body = {
        "version": 2,
        "models": [
            {
                "name": model_name(config),
                "description": f"{config.description} Silver rows, PII masked (owner "
                f"{config.owner}).",
                **(
                    {"data_tests": [{"required_columns": _required_columns(config, required)}]}
                    if required
                    else {}
                ),
                "columns": columns,
            }
        ],
    }
    return f"# {HEADER}\n" + yaml.safe_dump(body, sort_keys=False, width=100)


def render() -> dict[Path, str]:
    """Every generated file's path and text."""
    files: dict[Path, str] = {}
    for config in configs():
        files[STAGING_DIR / f"{model_name(config)}.sql"] = model_sql(config)
        files[STAGING_DIR / f"{model_name(config)}.yml"] = model_yml(config)
    return files


def main() -> None:
    STAGING_DIR.mkdir(parents=True, exist_ok=True)
    wanted = render()
    for stale in set(STAGING_DIR.glob("stg_company__*")) - set(wanted):
        stale.unlink()
    for path, text in wanted.items():
        path.write_text(text)
    print(f"wrote {len(wanted)} files to {STAGING_DIR}")


if __name__ == "__main__":
    main()
