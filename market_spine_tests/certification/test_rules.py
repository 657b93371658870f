"""The certification rule, one test per rule and transition, then every combination of its
inputs against the properties the rule promises."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from market_spine.certification.rules import Evidence, State, decide

FINAL = datetime(2024, 3, 5, 22, 0, tzinfo=UTC)  # CL's 16:00 CT close, as UTC
AFTER = FINAL + timedelta(minutes=5)
BEFORE = FINAL - timedelta(hours=2)
PASS = {"validity": True}
FAIL = {"validity": False}
PENDING = {"validity": None}


def evidence(prior, captured=AFTER, blocking=PASS, changed=False) -> Evidence:
    return Evidence(prior, captured, FINAL, blocking, changed)


def test_a_first_clean_capture_after_the_close_is_certified() -> None:
    d = decide(evidence(None, changed=True))
    assert d.state is State.CERTIFIED and d.recorded
    assert "2024-03-05T22:05:00Z" in d.reason and "2024-03-05T22:00:00Z" in d.reason


def test_a_capture_before_the_close_is_preliminary() -> None:
    d = decide(evidence(None, captured=BEFORE, changed=True))
    assert d.state is State.PRELIMINARY and d.recorded
    assert "before the data became final" in d.reason


def test_a_capture_at_the_close_exactly_is_final() -> None:
    assert decide(evidence(None, captured=FINAL)).state is State.CERTIFIED


def test_preliminary_becomes_certified_by_a_clean_capture_after_the_close() -> None:
    d = decide(evidence(State.PRELIMINARY, changed=True))
    assert d.state is State.CERTIFIED and d.recorded


def test_preliminary_recaptured_before_the_close_stays_preliminary_unrecorded() -> None:
    d = decide(evidence(State.PRELIMINARY, captured=BEFORE, changed=True))
    assert d.state is State.PRELIMINARY and not d.recorded


def test_a_failed_blocking_check_fails_the_partition_whatever_came_before() -> None:
    for prior in (None, *State):
        d = decide(evidence(prior, blocking={"validity": False, "quotes": True}))
        assert d.state is State.FAILED and "validity" in d.reason and "quotes" not in d.reason
        assert d.recorded == (prior is not State.FAILED)


def test_a_failed_partition_is_certified_by_the_next_clean_capture() -> None:
    d = decide(evidence(State.FAILED, changed=True))
    assert d.state is State.CERTIFIED and d.recorded


def test_certified_data_that_changes_is_revised() -> None:
    d = decide(evidence(State.CERTIFIED, changed=True))
    assert d.state is State.REVISED and d.recorded and "changed" in d.reason


def test_revised_data_that_changes_again_records_another_revision() -> None:
    d = decide(evidence(State.REVISED, changed=True))
    assert d.state is State.REVISED and d.recorded


def test_revised_data_is_recertified_by_a_clean_capture_that_leaves_it_unchanged() -> None:
    d = decide(evidence(State.REVISED))
    assert d.state is State.CERTIFIED and d.recorded and "re-certified" in d.reason


def test_certified_data_recaptured_unchanged_stays_certified_without_a_record() -> None:
    d = decide(evidence(State.CERTIFIED))
    assert d.state is State.CERTIFIED and not d.recorded


def test_pending_blocking_checks_keep_unchanged_data_as_it_was() -> None:
    for prior in State:
        d = decide(evidence(prior, blocking=PENDING))
        assert d.state is prior and not d.recorded and "not run" in d.reason


def test_pending_blocking_checks_leave_new_data_preliminary() -> None:
    d = decide(evidence(None, blocking=PENDING, changed=True))
    assert d.state is State.PRELIMINARY and d.recorded and "validity" in d.reason


def test_no_blocking_checks_certify_on_time_alone() -> None:
    assert decide(evidence(None, blocking={})).state is State.CERTIFIED


PRIORS = (None, *State)
TIMES = (BEFORE, FINAL, AFTER)
CHECKS = (PASS, FAIL, PENDING, {"validity": True, "quotes": None})


@pytest.mark.parametrize(
    ("prior", "captured", "blocking", "changed"),
    list(itertools.product(PRIORS, TIMES, CHECKS, (False, True))),
)
def test_every_combination_keeps_the_rule_s_promises(prior, captured, blocking, changed) -> None:
    d = decide(Evidence(prior, captured, FINAL, blocking, changed))
    clean = all(v is True for v in blocking.values())
    if False in blocking.values():
        assert d.state is State.FAILED
    if d.state is State.CERTIFIED:
        # Certified on clean checks over final data, or certified data left untouched.
        untouched = prior is State.CERTIFIED and not changed
        assert (clean and captured >= FINAL) or untouched
    if prior in (State.CERTIFIED, State.REVISED) and changed:
        assert d.state in (State.REVISED, State.FAILED)  # a change is never silently certified
    if d.state is State.REVISED:
        assert prior in (State.CERTIFIED, State.REVISED)
    assert d.recorded == (d.state is not prior or (d.state is State.REVISED and changed))
    assert d.reason
