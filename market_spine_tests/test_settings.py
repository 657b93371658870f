"""Settings come from the environment; every bad value names itself and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from market_spine.errors import InvalidInput, UnknownSymbol
from market_spine.settings import Settings


def test_defaults_put_everything_under_one_home(tmp_path: Path) -> None:
    s = Settings.from_env({"MARKET_SPINE_HOME": str(tmp_path)})
    assert s.lake_root == tmp_path / "lake" and s.dagster_home == tmp_path / "dagster"
    assert s.provider == "simulated" and s.symbols == ("CL", "ES", "NG") and s.profile == "dev"


@pytest.mark.parametrize(
    ("env", "error", "text"),
    [
        ({"MARKET_SPINE_PROFILE": "staging"}, InvalidInput, "dev, test, prod"),
        ({"MARKET_SPINE_PROVIDER": "bloomberg"}, InvalidInput, "simulated"),
        ({"MARKET_SPINE_SYMBOLS": "CL,ZZ"}, UnknownSymbol, "ZZ"),
        ({"MARKET_SPINE_API_PORT": "70000"}, InvalidInput, "1..65535"),
        ({"MARKET_SPINE_SIM_SEED": "x"}, InvalidInput, "whole number"),
        ({"MARKET_SPINE_OPTIONS_PROVIDER": "cboe"}, InvalidInput, "simulated, thetadata"),
        ({"MARKET_SPINE_THETADATA_TIER": "gold"}, InvalidInput, "free, value, standard, pro"),
    ],
)
def test_bad_values_are_explained(tmp_path: Path, env: dict, error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        Settings.from_env({"MARKET_SPINE_HOME": str(tmp_path), **env})


def test_home_that_is_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "f"
    file.write_text("")
    with pytest.raises(InvalidInput, match="is a file"):
        Settings.from_env({"MARKET_SPINE_HOME": str(file)})


def test_the_suite_never_reads_the_developers_home() -> None:
    repo_home = (Path(__file__).resolve().parents[1] / ".market_spine").resolve()
    assert Settings.home_from_env() != repo_home
