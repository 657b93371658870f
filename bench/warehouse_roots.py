"""Warehouse builds with the home's own reference seeds: a home with the built-in roots only, and
one whose instruments file adds 6E, beside the previous dbt invocation measured in the same run.

Setup, on temporary homes with temporary Dagster instances: three trade dates of CL/ES/NG and one
SPX/SPXW chain day through Dagster ("plain"); a copy of that lake plus the same dates of 6E, with
the example instruments file ("euro").

Measured (wall seconds of `dbt build` under the writer lock, as Dagster runs it):
- plain home, current path (`WarehouseResource.invoke`: resolves the home's seeds, finds the
  checked-in ones) vs the previous invocation (MARKET_SPINE_HOME only), each on its own copy:
  a cold build, then warm builds alternating between the two;
- euro home: the cold build (its seeds generated first), warm builds (seeds up to date), and
  the previous invocation on a copy (which fails: 6E has no contracts in the checked-in seeds);
- the seeds step alone: generating the euro home's seeds, checking them when up to date, and the
  seeds' code versions computed when definitions load.

    python bench/warehouse_roots.py
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import dataset
import report

from market_spine.lake.resource import LakeResource
from market_spine.runs.launch import materialize_options, materialize_range
from market_spine.settings import Settings
from market_spine.warehouse import reference
from market_spine.warehouse.project import dbt_resource
from market_spine.warehouse.resource import WarehouseResource
from market_spine.warehouse.seeds import home_roots, seed_versions, seeds_folder

DAYS = (date(2024, 3, 4), date(2024, 3, 6))
OPTION_DAY = date(2024, 3, 6)
EXAMPLE = Path(__file__).resolve().parents[1] / "instruments.example.toml"
WARM = 2


def _settings(home: Path) -> Settings:
    os.environ["MARKET_SPINE_HOME"] = str(home)  # the code location the runs load
    return Settings.from_env({"MARKET_SPINE_HOME": str(home), "MARKET_SPINE_PROFILE": "test"})


def _load(home: Path, symbols: tuple[str, ...], options: bool) -> None:
    settings = _settings(home)
    with dg.instance_for_test() as inst:
        runs = materialize_range(settings, symbols, *DAYS, instance=inst)
        assert all(r.success for r in runs), runs
        if options:
            summary = materialize_options(settings, OPTION_DAY, OPTION_DAY, instance=inst)
            assert summary is not None and summary.success, summary
        from market_spine.warehouse.quality import check_results

        lake = {"lake": LakeResource(root=str(settings.lake_root))}
        assert dg.materialize([check_results], instance=inst, resources=lake).success


def _copy(home: Path, to: Path) -> Path:
    shutil.copytree(home, to, symlinks=True)
    return to


def current(home: Path) -> tuple[float, bool]:
    """Seconds and success of `dbt build` through today's invocation."""
    t0 = report.now_ms()
    invocation = WarehouseResource(home=str(home)).run(["build"])
    return (report.now_ms() - t0) / 1000, invocation.process.returncode == 0


def previous(home: Path) -> tuple[float, bool]:
    """Seconds and success of `dbt build` as it was invoked before: MARKET_SPINE_HOME only."""
    warehouse = WarehouseResource(home=str(home))
    t0 = report.now_ms()
    with warehouse.writing():
        saved = {k: os.environ.get(k) for k in ("MARKET_SPINE_HOME", "MARKET_SPINE_SEEDS")}
        os.environ["MARKET_SPINE_HOME"] = str(home.resolve())
        os.environ.pop("MARKET_SPINE_SEEDS", None)
        try:
            invocation = dbt_resource().cli(
                ["build"], target_path=warehouse.target_path, raise_on_error=False
            )
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        invocation.wait()
    return (report.now_ms() - t0) / 1000, invocation.process.returncode == 0


def seeds_step(euro: Path) -> dict[str, Any]:
    """Milliseconds of the seeds step alone for the euro home's instruments."""
    toml = euro / "instruments.toml"
    with tempfile.TemporaryDirectory(dir=dataset.DATA) as scratch:
        roots = home_roots(toml)
        generate_ms, _ = report.time_ms(lambda: reference.write_seeds(Path(scratch), roots))
    seeds_folder(euro, toml)
    checked = [report.time_ms(lambda: seeds_folder(euro, toml))[0] for _ in range(20)]
    versions = [report.time_ms(lambda: seed_versions(toml))[0] for _ in range(20)]
    builtin = [report.time_ms(lambda: seed_versions(None))[0] for _ in range(20)]
    return {
        "generate_ms": round(generate_ms, 1),
        "up_to_date_check_p50_ms": round(report.percentile(checked, 50), 2),
        "versions_euro_p50_ms": round(report.percentile(versions, 50), 2),
        "versions_builtin_p50_ms": round(report.percentile(builtin, 50), 2),
    }


def main() -> None:
    """Set up the homes, time the builds and the seeds step, print and save the figures."""
    with dataset.scratch("bench_roots_") as work:
        plain = work / "plain"
        plain.mkdir()
        _load(plain, ("CL", "ES", "NG"), options=True)
        euro = _copy(plain, work / "euro")
        (euro / "instruments.toml").write_text(EXAMPLE.read_text())
        _load(euro, ("6E",), options=False)
        plain_prev = _copy(plain, work / "plain_prev")
        euro_prev = _copy(euro, work / "euro_prev")

        builds: dict[str, list[tuple[float, bool]]] = {"plain_current": [], "plain_previous": []}
        cold = {"plain_current": current(plain), "plain_previous": previous(plain_prev)}
        for _ in range(WARM):
            builds["plain_current"].append(current(plain))
            builds["plain_previous"].append(previous(plain_prev))
        cold["euro_current"] = current(euro)
        cold["euro_previous"] = previous(euro_prev)
        builds["euro_current"] = [current(euro) for _ in range(WARM)]
        step = seeds_step(euro)

    def warm(name: str) -> list[Any]:
        if not builds.get(name):
            return ["-", "-"]
        ok = all(passed for _, passed in builds[name])
        return [round(min(s for s, _ in builds[name]), 2), "ok" if ok else "FAILED"]

    rows = [
        [name, round(seconds, 2), "ok" if ok else "FAILED", *warm(name)]
        for name, (seconds, ok) in cold.items()
    ]
    report.table(
        "dbt build under the writer lock (seconds; warm = best of the later builds)",
        ["home / invocation", "cold s", "cold result", "warm s", "warm result"],
        rows,
    )
    report.table("The seeds step alone", ["figure", "value"], list(step.items()))
    report.save(
        "warehouse_roots",
        {
            "cold": {k: {"s": round(s, 2), "ok": ok} for k, (s, ok) in cold.items()},
            "warm": {k: [{"s": round(s, 2), "ok": ok} for s, ok in v] for k, v in builds.items()},
            "seeds_step": step,
        },
    )


if __name__ == "__main__":
    main()
