"""The User-Agent of an S3 lake's requests: the version always, the run inside a run, and the
run read back only from Market Spine's own agents."""

from __future__ import annotations

from market_spine.lake.requester import run_of, user_agent
from market_spine.lake.storage import ObjectStoreOptions
from market_spine.settings import Settings
from market_spine.version import package_version


def test_a_runs_agent_names_the_run_and_only_ours_are_read() -> None:
    assert user_agent() == f"market-spine/{package_version()}"
    tagged = user_agent("8c1e2a4b-0d3f-4c5e-9a7b-1f2e3d4c5b6a")
    assert tagged.endswith(" run/8c1e2a4b-0d3f-4c5e-9a7b-1f2e3d4c5b6a")
    assert run_of(tagged) == "8c1e2a4b-0d3f-4c5e-9a7b-1f2e3d4c5b6a"
    assert run_of(user_agent()) is None
    assert run_of("object_store/0.12 run/abc") is None
    assert run_of(None) is None


def test_the_agent_reaches_every_client_of_the_store(tmp_path) -> None:
    settings = Settings.from_env(
        {"MARKET_SPINE_HOME": str(tmp_path), "MARKET_SPINE_LAKE_URI": "s3://lake-b/lake"}
    )
    options = settings.lake_options("run-1")
    assert options is not None and options.user_agent == user_agent("run-1")
    # delta-rs and polars take it beside the `aws_*` keys.
    assert options.object_store()["user_agent"] == user_agent("run-1")
    assert "user_agent" not in ObjectStoreOptions().object_store()
