"""Messages about alerts and their delivery to each kind of sink: a generic JSON webhook, a
Slack-compatible incoming webhook (`text` + `blocks`) and email over SMTP.

`send` makes one delivery with retries and exponential backoff (tenacity); it raises
DeliveryFailed after the last try, and the caller keeps the message owed for the next
evaluation.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import httpx
from tenacity import (
    Retrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from market_spine.errors import InvalidInput, SpineError
from market_spine.operations.alerts.rules import (
    AlertRules,
    Delivery,
    EmailSink,
    SlackSink,
    WebhookSink,
)
from market_spine.operations.alerts.store import Alert

#: Every message's `source`, so a receiver shared with other systems can tell ours apart.
SOURCE = "market-spine"
#: What a delivery can fail with that a later try may not (the endpoint down, busy or refusing).
_RETRYABLE = (httpx.HTTPError, OSError, smtplib.SMTPException, SpineError)
#: SMTP line endings; headers up to RFC 5322's hard limit, so a long subject stays one line.
_MAIL_POLICY = policy.SMTP.clone(max_line_length=998)
_MARK = {"critical": ":red_circle:", "error": ":large_orange_circle:", "warning": ":warning:"}


class DeliveryFailed(SpineError):
    """A message could not be delivered to a sink after `tries` tries; `cause` says why, in a
    line without the sink's name."""

    def __init__(self, message: str, tries: int = 1, cause: str | None = None) -> None:
        super().__init__(message)
        self.tries = tries
        self.cause = cause or message


class PartlyDelivered(SpineError):
    """The SMTP server took a message for some recipients and refused the others. Not retried:
    a second try would send the message again to those who have it."""


#: What another try would not mend (a sink's URL unset) or would make worse (a message some
#: recipients already have).
_NOT_RETRIED = (PartlyDelivered, InvalidInput)


@dataclass(frozen=True)
class Message:
    """What one message says: an alert opened (`open`), cleared (`resolve`) or a test."""

    status: str
    rule: str
    kind: str
    severity: str
    subject: str
    partition: str
    summary: str
    owners: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    run_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    opened_at: str | None = None
    resolved_at: str | None = None
    resolved_by: str | None = None
    occurrences: int = 1
    alert_id: int | None = None
    link: str | None = None

    @classmethod
    def of(cls, alert: Alert, status: str, dagster_url: str | None = None) -> Message:
        """The `open` or `resolve` message of a stored alert."""
        link = None
        if dagster_url and alert.run_id:
            link = f"{dagster_url.rstrip('/')}/runs/{alert.run_id}"
        return cls(
            status=status,
            rule=alert.rule,
            kind=alert.kind,
            severity=alert.severity,
            subject=alert.subject,
            partition=alert.partition,
            summary=alert.summary,
            owners=alert.owners,
            datasets=alert.datasets,
            run_id=alert.run_id,
            details=alert.details,
            opened_at=alert.opened_at,
            resolved_at=alert.resolved_at,
            resolved_by=alert.resolved_by,
            occurrences=alert.occurrences,
            alert_id=alert.id,
            link=link,
        )

    @classmethod
    def test(cls, sink: str) -> Message:
        """A test message for `sink`: proves the route works end to end."""
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return cls(
            status="test",
            rule="test",
            kind="test",
            severity="warning",
            subject=sink,
            partition="",
            summary=f"Test alert from Market Spine to sink {sink}: delivery works.",
            opened_at=now,
        )

    @property
    def title(self) -> str:
        """One line: `[RESOLVED]` or the severity, then the summary."""
        shown = self.partition and self.partition not in self.summary
        where = f" [{self.partition}]" if shown else ""
        if self.status == "resolve":
            return f"[RESOLVED] {self.summary}{where}"
        if self.status == "test":
            return f"[TEST] {self.summary}"
        return f"[{self.severity.upper()}] {self.summary}{where}"

    def facts(self) -> list[tuple[str, str]]:
        """The labelled facts a human reads under the title."""
        rows = [
            ("rule", self.rule),
            ("kind", self.kind),
            ("severity", self.severity),
            ("subject", self.subject),
            ("partition", self.partition),
            ("owners", ", ".join(self.owners)),
            ("opened", self.opened_at or ""),
            ("resolved", self.resolved_at or ""),
            ("cleared by", (self.resolved_by or "") if self.status == "resolve" else ""),
            ("occurrences", str(self.occurrences) if self.occurrences > 1 else ""),
            ("run", self.run_id or ""),
            ("link", self.link or ""),
        ]
        rows += [(k, _text(v)) for k, v in self.details.items()]
        return [(k, v) for k, v in rows if v]


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def webhook_payload(message: Message) -> dict[str, Any]:
    """The generic webhook's JSON object: every field of the message, plus `source`/`title`."""
    return {
        "source": SOURCE,
        "title": message.title,
        **{k: list(v) if isinstance(v, tuple) else v for k, v in message.__dict__.items()},
    }


def slack_payload(message: Message) -> dict[str, Any]:
    """A Slack incoming-webhook payload: `text` (the notification's fallback) and `blocks`."""
    mark = ":white_check_mark:" if message.status == "resolve" else _MARK.get(message.severity, "")
    lines = [f"*{k}:* {v}" for k, v in message.facts()]
    return {
        "text": message.title,
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": message.title[:150], "emoji": True},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{mark} {message.summary}"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"sent by {SOURCE}"}]},
        ],
    }


def email_message(message: Message, sink: EmailSink) -> EmailMessage:
    """A plain-text email: the title as subject, one fact a line."""
    mail = EmailMessage(policy=_MAIL_POLICY)
    mail["Subject"] = message.title
    mail["From"] = sink.sender
    mail["To"] = ", ".join(sink.to)
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = make_msgid(domain=sink.sender.rsplit("@", 1)[-1])
    mail["X-Market-Spine-Status"] = message.status
    width = max((len(k) for k, _ in message.facts()), default=0)
    body = [message.summary, ""] + [f"{k.ljust(width)}  {v}" for k, v in message.facts()]
    mail.set_content("\n".join(body) + "\n")
    return mail


def _post(url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float) -> None:
    response = httpx.post(url, json=payload, headers=headers, timeout=timeout)
    if response.status_code >= 300:
        raise DeliveryFailed(f"{url} answered HTTP {response.status_code}: {response.text[:200]}")


def _smtp(sink: EmailSink, mail: EmailMessage) -> None:
    context = ssl.create_default_context(cafile=str(sink.ca_file) if sink.ca_file else None)
    if sink.ssl:
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            sink.host, sink.port, timeout=sink.timeout_s, context=context
        )
    else:
        client = smtplib.SMTP(sink.host, sink.port, timeout=sink.timeout_s)
    with client:
        if sink.starttls:
            client.starttls(context=context)
        if sink.username:
            client.login(sink.username, os.environ.get(sink.password_env or "", ""))
        refused = client.send_message(mail)
    if refused:
        # The server took the message for some recipients only: for the others it is lost.
        lost = "; ".join(
            f"{rcpt} ({code} {reply.decode(errors='replace')})"
            for rcpt, (code, reply) in refused.items()
        )
        raise PartlyDelivered(f"{sink.host}:{sink.port} refused {lost}")


def deliver_once(sink: WebhookSink | SlackSink | EmailSink, message: Message) -> None:
    """One try at delivering `message` to `sink`; raises on any failure."""
    if isinstance(sink, EmailSink):
        _smtp(sink, email_message(message, sink))
    elif isinstance(sink, SlackSink):
        _post(sink.resolved_url(), slack_payload(message), sink.headers, sink.timeout_s)
    else:
        _post(sink.resolved_url(), webhook_payload(message), sink.headers, sink.timeout_s)


def send(name: str, rules: AlertRules, message: Message) -> int:
    """Deliver `message` to sink `name` with the rules' retries; the number of tries it took.
    DeliveryFailed (with the tries) when the last one fails."""
    sink, policy = rules.sinks[name], rules.delivery
    retrying = _retrying(policy)
    try:
        for attempt in retrying:
            with attempt:
                deliver_once(sink, message)
    except _NOT_RETRIED as exc:
        cause = f"{_reason(exc)} (not retried)"
        raise DeliveryFailed(f"sink {name}: {cause}", 1, cause) from None
    except _RETRYABLE as exc:
        tries = int(retrying.statistics.get("attempt_number", policy.attempts))
        cause = f"{_reason(exc)} (after {tries} {'try' if tries == 1 else 'tries'})"
        raise DeliveryFailed(f"sink {name}: {cause}", tries, cause) from None
    except Exception as exc:  # a sink that cannot work (a malformed URL): trying again is moot
        cause = f"{_reason(exc)} (not retried)"
        raise DeliveryFailed(f"sink {name}: {cause}", 1, cause) from None
    return int(retrying.statistics.get("attempt_number", 1))


def _retrying(policy: Delivery) -> Retrying:
    return Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=policy.backoff_s, max=policy.max_backoff_s),
        retry=retry_if_exception_type(_RETRYABLE) & retry_if_not_exception_type(_NOT_RETRIED),
        reraise=True,
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, SpineError) else f"{type(exc).__name__}: {text}"
