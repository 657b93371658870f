"""Routing, dedupe, resolve and delivery retries across evaluations, with the state in a real
home and real HTTP receivers on loopback."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from market_spine.operations.alerts.conditions import Observation
from market_spine.operations.alerts.engine import EvaluationReport, deliver, evaluate, route
from market_spine.operations.alerts.rules import AlertRules, Kind, Severity
from market_spine.operations.alerts.store import AlertStore
from market_spine_tests.operations.alerts.receivers import http_receiver

T0 = datetime(2024, 3, 5, 14, 0, tzinfo=UTC)


def check(
    dataset: str, owner: str, severity: Severity, failing: bool = True, at: datetime = T0
) -> Observation:
    verdict = "failed" if failing else "passed"
    return Observation(
        Kind.CHECK_FAILED,
        subject=f"{dataset}:validity",
        partition="2024-03-05",
        failing=failing,
        severity=severity,
        summary=f"check {dataset}:validity {verdict} for 2024-03-05",
        at=at,
        datasets=(dataset,),
        owners=(owner,),
    )


def rules_for(sinks: dict[str, str], rules: list[dict[str, Any]], **doc: Any) -> AlertRules:
    return AlertRules.model_validate(
        {
            "sinks": {name: {"type": "webhook", "url": url} for name, url in sinks.items()},
            "rules": rules,
            "delivery": {"attempts": 2, "backoff_s": 0.01, "max_backoff_s": 0.02},
            **doc,
        }
    )


def evaluation(
    rules: AlertRules, store: AlertStore, seen: Sequence[Observation], now: datetime = T0
) -> EvaluationReport:
    report = EvaluationReport(observations=len(seen))
    report.opened, report.resolved = route(rules, store, seen)
    deliver(rules, store, now, report)
    return report


def test_the_same_failure_twice_is_one_alert(state_home: Path) -> None:
    with http_receiver() as got:
        rules = rules_for(
            {"hook": got.url}, [{"name": "all", "when": ["check_failed"], "sinks": ["hook"]}]
        )
        store = AlertStore(state_home)
        failed = check("normalized/futures_bars_1m", "team:market-data", Severity.CRITICAL)
        first = evaluation(rules, store, [failed])
        second = evaluation(rules, store, [failed, failed])
    assert len(first.opened) == 1 and first.delivered == 1
    assert second.opened == [] and second.delivered == 0
    assert [b["status"] for b in got.bodies()] == ["open"]
    (alert,) = store.open_alerts()
    assert alert.occurrences == 3


def test_failure_then_pass_sends_a_resolve_message(state_home: Path) -> None:
    with http_receiver() as got:
        rules = rules_for(
            {"hook": got.url}, [{"name": "all", "when": ["check_failed"], "sinks": ["hook"]}]
        )
        store = AlertStore(state_home)
        dataset, owner = "normalized/futures_bars_1m", "team:market-data"
        evaluation(rules, store, [check(dataset, owner, Severity.ERROR)])
        later = T0 + timedelta(minutes=20)
        report = evaluation(rules, store, [check(dataset, owner, Severity.ERROR, False, later)])
        # The condition failing again after it cleared is a new alert.
        evaluation(rules, store, [check(dataset, owner, Severity.ERROR, at=later)])
    assert len(report.resolved) == 1
    opened, resolved, reopened = got.bodies()
    assert (opened["status"], resolved["status"], reopened["status"]) == ("open", "resolve", "open")
    assert resolved["title"].startswith("[RESOLVED] check normalized/futures_bars_1m:validity")
    assert (
        resolved["resolved_by"] == "check normalized/futures_bars_1m:validity passed for 2024-03-05"
    )
    assert resolved["resolved_at"] == "2024-03-05T14:20:00Z"
    assert reopened["alert_id"] != opened["alert_id"]
    assert len(store.open_alerts()) == 1


def test_routing_by_owner_and_severity(state_home: Path) -> None:
    with http_receiver() as derivatives, http_receiver() as pager:
        rules = rules_for(
            {"derivatives": derivatives.url, "pager": pager.url},
            [
                {
                    "name": "derivatives-team",
                    "when": ["check_failed"],
                    "owners": ["team:derivatives"],
                    "sinks": ["derivatives"],
                },
                {
                    "name": "blocking",
                    "when": ["check_failed"],
                    "severities": ["critical"],
                    "sinks": ["pager"],
                },
                {
                    "name": "greeks-only",
                    "when": ["check_failed"],
                    "datasets": ["analytics/*greeks*"],
                    "sinks": ["pager"],
                },
            ],
        )
        evaluation(
            rules,
            AlertStore(state_home),
            [
                check("normalized/futures_bars_1m", "team:market-data", Severity.CRITICAL),
                check("normalized/options_chain_eod", "team:derivatives", Severity.WARNING),
                check("raw/spx_options_eod", "team:derivatives", Severity.CRITICAL),
                check("analytics/futures_bars_daily", "team:market-data", Severity.ERROR),
                check("analytics/options_greeks_eod", "team:analytics", Severity.WARNING),
            ],
        )
    to_derivatives = {(b["subject"], b["rule"]) for b in derivatives.bodies()}
    to_pager = {(b["subject"], b["rule"]) for b in pager.bodies()}
    assert to_derivatives == {
        ("normalized/options_chain_eod:validity", "derivatives-team"),
        ("raw/spx_options_eod:validity", "derivatives-team"),
    }
    assert to_pager == {
        ("normalized/futures_bars_1m:validity", "blocking"),
        ("raw/spx_options_eod:validity", "blocking"),
        ("analytics/options_greeks_eod:validity", "greeks-only"),
    }


def test_a_receiver_down_then_up_gets_each_message_once(state_home: Path) -> None:
    # Two tries per evaluation; the receiver refuses the first three requests.
    with http_receiver(fail_first=3) as got:
        rules = rules_for(
            {"hook": got.url}, [{"name": "all", "when": ["check_failed"], "sinks": ["hook"]}]
        )
        store = AlertStore(state_home)
        seen = [
            check("normalized/futures_bars_1m", "team:market-data", Severity.ERROR),
            check("raw/spx_options_eod", "team:derivatives", Severity.ERROR),
        ]
        first = evaluation(rules, store, seen)
        assert first.delivered == 0 and first.owed == 2 and len(first.failures) == 1
        assert "HTTP 500" in first.failures[0]
        second = evaluation(rules, store, seen, T0 + timedelta(minutes=1))
    assert second.delivered == 2 and second.owed == 0
    assert got.refused == 3
    assert sorted(b["subject"] for b in got.bodies()) == [
        "normalized/futures_bars_1m:validity",
        "raw/spx_options_eod:validity",
    ]
    assert store.pending() == []


def test_an_undeliverable_message_is_dropped_after_the_give_up_time(state_home: Path) -> None:
    with http_receiver(fail_first=100) as got:
        rules = rules_for(
            {"hook": got.url},
            [{"name": "all", "when": ["check_failed"], "sinks": ["hook"]}],
            delivery={"attempts": 1, "give_up_hours": 1},
        )
        store = AlertStore(state_home)
        evaluation(rules, store, [check("raw/spx_options_eod", "team:derivatives", Severity.ERROR)])
        kept = evaluation(rules, store, [], T0 + timedelta(minutes=30))
        dropped = evaluation(rules, store, [], T0 + timedelta(hours=2))
    assert (kept.owed, kept.dropped) == (1, 0)
    assert (dropped.owed, dropped.dropped) == (0, 1)
    assert store.pending() == []
    assert len(store.open_alerts()) == 1  # the condition is still open, only its message dropped


def test_low_disk_opens_and_clears_on_the_real_disk(state_home: Path) -> None:
    home = state_home
    home.mkdir()
    with http_receiver() as got:
        doc = {
            "sinks": {"hook": got.url},
            "rules": [{"name": "disk", "when": ["low_disk"], "sinks": ["hook"]}],
        }
        full = rules_for(**doc, thresholds={"disk_min_free_gb": 10**9})
        roomy = rules_for(**doc, thresholds={"disk_min_free_gb": 0, "disk_min_free_percent": 0})
        store = AlertStore(home)
        evaluate(full, store, None, home, owners_of=lambda _: ())
        evaluate(full, store, None, home, owners_of=lambda _: ())
        evaluate(roomy, store, None, home, owners_of=lambda _: ())
    opened, resolved = got.bodies()
    assert opened["severity"] == "critical" and opened["kind"] == "low_disk"
    assert "GiB free" in opened["summary"] and opened["subject"] == str(home)
    assert resolved["status"] == "resolve"
