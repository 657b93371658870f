"""The rule for derived partitions: certified only when every input was certified and its own
certifying checks passed on a capture taken after the data became final."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from market_spine.certification.rules import DerivedEvidence, State, derive

FINAL = datetime(2024, 3, 5, 22, 15, tzinfo=UTC)
AFTER = FINAL + timedelta(minutes=15)
BEFORE = FINAL - timedelta(hours=1)
CHAIN = "normalized/options_chain_eod"


def evidence(inputs=None, captured=AFTER, blocking=None) -> DerivedEvidence:
    return DerivedEvidence(
        {CHAIN: State.CERTIFIED} if inputs is None else inputs,
        captured,
        FINAL,
        {"validity": True} if blocking is None else blocking,
    )


def test_certified_inputs_and_passing_checks_certify() -> None:
    d = derive(evidence())
    assert d.state is State.CERTIFIED and CHAIN in d.reason


def test_an_uncertified_input_leaves_it_preliminary_and_says_which() -> None:
    for state in (None, State.PRELIMINARY, State.REVISED):
        d = derive(evidence({CHAIN: state, "other": State.CERTIFIED}))
        assert d.state is State.PRELIMINARY
        assert CHAIN in d.reason and "other" not in d.reason
    assert "not judged yet" in derive(evidence({CHAIN: None})).reason


def test_a_failed_input_fails_it_naming_the_input_and_what_it_lacks() -> None:
    minutes = "normalized/futures_bars_1m"
    d = derive(
        DerivedEvidence(
            {minutes: State.FAILED, "other": State.PRELIMINARY},
            AFTER,
            FINAL,
            {"validity": True},
            {minutes: "120 of 1,380 minutes"},
        )
    )
    assert d.state is State.FAILED
    assert d.reason == "input normalized/futures_bars_1m FAILED: 120 of 1,380 minutes"
    # Without a count it still names the input; its own failed check is named first.
    assert derive(evidence({CHAIN: State.FAILED})).reason == f"input {CHAIN} FAILED"
    own = derive(evidence({CHAIN: State.FAILED}, blocking={"validity": False}))
    assert own.state is State.FAILED
    assert own.reason == f"certifying check failed: validity; input {CHAIN} FAILED"


def test_its_own_failed_blocking_check_fails_it_even_over_certified_inputs() -> None:
    d = derive(evidence(blocking={"validity": False}))
    assert d.state is State.FAILED and "validity" in d.reason


def test_a_pending_blocking_check_or_an_early_capture_is_preliminary() -> None:
    assert derive(evidence(blocking={"validity": None})).state is State.PRELIMINARY
    early = derive(evidence(captured=BEFORE))
    assert early.state is State.PRELIMINARY and "before the data became final" in early.reason


def test_without_inputs_its_own_capture_decides() -> None:
    assert derive(evidence({}, captured=AFTER)).state is State.CERTIFIED
    assert derive(evidence({}, captured=BEFORE)).state is State.PRELIMINARY


def test_every_combination_is_certified_only_when_everything_is_clean() -> None:
    states = [None, *State]
    for chain, captured, check in itertools.product(states, (BEFORE, AFTER), (True, False, None)):
        d = derive(evidence({CHAIN: chain}, captured, {"validity": check}))
        clean = chain is State.CERTIFIED and captured >= FINAL and check is True
        assert (d.state is State.CERTIFIED) == clean
        assert d.state is not State.REVISED and d.recorded
        assert (d.state is State.FAILED) == (check is False or chain is State.FAILED)
