"""Each sink end to end on loopback: a JSON webhook and a Slack-shaped webhook into a real HTTP
server, email into a real SMTP server (plain and STARTTLS), retries against a receiver that
fails and then recovers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from market_spine.operations.alerts.rules import AlertRules
from market_spine.operations.alerts.sinks import DeliveryFailed, Message, send
from market_spine_tests.operations.alerts.receivers import (
    free_port,
    http_receiver,
    smtp_receiver,
)

OPEN = Message(
    status="open",
    rule="blocking-checks",
    kind="check_failed",
    severity="critical",
    subject="normalized/futures_bars_1m:validity",
    partition="2024-03-05|CL",
    summary="check normalized/futures_bars_1m:validity failed for 2024-03-05|CL",
    owners=("team:market-data",),
    datasets=("normalized/futures_bars_1m",),
    run_id="abc123",
    details={"bad_rows": 3, "blocking": True},
    opened_at="2024-03-05T14:00:00Z",
    alert_id=7,
    link="http://127.0.0.1:3000/runs/abc123",
)


def rules_with(sinks: dict[str, dict[str, Any]], **delivery: float) -> AlertRules:
    """Rules whose one rule sends to every sink given; fast retries unless told."""
    return AlertRules.model_validate(
        {
            "sinks": sinks,
            "rules": [{"name": "all", "when": ["check_failed"], "sinks": list(sinks)}],
            "delivery": {"attempts": 3, "backoff_s": 0.01, "max_backoff_s": 0.05, **delivery},
        }
    )


def test_webhook_posts_the_alert_as_json_with_its_headers() -> None:
    with http_receiver() as got:
        sink = {"type": "webhook", "url": f"{got.url}/hook", "headers": {"X-Team": "ops"}}
        assert send("hook", rules_with({"hook": sink}), OPEN) == 1
    (request,) = got.requests
    assert request["path"] == "/hook"
    assert request["headers"]["X-Team"] == "ops"
    body = request["body"]
    assert body["source"] == "market-spine"
    assert body["status"] == "open"
    assert body["severity"] == "critical"
    assert body["partition"] == "2024-03-05|CL"
    assert body["owners"] == ["team:market-data"]
    assert body["details"] == {"bad_rows": 3, "blocking": True}
    assert body["title"].startswith("[CRITICAL] check normalized/futures_bars_1m:validity")


def test_slack_webhook_gets_text_and_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    with http_receiver() as got:
        monkeypatch.setenv("TEST_SLACK_URL", f"{got.url}/services/T0/B0/x")
        send("slack", rules_with({"slack": {"type": "slack", "url_env": "TEST_SLACK_URL"}}), OPEN)
    (body,) = got.bodies("/services/T0/B0/x")
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith("[CRITICAL]")
    kinds = [b["type"] for b in body["blocks"]]
    assert kinds[0] == "header" and "section" in kinds
    facts = "\n".join(b["text"]["text"] for b in body["blocks"] if b["type"] == "section")
    assert "*owners:* team:market-data" in facts
    assert "*link:* http://127.0.0.1:3000/runs/abc123" in facts


def test_slack_url_from_an_unset_variable_is_a_clear_failure() -> None:
    rules = rules_with({"slack": {"type": "slack", "url_env": "TEST_UNSET_SLACK_URL"}})
    with pytest.raises(DeliveryFailed, match="TEST_UNSET_SLACK_URL is not set"):
        send("slack", rules, OPEN)


def test_email_arrives_over_smtp() -> None:
    with smtp_receiver() as got:
        sink = {
            "type": "email",
            "host": got.host,
            "port": got.port,
            "sender": "spine@example.com",
            "to": ["oncall@example.com", "data@example.com"],
        }
        send("mail", rules_with({"mail": sink}), OPEN)
    (mail,) = got.messages
    assert got.envelopes == [("spine@example.com", ["oncall@example.com", "data@example.com"])]
    assert mail["Subject"].startswith("[CRITICAL] check normalized/futures_bars_1m:validity")
    lines = [line.split(None, 1) for line in mail.get_content().splitlines() if line]
    assert ["partition", "2024-03-05|CL"] in lines
    assert ["bad_rows", "3"] in lines


def test_email_over_starttls_with_a_private_ca(tmp_path: Path) -> None:
    with smtp_receiver(tls_folder=tmp_path) as got:
        sink = {
            "type": "email",
            "host": got.host,
            "port": got.port,
            "starttls": True,
            "ca_file": str(got.cert),
            "sender": "spine@example.com",
            "to": ["oncall@example.com"],
        }
        send("mail", rules_with({"mail": sink}), OPEN)
        (mail,) = got.messages
        assert mail["X-Market-Spine-Status"] == "open"
        # The server requires STARTTLS: without it the same message is refused.
        plain = {**sink, "starttls": False, "ca_file": None}
        with pytest.raises(DeliveryFailed, match="after 1 try"):
            send("mail", rules_with({"mail": plain}, attempts=1), OPEN)
        assert len(got.messages) == 1


def test_a_receiver_that_fails_then_recovers_gets_the_message_once() -> None:
    with http_receiver(fail_first=2) as got:
        tries = send("hook", rules_with({"hook": {"type": "webhook", "url": got.url}}), OPEN)
    assert tries == 3
    assert got.refused == 2
    assert len(got.requests) == 1


def test_a_receiver_down_past_the_retries_is_a_delivery_failure() -> None:
    port = free_port()  # nothing listens there
    rules = rules_with({"hook": {"type": "webhook", "url": f"http://127.0.0.1:{port}/"}})
    with pytest.raises(DeliveryFailed, match=r"sink hook: .*after 3 tries") as failure:
        send("hook", rules, OPEN)
    assert failure.value.tries == 3


def test_resolve_and_test_messages_say_so() -> None:
    resolved = Message(**{**OPEN.__dict__, "status": "resolve", "resolved_by": "check passed"})
    assert resolved.title.startswith("[RESOLVED] check normalized/futures_bars_1m:validity")
    assert ("cleared by", "check passed") in resolved.facts()
    assert Message.test("hook").title.startswith("[TEST]")
