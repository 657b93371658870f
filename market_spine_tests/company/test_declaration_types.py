"""A company dataset's YAML is judged whole and strictly at load: a check's parameters against
its column's declared type, numbers written as numbers (finite), owners and names by one rule
each, the tenant column never masked, and every problem of the file named at once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from market_spine.company.catalog import DEFS_FOLDER
from market_spine.company.checks import Subject, evaluate
from market_spine.company.config import (
    DEFS_FILE,
    MAX_NAME_LENGTH,
    DatasetConfig,
    FilesSource,
    load,
    parse,
)
from market_spine.company.sources import fetch_files
from market_spine.errors import InvalidInput
from market_spine_tests.company.test_declaration import Edit, _orders, _refused, _set


def _accepted_amounts(values: list[Any]) -> Edit:
    """The accepted_values check (checks[3]) pointed at `amount`, a float column."""

    def edit(attributes: dict[str, Any]) -> None:
        attributes["checks"][3] = {"kind": "accepted_values", "column": "amount", "values": values}

    return edit


@pytest.mark.parametrize(
    ("edit", "key", "says"),
    [
        (
            _accepted_amounts(["open", 2.5]),
            "attributes.checks[3].values[0]",
            "'open' (a str) can never be a value of 'amount', a float column: write finite "
            "numbers without quotes",
        ),
        (
            _set("checks", 3, "values", value=["open", 3]),
            "attributes.checks[3].values[1]",
            "3 (a int) can never be a value of 'status', a string column: write text",
        ),
        (
            _set("checks", 3, "values", value=["open", None]),
            "attributes.checks[3].values[1]",
            "is null, which accepted_values never compares",
        ),
        (
            _set("checks", 3, "owner", value="finance team"),
            "attributes.checks[3].owner",
            "'finance team' must be an email address or a team as `team:<name>`",
        ),
        (
            _set("owner", value="finance team"),
            "attributes.owner",
            "'finance team' must be an email address or a team as `team:<name>`",
        ),
        (
            _set("checks", 1, "columns", value=[]),
            "attributes.checks[1].columns",
            "is empty, so nothing would be compared",
        ),
        (
            _set("checks", 5, "max_age_hours", value=float("inf")),
            "attributes.checks[5].max_age_hours",
            "is inf: input should be a finite number",
        ),
        (
            _set("checks", 5, "max_age_hours", value="30"),
            "attributes.checks[5].max_age_hours",
            "is '30': input should be a valid number; write a finite number without quotes",
        ),
        (
            _set("checks", 4, "max_change", value=True),
            "attributes.checks[4].max_change",
            "is True: input should be a valid number",
        ),
        (
            _set("checks", 2, "min", value="0"),
            "attributes.checks[2].min",
            "is '0': input should be a valid number",
        ),
        (
            _set("checks", 2, "max", value=float("nan")),
            "attributes.checks[2].max",
            "input should be a finite number",
        ),
        (
            _set("retention_days", value="30"),
            "attributes.retention_days",
            "retention_days '30' is not a whole number of days",
        ),
        (
            _set("source", value={"kind": "http", "url": "http://x.test", "page_size": "50"}),
            "attributes.source.page_size",
            "is '50': input should be a valid integer",
        ),
        (
            _set("columns", 0, "pii", value="hash"),
            "attributes.tenant_column",
            "is tagged `pii: hash` but is the tenant column",
        ),
        (
            _set("name", value="o" * 81),
            "attributes.name",
            f"is 81 characters, over the limit of {MAX_NAME_LENGTH}",
        ),
        (
            _set("columns", 5, "name", value="s" * (MAX_NAME_LENGTH + 1)),
            "attributes.columns[5].name",
            f"over the limit of {MAX_NAME_LENGTH}",
        ),
    ],
)
def test_a_declaration_a_run_would_trip_on_is_refused_at_load(
    tmp_path: Path, edit: Edit, key: str, says: str
) -> None:
    message = _refused(edit, tmp_path)
    assert f"key `{key}` " in message and says in message, message


def test_a_name_at_the_limit_loads() -> None:
    raw = _orders()["attributes"]
    raw["name"] = "o" * MAX_NAME_LENGTH
    assert DatasetConfig.model_validate(raw).name == raw["name"]


def test_accepted_numbers_judge_a_float_column() -> None:
    raw = _orders()["attributes"]
    _accepted_amounts([10, 20.5])(raw)
    config = DatasetConfig.model_validate(raw)
    rows = pl.DataFrame({"amount": [10.0, 20.5, 7.0, None]})
    outcome = evaluate(config.checks[3], config, Subject(rows, None, datetime.now(UTC)))
    assert not outcome.passed and outcome.metadata["failing"] == 1
    assert outcome.metadata["examples"] == "7.0"


def test_every_problem_of_a_file_is_named_at_once(tmp_path: Path) -> None:
    def edit(attributes: dict[str, Any]) -> None:
        attributes["descripton"] = attributes.pop("description")  # a misspelt key
        attributes["checks"][0]["column"] = "client"  # not a declared column
        attributes["checks"][3]["owner"] = "finance"  # not an owner
        attributes["checks"][2]["max"] = -1  # below min
        attributes["tenant_column"] = "amount"  # a float column
        attributes["checks"][5]["max_age_hours"] = "75"  # a quoted number

    message = _refused(edit, tmp_path)
    for key in (
        "attributes.descripton",
        "attributes.description",
        "attributes.checks[0].column",
        "attributes.checks[3].owner",
        "attributes.checks[2].min",
        "attributes.tenant_column",
        "attributes.checks[5].max_age_hours",
    ):
        assert f"key `{key}` " in message, (key, message)
    assert len(message.splitlines()) == 7


def test_the_package_datasets_still_load() -> None:
    for name in ("clients", "employees", "orders", "suppliers"):
        assert load(DEFS_FOLDER / name / "defs.yaml", DEFS_FOLDER).name == name


def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path: Path) -> None:
    source = (DEFS_FOLDER / "orders" / DEFS_FILE).read_text()
    twice = source.replace("  retention_days:", "  checks: []\n  retention_days:", 1)
    assert twice != source
    path = tmp_path / "orders" / DEFS_FILE
    path.parent.mkdir()
    path.write_text(twice)
    with pytest.raises(
        InvalidInput, match=r"key `attributes.checks` is given twice \(lines \d+ and \d+;"
    ):
        load(path, tmp_path)


@pytest.mark.parametrize("pattern", ["../../outside/*.csv", "/tmp/outside/*.csv", "sub/*.csv", ""])
def test_a_pattern_that_holds_a_path_is_refused(tmp_path: Path, pattern: str) -> None:
    message = _refused(_set("source", "pattern", value=pattern), tmp_path)
    assert "attributes.source.files.pattern" in message or "attributes.source.pattern" in message
    assert "is not a file-name pattern" in message


def test_a_file_linked_from_outside_the_drop_folder_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = home / "defs" / "orders"
    (folder / "drop").mkdir(parents=True)
    outside = tmp_path / "outside.csv"
    outside.write_text(next((DEFS_FOLDER / "orders" / "drop").glob("*.csv")).read_text())
    (folder / "drop" / "linked.csv").symlink_to(outside)
    config = parse(_orders(), folder / DEFS_FILE, home)
    assert isinstance(config.source, FilesSource)
    outside_link = r"linked\.csv in the drop folder links to a file outside"
    with pytest.raises(InvalidInput, match=outside_link):
        fetch_files(config, config.source, folder, captured=())
