"""The alert rules file (`<home>/alerts.toml`): sinks, rules routing conditions to them by kind,
severity, dataset owner and dataset, and the thresholds of the conditions judged on a clock.

It is validated with pydantic; a bad file raises InvalidInput naming the file, the key and the
fix. `alerts.example.toml` at the repo root documents every key.
"""

from __future__ import annotations

import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from market_spine.errors import InvalidInput

#: The rules file of a home, and the example every key is documented in.
RULES_FILE = "alerts.toml"
EXAMPLE = "alerts.example.toml"


class Kind(StrEnum):
    """What an alert is about."""

    CHECK_FAILED = "check_failed"
    FRESHNESS = "freshness"
    RUN_FAILED = "run_failed"
    MISSED_TICK = "missed_tick"
    PACING = "pacing"
    LOW_DISK = "low_disk"


class Severity(StrEnum):
    """How urgent: a failed blocking check (it stops downstream assets) or low disk is
    critical; a failed ERROR check, a failed run, a freshness breach or a missed tick is an
    error; a failed WARN check or a pacing violation is a warning."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Url(_Strict):
    """An HTTP endpoint given as `url`, or as `url_env`, the environment variable holding it
    (webhook URLs are secrets: keep them out of the file)."""

    url: str | None = None
    url_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(5.0, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _http(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return url

    @model_validator(mode="after")
    def _one_url(self) -> _Url:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url and url_env")
        return self

    def resolved_url(self) -> str:
        """The URL, read from the environment when `url_env` names it; InvalidInput when unset."""
        if self.url is not None:
            return self.url
        value = os.environ.get(self.url_env or "", "").strip()
        if not value:
            raise InvalidInput(f"{self.url_env} is not set: export the sink's URL in it")
        return value


class WebhookSink(_Url):
    """A generic JSON webhook: one POST per message, the alert as a JSON object."""

    type: Literal["webhook"]


class SlackSink(_Url):
    """A Slack-compatible incoming webhook: a POST of `text` and `blocks`."""

    type: Literal["slack"]


class EmailSink(_Strict):
    """Email over SMTP: `starttls` upgrades a plain connection, `ssl` connects over TLS; the
    password is read from the environment variable `password_env`, never from the file."""

    type: Literal["email"]
    host: str
    port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    ssl: bool = False
    #: A CA bundle to trust (a relay with a private certificate); the system's otherwise.
    ca_file: Path | None = None
    username: str | None = None
    password_env: str | None = None
    sender: str
    to: list[str] = Field(min_length=1)
    timeout_s: float = Field(10.0, gt=0, le=120)

    @field_validator("sender", "to")
    @classmethod
    def _addresses(cls, value: str | list[str]) -> str | list[str]:
        for address in [value] if isinstance(value, str) else value:
            if "@" not in address or address.startswith("@") or address.endswith("@"):
                raise ValueError(f"{address!r} is not an email address")
        return value

    @model_validator(mode="after")
    def _tls_once(self) -> EmailSink:
        if self.starttls and self.ssl:
            raise ValueError("give starttls (port 587) or ssl (port 465), not both")
        if self.password_env and not self.username:
            raise ValueError("password_env needs a username")
        return self


Sink = Annotated[WebhookSink | SlackSink | EmailSink, Field(discriminator="type")]
SINK_TYPES: dict[str, type[BaseModel]] = {
    "webhook": WebhookSink,
    "slack": SlackSink,
    "email": EmailSink,
}


class Rule(_Strict):
    """Which conditions go to which sinks: every condition of a kind in `when`, of a severity
    in `severities` (default all), of a dataset whose owner is in `owners` (default any) and
    whose name matches a glob in `datasets` (default any)."""

    name: str = Field(min_length=1)
    when: list[Kind] = Field(min_length=1)
    severities: list[Severity] = Field(default_factory=lambda: list(Severity))
    owners: list[str] = Field(default_factory=list)
    datasets: list[str] = Field(default_factory=list)
    sinks: list[str] = Field(min_length=1)


class Thresholds(_Strict):
    """The limits of the conditions judged on a clock, and how far back a first evaluation
    looks for failures."""

    disk_min_free_gb: float = Field(5.0, ge=0)
    disk_min_free_percent: float = Field(5.0, ge=0, le=100)
    missed_tick_grace_minutes: float = Field(5.0, gt=0)
    lookback_hours: float = Field(24.0, gt=0)


class Delivery(_Strict):
    """Retries of one message within an evaluation (exponential backoff), the time one
    evaluation may spend delivering, and when an undeliverable message is dropped."""

    attempts: int = Field(3, ge=1, le=10)
    backoff_s: float = Field(0.5, ge=0)
    max_backoff_s: float = Field(4.0, ge=0)
    budget_s: float = Field(30.0, gt=0)
    give_up_hours: float = Field(24.0, gt=0)


class AlertRules(_Strict):
    """A whole rules file."""

    #: The Dagster UI's address, for links to a run in messages (e.g. http://127.0.0.1:3000).
    dagster_url: str | None = None
    thresholds: Thresholds = Field(default_factory=Thresholds)
    delivery: Delivery = Field(default_factory=Delivery)
    sinks: dict[str, Sink] = Field(min_length=1)
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _sinks_known(self) -> AlertRules:
        names = [r.name for r in self.rules]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"rule names must be unique; {', '.join(twice)} given twice")
        for i, rule in enumerate(self.rules):
            unknown = [s for s in rule.sinks if s not in self.sinks]
            if unknown:
                raise ValueError(
                    f"rules[{i}] ({rule.name}) sends to unknown sink(s) {', '.join(unknown)}; "
                    f"declared sinks: {', '.join(self.sinks)}"
                )
        return self


def rules_path(home: Path) -> Path:
    """Where a home's rules file lives."""
    return home / RULES_FILE


def load_rules(path: Path) -> AlertRules:
    """Parse and validate a rules file; InvalidInput names the file, each bad key and its fix."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read the alert rules ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    try:
        return AlertRules.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(_problem(doc, error) for error in exc.errors())
        raise InvalidInput(f"{path}: {problems} (every key is documented in {EXAMPLE})") from None


def _problem(doc: dict[str, Any], error: Any) -> str:
    """One validation error as `key: what is wrong, how to fix it`."""
    loc = _key_path(error["loc"])
    kind, message = error["type"], error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        allowed = _allowed(doc, error["loc"])
        return f"{loc}: unknown key; allowed here: {', '.join(allowed)}"
    if kind == "missing":
        return f"{loc}: missing; add it"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return f"{loc}.type: {message}"
    shown = error.get("input")
    if isinstance(shown, dict | list) or shown is None:
        return f"{loc}: {message}" if loc else message
    return f"{loc} = {shown!r}: {message}"


def _key_path(loc: tuple[Any, ...]) -> str:
    """`('rules', 0, 'sinks')` as `rules[0].sinks`; a sink's union tag is dropped."""
    text = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        elif not (i == 2 and loc[0] == "sinks" and part in SINK_TYPES):
            text += ("." if text else "") + str(part)
    return text


def _allowed(doc: dict[str, Any], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed in the table holding the unknown key at `loc`."""
    table = [p for p in loc[:-1] if not (loc[0] == "sinks" and p in SINK_TYPES)]
    model: type[BaseModel] = AlertRules
    if table[:1] == ["sinks"] and len(table) >= 2:
        kind = (doc.get("sinks", {}).get(table[1]) or {}).get("type")
        model = SINK_TYPES.get(kind, _Url)
    elif table[:1] == ["rules"]:
        model = Rule
    elif table[:1] == ["thresholds"]:
        model = Thresholds
    elif table[:1] == ["delivery"]:
        model = Delivery
    return list(model.model_fields)
