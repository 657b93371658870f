"""When a partition is certified: the one rule that turns what is known about a fresh write
(the state before it, when its capture was taken, when the data became final, its blocking
checks, whether its data changed) into the partition's new state and the reason for it.

Pure and clock-free, so every transition is tested without a lake or a Dagster instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class State(StrEnum):
    """A partition's certification.

    - preliminary: written before the session's data was final, or its certifying checks have
      not run on it yet;
    - certified: every certifying check passed on a capture taken after the data became final;
    - revised: it was certified, then its data changed (the next clean capture that leaves it
      unchanged certifies it again);
    - failed: a certifying check failed on it, or (a derived dataset) on what it was computed
      from;
    - expired: retention deleted its rows (its readiness rows go with them; versions before
      the deletion still read them).
    """

    PRELIMINARY = "preliminary"
    CERTIFIED = "certified"
    REVISED = "revised"
    FAILED = "failed"
    EXPIRED = "expired"


#: States that mean the data was certified once, so a change to it is a revision.
WAS_CERTIFIED = frozenset({State.CERTIFIED, State.REVISED})


@dataclass(frozen=True)
class Evidence:
    """What one write of a partition tells: its state before (None: never judged), when its
    capture was taken and when the data became final (both tz-aware), each certifying check's
    verdict by name (None: not evaluated in this run), and whether the data differs from what
    the write replaced (provenance aside). Here a certifying check is any check that gates
    certification (`CheckDef.gates_certification`), whether or not it stops downstream assets:
    False when its outcome withholds certification."""

    prior: State | None
    captured_at: datetime
    final_at: datetime
    blocking: Mapping[str, bool | None]
    changed: bool


@dataclass(frozen=True)
class Decision:
    """The partition's new state, why, and whether it is a transition worth recording (a change
    of state, or a further revision of revised data)."""

    state: State
    reason: str
    recorded: bool


def decide(evidence: Evidence) -> Decision:
    """The new state of a partition after a write, by these rules, in order:

    1. a certifying check failed → failed;
    2. certified (or revised) data changed → revised;
    3. a certifying check did not run → the prior state stands when the data did not change
       (nothing new was judged), else preliminary;
    4. the capture was taken before the data became final → preliminary, unless the data was
       certified (or revised) and did not change: then the prior state stands;
    5. otherwise → certified (again, after a revision).
    """
    e = evidence
    failed = sorted(name for name, passed in e.blocking.items() if passed is False)
    pending = sorted(name for name, passed in e.blocking.items() if passed is None)
    if failed:
        return _to(e, State.FAILED, f"certifying check failed: {', '.join(failed)}")
    if e.prior in WAS_CERTIFIED and e.changed:
        return _to(e, State.REVISED, "the data changed after it was certified")
    if pending:
        if e.prior is not None and not e.changed:
            return _to(e, e.prior, f"unchanged; certifying checks not run: {', '.join(pending)}")
        return _to(e, State.PRELIMINARY, f"certifying checks not run yet: {', '.join(pending)}")
    if e.captured_at < e.final_at:
        if e.prior in WAS_CERTIFIED:
            return _to(e, e.prior, "unchanged by a capture taken before the data became final")
        return _to(
            e,
            State.PRELIMINARY,
            f"captured at {_iso(e.captured_at)}, before the data became final at "
            f"{_iso(e.final_at)}",
        )
    if e.prior is State.REVISED:
        return _to(e, State.CERTIFIED, "re-certified: a clean capture left the revised data as is")
    if e.prior is State.CERTIFIED:
        return _to(e, State.CERTIFIED, "unchanged since it was certified")
    return _to(
        e,
        State.CERTIFIED,
        f"every certifying check passed on a capture taken at {_iso(e.captured_at)}, after the "
        f"data became final at {_iso(e.final_at)}",
    )


def missing(prior: State | None, changed: bool, reason: str) -> Decision:
    """The state of a partition (or a symbol judged apart) whose instrument has no rows at all
    while the session holds others (a vendor file of another month): missing, which is
    preliminary (its data may yet be loaded; `reason` says which and how), or revised when
    certified data changed. Never failed: absence is not a check that failed, and a stale
    failure is superseded by it."""
    state = State.REVISED if prior in WAS_CERTIFIED and changed else State.PRELIMINARY
    return Decision(state, reason, state is not prior or state is State.REVISED)


def _to(evidence: Evidence, state: State, reason: str) -> Decision:
    recorded = state is not evidence.prior or (state is State.REVISED and evidence.changed)
    return Decision(state, reason, recorded)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class DerivedEvidence:
    """What one computation of a derived partition (daily bars, greeks, a surface) tells: the
    state of each partition it was computed from, by dataset (None: never judged), when its
    capture was taken and when the data became final (tz-aware), each of its own blocking
    checks' verdicts by name (None: not evaluated in this run), and what an input lacks, by
    dataset, where it lacks something (e.g. "120 of 1,380 minutes")."""

    inputs: Mapping[str, State | None]
    captured_at: datetime
    final_at: datetime
    blocking: Mapping[str, bool | None]
    shortfalls: Mapping[str, str] = field(default_factory=dict)


def derive(evidence: DerivedEvidence) -> Decision:
    """The state of a derived partition, by these rules, in order:

    1. one of its own certifying checks failed → failed;
    2. an input failed → failed: it was computed from data known to be wrong or short;
       either way the reason names every failed input and what it lacks;
    3. an input is not certified (never judged, preliminary or revised) → preliminary: what it
       was computed from may still change;
    4. one of its own certifying checks did not run → preliminary;
    5. the capture was taken before the data became final → preliminary (a dataset without
       inputs, such as intraday quotes, is certified by its own capture);
    6. otherwise → certified.

    A derived partition is never `revised`: it is recomputed from its inputs, whose own
    certification records the revision; every computation is recorded.
    """
    e = evidence
    failed = sorted(name for name, passed in e.blocking.items() if passed is False)
    pending = sorted(name for name, passed in e.blocking.items() if passed is None)

    def lacking(dataset: str) -> str:
        shortfall = e.shortfalls.get(dataset)
        return f": {shortfall}" if shortfall else ""

    fallen = [
        f"input {d} FAILED{lacking(d)}" for d, s in sorted(e.inputs.items()) if s is State.FAILED
    ]
    if failed or fallen:
        own = [f"certifying check failed: {', '.join(failed)}"] if failed else []
        return Decision(State.FAILED, "; ".join([*own, *fallen]), True)
    uncertified = {d: s for d, s in sorted(e.inputs.items()) if s is not State.CERTIFIED}
    if uncertified:
        named = ", ".join(
            f"{d} is {s.value if s else 'not judged yet'}{lacking(d)}"
            for d, s in uncertified.items()
        )
        return Decision(State.PRELIMINARY, f"computed from uncertified input: {named}", True)
    if pending:
        return Decision(
            State.PRELIMINARY, f"certifying checks not run yet: {', '.join(pending)}", True
        )
    if e.captured_at < e.final_at:
        return Decision(
            State.PRELIMINARY,
            f"captured at {_iso(e.captured_at)}, before the data became final at "
            f"{_iso(e.final_at)}",
            True,
        )
    if e.inputs:
        reason = (
            f"computed from certified {', '.join(sorted(e.inputs))}; its certifying checks passed"
        )
    else:
        reason = (
            f"every certifying check passed on a capture taken at {_iso(e.captured_at)}, after "
            f"the data became final at {_iso(e.final_at)}"
        )
    return Decision(State.CERTIFIED, reason, True)
