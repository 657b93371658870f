"""What `/v1/datasets/{name}` and Spine say beside a company dataset's rows: each row's
certification and the read's in `X-Certification`, as market data; and, when there are no rows,
why (a missing drop folder is named with where it is expected)."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from market_spine.client import Spine
from market_spine.company.catalog import DEFS_FOLDER
from market_spine.company.definitions import build_definitions
from market_spine.company.home_defs import home_folder
from market_spine.lake.resource import LakeResource
from market_spine.markets.empty_reads import EmptyReadWarning
from market_spine.security.keys import KeyStore
from market_spine_tests.company.test_home_defs import VENDORS
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for


def _home(tmp_path: Path, *, drop: bool = True) -> Path:
    home = tmp_path / "home"
    folder = home_folder(home)
    folder.mkdir(parents=True)
    (folder / "vendors.yaml").write_text(VENDORS)
    if drop:
        (folder / "vendors_drop").mkdir()
    return home


def _materialize(home: Path, *keys: str, partition: str | None = None) -> None:
    settings = settings_for(home)
    assets = {a.key.to_user_string(): a for a in build_definitions(settings).assets or []}
    result = dg.materialize(
        [assets[k] for k in keys],
        resources={"lake": LakeResource(root=str(settings.lake_root))},
        partition_key=partition,
        raise_on_error=False,
    )
    assert result.dagster_run is not None


def test_a_missing_drop_folder_is_the_empty_reason(tmp_path: Path) -> None:
    home = _home(tmp_path, drop=False)
    expected = home_folder(home) / "vendors_drop"
    with serving(home) as client:
        answer = client.get("/v1/datasets/vendors")
    assert answer.status_code == 200
    body = answer.json()
    assert body["data"] == [] and answer.headers["X-Empty-Reason"] == "no_drop_folder"
    reason = body["empty_reason"]
    assert reason["code"] == "no_drop_folder"
    assert f"drop folder is missing: it is expected at {expected}" in reason["detail"]
    assert str(home_folder(home) / "vendors.yaml") in reason["detail"]

    with pytest.warns(EmptyReadWarning, match="drop folder is missing") as warned:
        assert Spine(home).dataset("vendors").is_empty()
    assert str(expected) in str(warned[0].message)

    # Once the folder exists but nothing was captured, the reason says what to run.
    expected.mkdir()
    with serving(home) as client:
        reason = client.get("/v1/datasets/vendors").json()["empty_reason"]
    assert (
        reason["code"] == "not_loaded"
        and "market-spine process --domain company" in (reason["detail"])
    )


def test_rows_carry_their_certification_as_market_data_does(tmp_path: Path) -> None:
    home = _home(tmp_path)
    drop = home_folder(home) / "vendors_drop"
    (drop / "a.csv").write_text("tenant,vendor_id,email\nacme,V1,a@acme.test\nglobex,V2,b@g.test\n")
    _materialize(home, "raw/company_vendors", "normalized/company_vendors")
    with serving(home) as client:
        answer = client.get("/v1/datasets/vendors")
    assert answer.headers["X-Certification"] == "certified"
    assert [r["certification"] for r in answer.json()["data"]] == ["certified"] * 2
    assert set(Spine(home).dataset("vendors")["certification"]) == {"certified"}

    # A later capture failing an error-severity check: the table as of it is failed.
    (drop / "b.csv").write_text("tenant,vendor_id,email\nacme,V3,\n")
    _materialize(home, "raw/company_vendors", "normalized/company_vendors")
    with serving(home) as client:
        answer = client.get("/v1/datasets/vendors", params={"format": "csv"})
    assert answer.headers["X-Certification"] == "failed"
    assert "certification" in answer.text.splitlines()[0]


def test_a_daily_datasets_rows_carry_their_business_dates_certification(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = home_folder(home) / "daily_orders"
    shutil.copytree(DEFS_FOLDER / "orders", folder)
    text = (folder / "defs.yaml").read_text().replace("name: orders", "name: daily_orders")
    (folder / "defs.yaml").write_text(text)
    _materialize(home, "raw/company_daily_orders")
    _materialize(home, "normalized/company_daily_orders", partition="2026-11-26")
    with serving(home) as client:
        answer = client.get("/v1/datasets/daily_orders")
    rows = answer.json()["data"]
    judged = {(r["business_date"], r["certification"]) for r in rows}
    # Only the 26th was built and judged; the other business dates' rows are not in silver.
    assert judged == {("2026-11-26", "certified")}
    assert answer.headers["X-Certification"] == "certified"


def test_a_reader_is_told_the_operators_fix_not_the_servers_path(tmp_path: Path) -> None:
    home = _home(tmp_path, drop=False)
    reader = KeyStore(home).create("reader", name="test").token
    admin = KeyStore(home).create("admin", name="test").token
    with serving(home) as client:
        seen = {
            who: client.get("/v1/datasets/vendors", headers={"Authorization": f"Bearer {key}"})
            for who, key in (("reader", reader), ("admin", admin))
        }
    told = seen["reader"].json()["empty_reason"]
    assert told["code"] == "no_drop_folder" and "vendors's drop folder is missing" in told["detail"]
    assert "attributes.source.path" in told["detail"] and "an operator must" in told["detail"]
    assert str(home) not in seen["reader"].text and str(tmp_path) not in seen["reader"].text
    assert str(home_folder(home) / "vendors_drop") in seen["admin"].json()["empty_reason"]["detail"]
    with pytest.warns(EmptyReadWarning) as warned:
        Spine(settings=settings_for(home), key=reader).dataset("vendors")
    assert str(home) not in str(warned[0].message)


def test_an_unknown_query_parameter_is_refused_with_those_accepted(tmp_path: Path) -> None:
    home = _home(tmp_path)
    with serving(home) as client:
        refused = client.get("/v1/datasets/vendors", params={"tenant": "globex", "limt": "5"})
        fine = client.get("/v1/datasets/vendors", params={"limit": "5", "format": "json"})
    assert refused.status_code == 400
    assert "limt, tenant" in refused.text and "format, limit, offset" in refused.text
    assert fine.status_code == 200
