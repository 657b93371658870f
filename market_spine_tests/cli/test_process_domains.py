"""`process --symbols` runs the domains its symbols belong to: futures roots the futures (and
the warehouse over them), option roots the options; the console says what ran and what not."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.cli.process import plan_domains
from market_spine.errors import SpineError
from market_spine.options.keys import NORMALIZED_CHAIN, RAW_CHAIN

runner = CliRunner()


@pytest.mark.parametrize(
    ("domain", "symbols", "domains", "futures"),
    [
        ("all", None, ("futures", "options", "warehouse"), None),
        ("all", "CL", ("futures", "warehouse"), "CL"),
        ("all", "cl,es", ("futures", "warehouse"), "CL,ES"),
        ("all", "SPX", ("options", "warehouse"), None),
        ("all", "spxw", ("options", "warehouse"), None),
        ("all", "CL,SPXW", ("futures", "options", "warehouse"), "CL"),
        ("futures", "CL", ("futures",), "CL"),
        ("options", "SPX", ("options",), None),
        ("warehouse", None, ("warehouse",), None),
    ],
)
def test_symbols_choose_the_domains_they_belong_to(
    domain: str, symbols: str | None, domains: tuple[str, ...], futures: str | None
) -> None:
    plan = plan_domains(domain, symbols)
    assert plan.domains == domains and plan.futures_symbols == futures


def test_what_the_symbols_leave_out_is_named() -> None:
    assert plan_domains("all", "CL").left_out == (
        "options left out: --symbols CL names no option root (SPX, SPXW)"
    )
    assert plan_domains("all", "SPX").left_out == (
        "futures left out: --symbols SPX names no futures root"
    )
    assert plan_domains("all", "CL,SPX").left_out is None


@pytest.mark.parametrize(
    ("domain", "symbols", "fix"),
    [
        ("futures", "CL,SPX", "--symbols SPX: option roots have no futures runs"),
        ("options", "SPX,ES", "--symbols ES: futures roots have no option runs"),
    ],
)
def test_a_domain_the_symbols_do_not_belong_to_is_refused(
    domain: str, symbols: str, fix: str
) -> None:
    with pytest.raises(SpineError, match=fix):
        plan_domains(domain, symbols)


def test_an_unknown_symbol_is_named_unknown_with_the_known_ones() -> None:
    with pytest.raises(SpineError) as raised:
        plan_domains("options", "XYZ")
    message = str(raised.value)
    assert "--symbols XYZ: unknown symbol" in message and "futures roots have" not in message
    assert "option roots are SPX, SPXW" in message and "CL" in message


def test_futures_symbols_run_futures_and_the_warehouse_only(env_home: Path) -> None:
    result = runner.invoke(app, ["process", "--date", "2024-03-05", "--symbols", "CL"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "process 2024-03-05..2024-03-05: futures CL, warehouse; options left out" in said
    assert "SPX/SPXW" not in said.split("options left out")[0]
    instance = dg.DagsterInstance.from_config(str(env_home / "dagster"))
    chains = instance.get_materialized_partitions(NORMALIZED_CHAIN)
    bars = instance.get_materialized_partitions(dg.AssetKey(["normalized", "futures_bars_1m"]))
    assert chains == set() and bars == {"2024-03-05|CL"}
    assert not (env_home / "lake" / "/".join(RAW_CHAIN.path)).exists()
    assert (env_home / "warehouse" / "spine.duckdb").is_file()


def test_a_range_runs_in_chunks_of_days_per_run(env_home: Path) -> None:
    chunked = ["--start", "2024-03-04", "--end", "2024-03-06", "--domain", "futures"]
    result = runner.invoke(app, ["process", *chunked, "--symbols", "CL", "--days-per-run", "2"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "CL 2024-03-04..2024-03-05 ok" in said and "CL 2024-03-06..2024-03-06 ok" in said
    instance = dg.DagsterInstance.from_config(str(env_home / "dagster"))
    assert len(instance.get_runs()) == 2

    refused = runner.invoke(app, ["process", *chunked, "--days-per-run", "0"])
    assert refused.exit_code == 2 and "--days-per-run" in refused.output


def test_a_contract_given_as_a_root_is_named_with_its_root(env_home: Path) -> None:
    result = runner.invoke(app, ["process", "--date", "2024-03-05", "--symbols", "cl,esm4"])
    said = " ".join(result.output.split())
    assert result.exit_code == 2, said
    assert (
        "--symbols ESM4: ESM4 is a contract of ES, not a root: pass --symbols ES, the root "
        "whose data holds ESM4" in said
    )
    assert "instruments.toml" not in said
    assert not (env_home / "lake").exists()


def test_a_continuous_series_given_as_a_root_is_named_as_given(env_home: Path) -> None:
    result = runner.invoke(app, ["process", "--date", "2024-03-05", "--symbols", "es.c.0"])
    said = " ".join(result.output.split())
    assert result.exit_code == 2, said
    assert "ES.c.0 is a continuous series of ES, not a root: pass --symbols ES" in said
    assert "ES.C.0" not in said
    assert not (env_home / "lake").exists()
