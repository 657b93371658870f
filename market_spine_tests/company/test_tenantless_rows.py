"""A row of a tenant-split company dataset that names no tenant (null or blank) would belong to
no tenant's view, and a row of a daily dataset dated where it has no partition would fail every
later build: either capture is refused whole, naming the file, the column and the rows, and
nothing of it is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from market_spine.company.assets import capture
from market_spine.company.catalog import DEFS_FOLDER
from market_spine.company.config import DEFS_FILE, DatasetConfig, load, parse
from market_spine.company.home_defs import home_folder
from market_spine.company.tables import raw_table
from market_spine.errors import InvalidInput
from market_spine.lake.store import Lake
from market_spine_tests.company.test_home_defs import VENDORS


def _vendors(tmp_path: Path, csv: str) -> tuple[Path, Path]:
    folder = home_folder(tmp_path / "home")
    (folder / "vendors_drop").mkdir(parents=True)
    (folder / "vendors.yaml").write_text(VENDORS)
    drop = folder / "vendors_drop" / "vendors.csv"
    drop.write_text(csv)
    return folder / "vendors.yaml", drop


@pytest.mark.parametrize(
    ("csv", "rows"),
    [
        ("tenant,vendor_id,email\nacme,V1,a@acme.test\n,V2,b@x.test\n", "2"),
        ("tenant,vendor_id,email\n  ,V1,a@acme.test\nacme,V2,b@x.test\n\t,V3,c@x.test\n", "1, 3"),
    ],
)
def test_a_row_without_a_tenant_refuses_the_capture(tmp_path: Path, csv: str, rows: str) -> None:
    path, drop = _vendors(tmp_path, csv)
    config = load(path)
    lake = Lake(tmp_path / "lake")
    with pytest.raises(InvalidInput) as caught:
        capture(config, path.parent, lake, "run")
    said = str(caught.value)
    assert str(drop) in said
    assert "have no tenant (column 'tenant', the dataset's tenant_column, is empty)" in said
    assert f"in data row(s) {rows};" in said and "nothing of this capture was written" in said
    assert "@" not in said  # no source value is quoted
    assert not lake.exists(raw_table(config))


def test_rows_that_all_name_a_tenant_are_captured(tmp_path: Path) -> None:
    path, _ = _vendors(tmp_path, "tenant,vendor_id,email\nacme,V1,a@acme.test\n")
    config = load(path)
    lake = Lake(tmp_path / "lake")
    assert capture(config, path.parent, lake, "run")["rows"] == 1
    assert lake.read(raw_table(config))["tenant"].to_list() == ["acme"]


def _orders_home(tmp_path: Path, csv: str) -> tuple[DatasetConfig, Path]:
    """The package's orders dataset (daily from 2026-11-23) with one drop file of `csv`."""
    folder = tmp_path / "home" / "defs" / "orders"
    (folder / "drop").mkdir(parents=True)
    (folder / "drop" / "orders.csv").write_text(csv)
    raw = yaml.safe_load((DEFS_FOLDER / "orders" / DEFS_FILE).read_text())
    return parse(raw, folder / DEFS_FILE, tmp_path / "home"), folder


@pytest.mark.parametrize(
    ("ordered_at", "rows"),
    [("2026-11-15T10:00:00Z", "2"), ("2099-01-02T10:00:00Z", "2")],
    ids=["before-start", "after-today"],
)
def test_a_row_without_a_partition_refuses_the_capture(
    tmp_path: Path, ordered_at: str, rows: str
) -> None:
    csv = (
        "tenant,order_id,client_id,ordered_at,amount,status\n"
        "acme,O1,C001,2026-11-24T09:15:00Z,10.0,open\n"
        f"acme,O2,C002,{ordered_at},20.0,open\n"
    )
    config, folder = _orders_home(tmp_path, csv)
    lake = Lake(tmp_path / "lake")
    with pytest.raises(InvalidInput) as caught:
        capture(config, folder, lake, "run")
    said = str(caught.value)
    assert "before the dataset's partitioning.start (2026-11-23) or after today" in said
    assert f"in data row(s) {rows};" in said and "nothing of this capture was written" in said
    assert not lake.exists(raw_table(config))
