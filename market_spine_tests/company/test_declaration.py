"""A company dataset's YAML is refused when it is loaded, not when a run later trips on it: each
mistake is named with the file, the exact key path (`attributes.checks[2].column`) and the fix,
from the declaration's own validators."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from market_spine.company.catalog import DEFS_FOLDER
from market_spine.company.config import PLATFORM_COLUMNS, load, parse
from market_spine.company.home_defs import home_folder, read_home
from market_spine.errors import InvalidInput

Edit = Callable[[dict[str, Any]], None]


def _orders() -> dict[str, Any]:
    return yaml.safe_load((DEFS_FOLDER / "orders" / "defs.yaml").read_text())


def _refused(edit: Edit, tmp_path: Path) -> str:
    raw = _orders()
    edit(raw["attributes"])
    path = tmp_path / "defs" / "orders" / "defs.yaml"
    with pytest.raises(InvalidInput) as caught:
        parse(raw, path, tmp_path / "defs")
    message = str(caught.value)
    assert str(path) in message
    return message


def _column(name: str) -> Edit:
    def edit(attributes: dict[str, Any]) -> None:
        attributes["columns"][5]["name"] = name  # status
        attributes["checks"][3]["column"] = name

    return edit


@pytest.mark.parametrize("name", PLATFORM_COLUMNS)
def test_a_column_named_like_a_platform_column_is_refused(tmp_path: Path, name: str) -> None:
    message = _refused(_column(name), tmp_path)
    assert f"key `attributes.columns[5].name` '{name}' is a column the platform adds" in message
    assert f"rename it here and in the source, e.g. src_{name}" in message


@pytest.mark.parametrize("name", ["at", "order", "select", "left"])
def test_a_column_named_with_an_sql_keyword_is_refused(tmp_path: Path, name: str) -> None:
    message = _refused(_column(name), tmp_path)
    assert f"key `attributes.columns[5].name` '{name}' is an SQL keyword (DuckDB's)" in message
    assert f"rename it here and in the source, e.g. {name}_at" in message


def test_every_column_the_platform_adds_is_one_no_declaration_may_take() -> None:
    from market_spine.company.catalog import dataset_specs
    from market_spine.company.config import DatasetConfig

    # What the platform adds is what its tables and reads hold beyond the declared columns.
    config = DatasetConfig.model_validate(_orders()["attributes"])
    raw, silver = dataset_specs(config)
    dimension = config.model_copy(update={"kind": "dimension"})
    added = {c.name for spec in (raw, silver, *dataset_specs(dimension)) for c in spec.columns}
    added -= set(config.dtypes)
    assert added | {"certification"} == set(PLATFORM_COLUMNS)


def _set(*keys: str | int, value: Any) -> Edit:
    def edit(attributes: dict[str, Any]) -> None:
        target: Any = attributes
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "key", "says"),
    [
        (
            _set("checks", 2, "column", value="status"),
            "attributes.checks[2].column",
            "a range check compares numbers, but 'status' is a string column",
        ),
        (
            _set("checks", 3, "values", value=[]),
            "attributes.checks[3].values",
            "is empty, so every value would fail: list the accepted values",
        ),
        (
            _set("checks", 4, "max_change", value=-0.5),
            "attributes.checks[4].max_change",
            "is -0.5: input should be greater than 0; write a positive number",
        ),
        (
            _set("checks", 5, "max_age_hours", value=-1),
            "attributes.checks[5].max_age_hours",
            "is -1: input should be greater than 0; write a positive number",
        ),
        (
            _set("checks", 5, "max_age_hours", value=0),
            "attributes.checks[5].max_age_hours",
            "write a positive number",
        ),
        (
            _set("checks", 2, "max", value=-1),
            "attributes.checks[2].min",
            "0.0 is above `max` -1.0",
        ),
        (
            _set("tenant_column", value="amount"),
            "attributes.tenant_column",
            "'amount' is a float column; a tenant column must be string or int",
        ),
        (
            _set("keys", 1, value="order_no"),
            "attributes.keys[1]",
            "'order_no' is not a declared column: declare it under `columns`",
        ),
        (
            _set("checks", 0, "column", value="client"),
            "attributes.checks[0].column",
            "'client' is not a declared column",
        ),
        (
            _set("checks", 1, "columns", 1, value="order_no"),
            "attributes.checks[1].columns[1]",
            "'order_no' is not a declared column",
        ),
        (
            _set("tenant_column", value="company"),
            "attributes.tenant_column",
            "'company' is not a declared column",
        ),
        (
            _set("partitioning", "column", value="placed_at"),
            "attributes.partitioning.column",
            "'placed_at' is not a declared column",
        ),
        (
            _set("checks", 4, value={"kind": "row_count"}),
            "attributes.checks[4].max_change",
            "is required by a row_count check: add it",
        ),
        (
            _set("source", value={"kind": "http", "url": "http://x.test", "page_size": 0}),
            "attributes.source.page_size",
            "is 0: input should be greater than 0; write a positive number",
        ),
        (
            _set(
                "source",
                value={"kind": "postgres", "dsn_env": "X", "table": "t", "cursor": "changed_at"},
            ),
            "attributes.source.cursor",
            "'changed_at' is not a declared column",
        ),
        (
            _set("source", "path", value="../../elsewhere"),
            "attributes.source.path",
            "resolves to",
        ),
    ],
)
def test_a_bad_declaration_is_refused_at_the_key_at_fault(
    tmp_path: Path, edit: Edit, key: str, says: str
) -> None:
    message = _refused(edit, tmp_path)
    assert f"key `{key}` " in message and says in message, message


def test_every_mistake_of_one_kind_is_named_at_once(tmp_path: Path) -> None:
    def edit(attributes: dict[str, Any]) -> None:
        attributes["keys"] = ["tenant", "order_no"]
        attributes["tenant_column"] = "amount"
        attributes["checks"][2]["column"] = "status"

    message = _refused(edit, tmp_path)
    assert "`attributes.keys[1]`" in message
    assert "`attributes.tenant_column`" in message
    assert "`attributes.checks[2].column`" in message


def _home_with_drop(tmp_path: Path, path: str) -> Path:
    home = tmp_path / "home"
    folder = home_folder(home) / "orders_copy"
    folder.mkdir(parents=True)
    text = (DEFS_FOLDER / "orders" / "defs.yaml").read_text()
    text = text.replace("name: orders", "name: orders_copy")
    (folder / "defs.yaml").write_text(text.replace("path: drop", f"path: {path}"))
    return home


def test_a_drop_folder_leading_out_of_the_home_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    home = _home_with_drop(tmp_path, "../../../../elsewhere")
    found = read_home(home)
    assert not found.declared
    (problem,) = found.problems
    assert "key `attributes.source.path` '../../../../elsewhere' resolves to" in problem
    assert f"{outside}, outside {home}" in problem


def test_a_link_leading_out_of_the_home_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    home = _home_with_drop(tmp_path, "drop")
    (home_folder(home) / "orders_copy" / "drop").symlink_to(outside, target_is_directory=True)
    (problem,) = read_home(home).problems
    assert "key `attributes.source.path` 'drop' resolves to" in problem and str(outside) in problem


def test_a_drop_folder_inside_the_home_loads(tmp_path: Path) -> None:
    home = _home_with_drop(tmp_path, "../../../drops/orders")
    found = read_home(home)
    assert found.problems == () and [d.config.name for d in found.declared] == ["orders_copy"]


def test_the_package_datasets_all_load() -> None:
    for name in ("clients", "employees", "orders", "suppliers"):
        assert load(DEFS_FOLDER / name / "defs.yaml", DEFS_FOLDER).name == name


def test_a_setting_the_check_kind_does_not_use_is_refused(tmp_path: Path) -> None:
    message = _refused(_set("checks", 0, "values", value=["x"]), tmp_path)
    assert "key `attributes.checks[0].values` is not used by a not_null check: remove it" in message


@pytest.mark.parametrize(
    ("edit", "key", "says"),
    [
        (
            _set("checks", 0, "severity", value="critcal"),
            "attributes.checks[0].severity",
            "got 'critcal'; expected one of 'error', 'warn'",
        ),
        (
            _set("partitioning", "kind", value="hourly"),
            "attributes.partitioning.kind",
            "got 'hourly'; expected one of 'daily', 'none'",
        ),
        (
            _set("source", "kind", value="file"),
            "attributes.source.kind",
            "got 'file'; expected one of 'files', 'postgres', 'http'; did you mean 'files'?",
        ),
        (
            _set("columns", 5, "type", value="str"),
            "attributes.columns[5].type",
            "got 'str'; expected one of 'string', 'int', 'float', 'bool', 'date', 'timestamp'; "
            "did you mean 'string'?",
        ),
        (
            _set("kind", value="dimensoin"),
            "attributes.kind",
            "got 'dimensoin'; expected one of 'dimension', 'fact'; did you mean 'dimension'?",
        ),
    ],
)
def test_a_value_outside_a_keys_choices_is_named_with_the_choices(
    tmp_path: Path, edit: Edit, key: str, says: str
) -> None:
    message = _refused(edit, tmp_path)
    assert f"key `{key}` {says}" in message, message


@pytest.mark.parametrize("value", ["24/11/2026", "2026-13-01", "soon"])
def test_a_partitioning_start_that_is_not_a_date_names_the_form(tmp_path: Path, value: str) -> None:
    message = _refused(_set("partitioning", "start", value=value), tmp_path)
    assert "attributes.partitioning.start" in message
    assert "YYYY-MM-DD, e.g. 2026-11-24" in message
    assert "input_value" not in message and "Input should be" not in message
