"""The lake's object-store requests read from S3 server access log lines: each REST operation's
kind, the dataset its key or listed prefix names, and only the lake bucket's lines of the
window, and the run each request's User-Agent names; a bad log location is refused with the
fix."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from market_spine.errors import InvalidInput
from market_spine.lake.requester import user_agent
from market_spine.operations.cost.object_requests import (
    LAKE_ITSELF,
    Requests,
    count_requests,
    dataset_of,
    log_lines,
    request_kind,
)
from market_spine.settings import Settings

WHEN = datetime(2026, 3, 2, 12, tzinfo=UTC)


def line(
    bucket: str,
    operation: str,
    key: str,
    request: str,
    at: str = "02/Mar/2026:12:00:00",
    agent: str = "object_store/0.12",
) -> str:
    return (
        f"owner {bucket} [{at} +0000] 10.0.0.1 arn:aws:iam::1:user/spine 3E57 {operation} {key} "
        f'"{request}" 200 - 113 - 7 - "-" "{agent}" - host SigV4 - AuthHeader - TLSv1.3'
    )


@pytest.mark.parametrize(
    "operation, kind",
    [
        ("REST.GET.OBJECT", "get"),
        ("REST.HEAD.OBJECT", "head"),
        ("REST.PUT.OBJECT", "put"),
        ("REST.PUT.PART", "put"),
        ("REST.POST.UPLOADS", "put"),
        ("REST.COPY.OBJECT", "put"),
        ("REST.GET.BUCKET", "list"),
        ("REST.DELETE.OBJECT", "delete"),
        ("REST.POST.MULTI_OBJECT_DELETE", "delete"),
        ("BATCH.DELETE.OBJECT", None),
        ("S3.TRANSITION.OBJECT", None),
    ],
)
def test_each_operation_has_its_kind(operation: str, kind: str | None) -> None:
    assert request_kind(operation) == kind


def test_a_key_names_its_dataset_under_the_lakes_root() -> None:
    assert dataset_of("lake/normalized/futures_bars_1m/_delta_log/0.json", "lake") == (
        "normalized/futures_bars_1m"
    )
    assert dataset_of("lake/_changed", "lake") == LAKE_ITSELF
    assert dataset_of("other/normalized/x/part.parquet", "lake") is None
    assert dataset_of("raw/futures_bars/a.parquet", "") == "raw/futures_bars"


def test_only_the_lake_buckets_requests_of_the_window_are_counted() -> None:
    lines = [
        line(
            "lake-b", "REST.GET.OBJECT", "lake/raw/futures_bars/p.parquet", "GET /lake-b/x HTTP/1.1"
        ),
        line(
            "lake-b",
            "REST.GET.BUCKET",
            "-",
            "GET /lake-b?list-type=2&prefix=lake%2Fraw%2Ffutures_bars%2F_delta_log%2F HTTP/1.1",
        ),
        line(
            "lake-b", "REST.PUT.OBJECT", "lake/raw/futures_bars/q.parquet", "PUT /lake-b/q HTTP/1.1"
        ),
        line(
            "other", "REST.GET.OBJECT", "lake/raw/futures_bars/p.parquet", "GET /other/p HTTP/1.1"
        ),
        line(
            "lake-b",
            "REST.GET.OBJECT",
            "lake/raw/futures_bars/p.parquet",
            "GET /lake-b/p HTTP/1.1",
            at="01/Jan/2026:00:00:00",
        ),
        "a partial line the store was still writing",
    ]
    counts = count_requests(lines, "s3://lake-b/lake", WHEN.replace(hour=0), WHEN.replace(hour=23))
    assert counts == {
        ("raw/futures_bars", "get", None): 1,
        ("raw/futures_bars", "list", None): 1,
        ("raw/futures_bars", "put", None): 1,
    }


def test_each_request_is_counted_for_the_run_its_user_agent_names() -> None:
    get = ("lake-b", "REST.GET.OBJECT", "lake/raw/futures_bars/p.parquet", "GET /lake-b/p HTTP/1.1")
    lines = [
        line(*get, agent=user_agent("0f6c0f5e-8f2b-4d2a-9a57-5d1c6a4b2e11")),
        line(*get, agent=user_agent("0f6c0f5e-8f2b-4d2a-9a57-5d1c6a4b2e11")),
        line(*get, agent=user_agent()),  # the API or the CLI: no run
        line(*get, agent="aws-cli/2.15 run/someone-elses"),  # another client's agent
        # A log without the fields after the status (older delivery formats) still counts.
        f'owner lake-b [02/Mar/2026:12:00:00 +0000] ip req id {get[1]} {get[2]} "{get[3]}" 200',
    ]
    counts = count_requests(lines, "s3://lake-b/lake", WHEN.replace(hour=0), WHEN.replace(hour=23))
    assert counts == {
        Requests("raw/futures_bars", "get", "0f6c0f5e-8f2b-4d2a-9a57-5d1c6a4b2e11"): 2,
        Requests("raw/futures_bars", "get", None): 3,
    }


def test_a_local_log_folder_is_read_and_a_missing_one_refused(tmp_path: Path) -> None:
    (tmp_path / "2026-03-02-12-00-00-LOG").write_text(
        line("b", "REST.HEAD.OBJECT", "lake/raw/x/_delta_log/0.json", "HEAD /b/k HTTP/1.1") + "\n"
    )
    assert len(list(log_lines(str(tmp_path), None))) == 1
    with pytest.raises(InvalidInput, match="MARKET_SPINE_LAKE_ACCESS_LOG"):
        list(log_lines(str(tmp_path / "absent"), None))


def test_a_log_location_that_is_no_s3_prefix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not an s3://bucket/prefix"):
        Settings.from_env(
            {"MARKET_SPINE_HOME": str(tmp_path), "MARKET_SPINE_LAKE_ACCESS_LOG": "gs://logs/x"}
        )
    given = Settings.from_env(
        {"MARKET_SPINE_HOME": str(tmp_path), "MARKET_SPINE_LAKE_ACCESS_LOG": "s3://logs/lake/"}
    )
    assert given.lake_access_log == "s3://logs/lake"
