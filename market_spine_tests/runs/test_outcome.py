"""A failed run's one-line cause is the error the step's code raised (the platform's own, which
names the fix), not the library error it wraps, nor Dagster's wrapping of it."""

from __future__ import annotations

from dagster._utils.error import SerializableErrorInfo

from market_spine.runs.outcome import root_cause


def _chain(*links: tuple[str, str]) -> SerializableErrorInfo:
    error = None
    for cls_name, message in reversed(links):
        error = SerializableErrorInfo(message, [], cls_name, cause=error)
    assert error is not None
    return error


def test_the_platforms_error_is_the_cause_not_the_connection_error_inside_it() -> None:
    error = _chain(
        ("DagsterExecutionStepExecutionError", "Error occurred while executing op"),
        (
            "ThetaDataUnavailable",
            "ThetaDataUnavailable: ThetaTerminal at http://127.0.0.1:1/v3 still failing after "
            "3 attempts: Is the terminal running and connected? Retry later.",
        ),
        ("_Transient", "ConnectError: [Errno 111] Connection refused"),
        ("ConnectError", "httpcore.ConnectError: [Errno 111] Connection refused"),
    )
    assert root_cause(error).startswith("ThetaTerminal at http://127.0.0.1:1/v3 still failing")


def test_when_dagster_raised_every_error_the_innermost_is_the_cause() -> None:
    error = _chain(
        ("DagsterExecutionStepExecutionError", "Error occurred while executing op"),
        ("DagsterInvalidInvocationError", "Partition range 6E to 6E is not a valid range."),
    )
    assert root_cause(error) == "Partition range 6E to 6E is not a valid range."


def test_a_class_named_with_its_module_is_printed_once() -> None:
    """Python prints a class outside builtins with its module: the cause drops that prefix, so
    the class is named once (by the caller) and the message follows."""
    error = _chain(
        (
            "ThetaDataUnavailable",
            "market_spine.providers.thetadata.errors.ThetaDataUnavailable: ThetaTerminal at "
            "http://127.0.0.1:1/v3 still failing after 3 attempts",
        ),
    )
    cause = root_cause(error)
    assert cause.startswith("ThetaTerminal at") and "ThetaDataUnavailable" not in cause
