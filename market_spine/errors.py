"""The platform's error classes: each says what is wrong and how to fix it."""

from __future__ import annotations

import re


class SpineError(Exception):
    """Base of every error the platform raises on purpose. `retry_helps` says whether the same
    request can succeed later unchanged: True (a transient fault), False (something must be
    fixed first: a setting, a subscription, the input), None (it depends)."""

    retry_helps: bool | None = None


def retry_helps(cls_name: str | None) -> bool | None:
    """`retry_helps` of the platform's error class named `cls_name` (None when unknown)."""
    pending: list[type[SpineError]] = [SpineError]
    while pending:
        cls = pending.pop()
        if cls.__name__ == cls_name:
            return cls.retry_helps
        pending.extend(cls.__subclasses__())
    return None


class InvalidInput(SpineError, ValueError):
    """A caller's input (symbol, date, range, config value, payload) is not acceptable."""

    retry_helps = False


class InvalidSettings(InvalidInput):
    """Several settings are wrong at once: every problem, each a line naming the setting, where
    its value came from and the fix, so one pass corrects them all."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def raise_all(problems: list[str]) -> None:
    """Raise the one problem as InvalidInput, several as InvalidSettings; nothing when none."""
    if len(problems) == 1:
        raise InvalidInput(problems[0])
    if problems:
        raise InvalidSettings(problems)


def problems_of(exc: InvalidInput) -> list[str]:
    """The problems an InvalidInput reports, one line each."""
    return list(exc.problems) if isinstance(exc, InvalidSettings) else [str(exc)]


class AccessRefused(InvalidInput):
    """The identity may not read what it asked for (a table no rule lets it see, or not only
    its tenant's rows of it); the message names what and why. The API answers it with 403."""


class UnknownSymbol(InvalidInput):
    """The symbol is not a configured instrument."""


class InvalidDate(InvalidInput):
    """A date or timestamp could not be parsed or is out of range."""


class NoSuchDate(InvalidDate):
    """The text has a date's form but names a day the calendar lacks (2024-02-30, month 13).
    `problem` says which part is wrong; the message adds `takes`, the forms the caller
    accepts, so every caller that shows it says how to write the date."""

    def __init__(self, problem: str, takes: str = "") -> None:
        self.problem = problem
        super().__init__(f"{problem}; {takes}" if takes else problem)


class NotATradingDay(InvalidInput):
    """The date has no session on the instrument's exchange calendar."""


class InvalidRange(InvalidInput):
    """A start/end pair is reversed, empty or too wide."""


class InstanceUnavailable(SpineError):
    """The home's Dagster instance cannot be opened: its configuration reads an unset
    variable, or its database refuses the connection."""


class StateUnavailable(SpineError):
    """A store of the platform (API keys, audit trail, alerts, the lake's integrity ledger)
    cannot reach its PostgreSQL: the `state_database` setting, its credentials or the server
    must be fixed; nothing was written."""

    retry_helps = True


class ProviderError(SpineError):
    """A market-data source failed; subclasses say whether a retry can help."""


class LakeError(SpineError):
    """A Delta table could not be read or written."""


class NotMaterialized(LakeError):
    """A dataset has no data yet: it must be materialized before it can be read."""


class ProviderUnavailable(ProviderError):
    """The source cannot be reached or lost its upstream link; a retry later can help."""

    retry_helps = True


class NotSubscribed(ProviderError):
    """The account lacks the market-data subscription the request needs; retrying cannot help."""

    retry_helps = False


class UnknownContract(ProviderError):
    """The source has no definition of the requested contract (wrong month, exchange, expiry)."""

    retry_helps = False


class PacingViolation(ProviderError):
    """The source refused a request for exceeding its request-rate (pacing) limits."""

    retry_helps = True


class LakeUnreachable(LakeError):
    """The object store holding the lake did not answer (refused, timed out, no such host): a
    setting or the network must be fixed, or the store brought back; the lake itself is
    unharmed."""

    retry_helps = True


class LakeRefused(LakeError):
    """The object store holding the lake answered but refused this platform's credentials (an
    unknown key, a wrong secret, an expired token, no permission on the bucket): a setting must
    be fixed, retrying does not help; the lake itself is unharmed."""

    retry_helps = False


class LakeDamaged(LakeError):
    """A table's log or one of its data files is missing, short, corrupt or differs from what was
    recorded when it was committed. Reads refuse the damage rather than answer with wrong rows.

    `dataset` is the table (`normalized/futures_bars_1m`), `partition` what the damage covers
    (`symbol=CL, trade dates 2024-03-04..2024-03-08`, or `the whole table` for its log),
    `path` the damaged file relative to the table, and `repair` the command that rebuilds it.
    """

    #: A retry reads the same damaged bytes: only the repair removes the failure.
    retry_helps = False

    def __init__(
        self, dataset: str, problem: str, *, partition: str, repair: str, path: str | None = None
    ) -> None:
        self.dataset = dataset
        self.problem = problem
        self.partition = partition
        self.repair = repair
        self.path = path
        super().__init__(f"{dataset} is damaged ({partition}): {problem}. {_UNREADABLE} {repair}")

    @staticmethod
    def quoted_in(text: str) -> str | None:
        """The message of a LakeDamaged that `text` quotes (the error of a DuckDB query or a
        dbt build that reached a damaged file's refusal, see lake/sql.py), on one line; None
        when it quotes none."""
        found = _DAMAGE_QUOTED.search(text)
        if found is None:
            return None
        line = text[found.start() :].split("\n", 1)[0]
        again = line.find(" is damaged (", len(found.group(0)))
        if again > 0:
            line = line[:again]
        end = line.rfind("`")
        return " ".join((line[: end + 1] if end > 0 else line).split())


_UNREADABLE = "It cannot be read until it is repaired:"
_DAMAGE_QUOTED = re.compile(r"[\w.-]+/[\w.-]+ is damaged \(")


class HistoryPruned(InvalidInput):
    """A past version of a table that maintenance pruned: it was older than the retention and
    not pinned by a certification, so it can no longer be read."""


class NotCertified(SpineError):
    """A read asked for certified data only, and some of the data it holds is not certified."""


class OperatorWarning(UserWarning):
    """A warning for whoever runs the platform (a dataset file left out, a tenant column left
    undeclared), saying what to do: the command line prints it as its own `warning:` line, a
    Python caller (Spine in a notebook) gets it as a Python warning it may filter."""
