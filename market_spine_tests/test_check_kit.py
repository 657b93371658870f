"""Which check verdicts withhold a partition's certification: any failure of a blocking check,
only an ERROR of a certifying one, nothing of the others."""

from __future__ import annotations

from market_spine.certification.certify import Judged
from market_spine.check_kit import CheckDef, CheckOutcome

PASSED = CheckOutcome(True)
WARNING = CheckOutcome(False, warn_only=True)
ERROR = CheckOutcome(False)


def check(name: str, **kind: bool) -> CheckDef[object]:
    return CheckDef(name, f"the {name} check", lambda _: PASSED, **kind)


def test_blocking_and_certifying_checks_gate_certification_and_others_do_not() -> None:
    blocking, certifying, other = check("v", blocking=True), check("c", certifying=True), check("a")
    assert blocking.gates_certification and certifying.gates_certification
    assert not other.gates_certification
    assert [blocking.withholds_certification(o) for o in (PASSED, WARNING, ERROR)] == [
        False,
        True,
        True,
    ]
    # A certifying check's warning (a stray missing minute) is tolerated; its error is not.
    assert [certifying.withholds_certification(o) for o in (PASSED, WARNING, ERROR)] == [
        False,
        False,
        True,
    ]
    assert not any(other.withholds_certification(o) for o in (PASSED, WARNING, ERROR))


def test_judged_gives_the_gating_verdicts_and_the_unevaluated_as_pending() -> None:
    checks = (check("validity", blocking=True), check("completeness", certifying=True), check("x"))
    verdicts = {"p": {"validity": PASSED, "completeness": ERROR, "x": ERROR}}
    assert Judged(checks, verdicts, {"validity", "completeness", "x"}).blocking("p") == {
        "validity": True,
        "completeness": False,
    }
    warned = {"p": {"validity": PASSED, "completeness": WARNING, "x": ERROR}}
    assert Judged(checks, warned, {"validity"}).blocking("p") == {
        "validity": True,
        "completeness": None,
    }
