"""Quality scores from the asset-check evaluations of a real home: a capture with a block of
missing minutes fails the normalized bars' completeness on that day only, the score drops on
that day and recovers on the next, and the period's trend is down against the week before."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.errors import InvalidInput
from market_spine.operations.quality_scores import (
    Verdict,
    latest_verdicts,
    parse_day,
    quality_report,
    score,
)
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import materialize_range
from market_spine_tests.kit.homes import home_with_instance, settings_for

#: Clean sessions before and after the one whose capture lost minutes.
FIRST, BAD, LAST = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)
NORMALIZED = "normalized/futures_bars_1m"
CONTINUOUS = "normalized/futures_continuous_1m"
#: A day of the normalized bars: completeness (error 2), validity (blocking 3), anomalies (2).
CLEAN_WEIGHT, FAILED_WEIGHT = 7, 2

runner = CliRunner()


@pytest.fixture(scope="module")
def gappy_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CL over FIRST..LAST, then BAD captured again by a market with gaps and re-normalized."""
    root = tmp_path_factory.mktemp("quality")
    home = home_with_instance(root, root / "home", share_lake=False)
    settings = settings_for(home)
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        assert all(
            r.success for r in materialize_range(settings, ["CL"], FIRST, LAST, instance=instance)
        )
        gappy = MarketDataResource.from_settings(settings).model_copy(update={"defects": ["gaps"]})
        (run,) = materialize_range(settings, ["CL"], BAD, BAD, instance=instance, market=gappy)
        # The continuous series holding the gappy contract lose the same minutes.
        assert run.failed_checks == (
            f"{NORMALIZED}:completeness [{BAD.isoformat()}|CL]",
            f"normalized/futures_continuous_1m:completeness [{BAD.isoformat()}|CL]",
        )
    return home


def _verdicts(home: Path) -> list[Verdict]:
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        return latest_verdicts(instance)


def test_a_failed_check_lowers_its_day_and_the_trend(gappy_home: Path) -> None:
    report = quality_report(_verdicts(gappy_home), start=BAD, end=LAST)
    assert (report.start, report.end) == (BAD, LAST)
    normalized = {d.day: d for d in report.days if d.dataset == NORMALIZED}
    bad_score = (CLEAN_WEIGHT - FAILED_WEIGHT) / CLEAN_WEIGHT
    assert normalized[BAD].score == pytest.approx(bad_score)
    assert (normalized[BAD].failed, normalized[BAD].verdicts) == (1, 3)
    # Against the clean day before, which lies before the period.
    assert normalized[BAD].change == pytest.approx(bad_score - 1)
    assert normalized[LAST].score == 1 and normalized[LAST].change == pytest.approx(1 - bad_score)

    scores = {d.dataset: d for d in report.datasets}
    period = (2 * CLEAN_WEIGHT - FAILED_WEIGHT) / (2 * CLEAN_WEIGHT)
    assert scores[NORMALIZED].score == pytest.approx(period)
    assert scores[NORMALIZED].previous == 1
    assert scores[NORMALIZED].trend == pytest.approx(period - 1)
    assert scores[NORMALIZED].findings == {"blocking": 0, "error": 1, "warning": 0}
    # The continuous series hold the same gappy contract: their completeness fails too.
    assert scores[CONTINUOUS].score < 1
    others = [d for name, d in scores.items() if name not in (NORMALIZED, CONTINUOUS)]
    assert others and all(d.score == 1 and d.trend == 0 for d in others)

    found = sorted((f.dataset, f.check, f.partition) for f in report.findings)
    partition = f"{BAD.isoformat()}|CL"
    assert found == [
        (NORMALIZED, "completeness", partition),
        (CONTINUOUS, "completeness", partition),
    ]
    assert all(f.metadata["missing_minutes"] > 0 for f in report.findings)


def test_the_default_period_is_the_week_to_the_newest_day(gappy_home: Path) -> None:
    verdicts = _verdicts(gappy_home)
    # The freshness SLA is judged on the current session: its day is the day it was evaluated.
    (fresh,) = [v for v in verdicts if v.check == "freshness"]
    assert fresh.partition == "" and fresh.day == fresh.evaluated_at.date()
    report = quality_report(verdicts, dataset=NORMALIZED)
    assert (report.start, report.end) == (fresh.day - timedelta(days=6), fresh.day)
    assert [d.day for d in report.days] == [fresh.day]
    report = quality_report(verdicts, end=LAST, dataset=NORMALIZED)
    assert (report.start, report.end) == (date(2024, 2, 29), LAST)
    (only,) = report.datasets
    assert only.previous is None and only.trend is None
    assert [d.day for d in report.days] == [FIRST, BAD, LAST]


def test_a_fixed_partition_clears_its_finding(gappy_home: Path, tmp_path: Path) -> None:
    verdicts = _verdicts(gappy_home)
    fixed = [
        dataclasses.replace(v, passed=True, evaluated_at=datetime.now(UTC)) if not v.passed else v
        for v in verdicts
    ]
    assert not quality_report(fixed, start=BAD, end=LAST).findings
    assert quality_report(verdicts, start=BAD, end=LAST).findings


def test_blocking_weighs_more_than_error_more_than_warning() -> None:
    def day(severity: str, passed: bool) -> list[Verdict]:
        at = datetime(2024, 3, 5, tzinfo=UTC)
        failed = Verdict("a/b", "c", "", BAD, passed, severity, at, "r", {})
        ok = Verdict("a/b", "d", "", BAD, True, "error", at, "r", {})
        return [failed, ok]

    blocking, error, warning = (score(day(s, False)) for s in ("blocking", "error", "warning"))
    assert blocking == pytest.approx(2 / 5) and error == 0.5 and warning == pytest.approx(2 / 3)
    assert score(day("blocking", True)) == 1 and score([]) is None


def test_quality_command(gappy_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKET_SPINE_HOME", str(gappy_home))
    result = runner.invoke(app, ["quality", "--since", str(BAD), "--until", str(LAST)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    row = next(line for line in lines if line.startswith(NORMALIZED + " "))
    assert row.split()[1:] == ["85.7%", "100.0%", "▼", "-14.3", "1", "error"]
    days = [line.split() for line in lines if line.startswith(NORMALIZED + " ")]
    assert days[1:] == [
        [NORMALIZED, str(BAD), "71.4%", "▼", "-28.6", "1", "of", "3", "failed"],
        [NORMALIZED, str(LAST), "100.0%", "▲", "+28.6", "3", "ok"],
    ]
    assert any(line.startswith(f"ERROR    {NORMALIZED}:completeness {BAD}|CL") for line in lines)

    args = ["quality", "--dataset", NORMALIZED, "--until", str(LAST), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [d["dataset"] for d in body["datasets"]] == [NORMALIZED]
    assert [f["partition"] for f in body["findings"]] == [f"{BAD}|CL"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last week"], "give e.g. 2024-03-01 or 7d"),
        (["--dataset", "normalized/bonds"], "datasets with verdicts: "),
        (["--since", "2024-03-06", "--until", "2024-03-05"], "swap them"),
    ],
)
def test_quality_rejects_bad_input(
    gappy_home: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.setenv("MARKET_SPINE_HOME", str(gappy_home))
    result = runner.invoke(app, ["quality", *args])
    assert result.exit_code == 2 and message in " ".join(result.output.split())


def test_quality_needs_an_instance(env_home: Path) -> None:
    result = runner.invoke(app, ["quality"])
    assert result.exit_code == 2 and "has no Dagster instance yet" in result.output


def test_since_reads_days_back() -> None:
    assert parse_day("7d", date(2024, 3, 8)) == date(2024, 3, 1)
    assert parse_day("2024-03-01", date(2024, 3, 8)) == date(2024, 3, 1)
    with pytest.raises(InvalidInput):
        parse_day("yesterday", date(2024, 3, 8))
