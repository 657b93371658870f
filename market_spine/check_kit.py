"""The check kit every domain's assets share: a check declared once (CheckDef), its outcome
(CheckOutcome), and its Dagster specs and per-partition evaluations.

Checks are judged per partition, so a run over many partitions records each partition's verdict
on its own: the Dagster UI, `quality.check_results` and the warehouse's data-quality mart then
agree on exactly which partitions failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.errors import DagsterInvalidPropertyError

if TYPE_CHECKING:
    # Only the frame's type: reading check outcomes (status, runs) needs no polars.
    import polars as pl

#: Failed partitions named per check in a run's summary before the rest are only counted.
SHOWN_PARTITIONS = 3
#: The check that shows a partition's certification (market_spine.certification judges it).
CERTIFIED_CHECK = "certified"
#: Checks that show a partition's state rather than judge its data: a preliminary partition
#: is no finding, so run summaries, quality scores, status and alerts leave them out (the
#: certifying check behind a failed certification is reported on its own).
STATUS_CHECKS = frozenset({CERTIFIED_CHECK})


def is_finding(check_name: str) -> bool:
    """True for a check whose failure is a finding about the data (not a status check)."""
    return check_name not in STATUS_CHECKS


Subject = TypeVar("Subject")


@dataclass(frozen=True)
class CheckOutcome:
    """A check's verdict with the counts and worst offenders an operator needs to act.
    `warn_only` makes a failure a warning (severity WARN) rather than an error. An anomaly
    check also gives the rows it `flagged` (certification's FLAG_FINDING_SCHEMA), which are
    kept beside the data; None when it flags no rows by design."""

    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    warn_only: bool = False
    flagged: pl.DataFrame | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class CheckDef(Generic[Subject]):
    """One asset check, declared once: its name, what it verifies, how it judges one
    partition's subject (a pure function), whether an ERROR stops downstream assets
    (`blocking`), and whether an ERROR withholds the partition's certification without
    stopping them (`certifying`: completeness, whose failure on one day of a range must not
    keep the other days' derived data from being written)."""

    name: str
    description: str
    evaluate: Callable[[Subject], CheckOutcome]
    blocking: bool = False
    certifying: bool = False

    @property
    def gates_certification(self) -> bool:
        """True when the partition cannot be certified unless this check passed."""
        return self.blocking or self.certifying

    def withholds_certification(self, outcome: CheckOutcome) -> bool:
        """True when `outcome` fails the partition's certification: any failure of a blocking
        check; only an ERROR of a certifying one (a warning, such as a stray missing minute,
        is a finding the check itself judged tolerable)."""
        if not self.gates_certification or outcome.passed:
            return False
        return self.blocking or not outcome.warn_only


def check_specs(
    asset: dg.AssetKey,
    checks: Sequence[CheckDef[Any]],
    partitions_def: dg.PartitionsDefinition,
) -> list[dg.AssetCheckSpec]:
    """The asset's check specs, partitioned like the asset (Dagster requires the same
    definition), so each partition has its own verdict."""
    return [
        dg.AssetCheckSpec(
            c.name,
            asset=asset,
            description=c.description,
            blocking=c.blocking,
            partitions_def=partitions_def,
        )
        for c in checks
    ]


def judge(checks: Sequence[CheckDef[Subject]], subject: Subject) -> dict[str, CheckOutcome]:
    """Every check's outcome on one subject, by check name."""
    return {c.name: c.evaluate(subject) for c in checks}


def rows_by(
    frame: pl.DataFrame, columns: Sequence[str], keys: Iterable[tuple[Any, ...]]
) -> dict[tuple[Any, ...], pl.DataFrame]:
    """`frame` split by the values of `columns`, one entry per key in `keys`: a key without
    rows gets an empty frame of the same schema (a partition with no data is still judged)."""
    if not columns:
        # An unpartitioned table is one partition: every key holds the whole frame.
        return dict.fromkeys(keys, frame)
    groups = frame.partition_by(list(columns), as_dict=True) if frame.height else {}
    empty = frame.clear()
    return {key: groups.get(key, empty) for key in keys}


def partition_checks(
    context: dg.AssetExecutionContext,
    asset: dg.AssetKey,
    checks: Sequence[CheckDef[Any]],
    verdicts: Mapping[str, Mapping[str, CheckOutcome]],
    later: Sequence[str] = (),
) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    """One evaluation per partition of the run (and of `later`: partitions the step rebuilt
    besides the run's, each materialization recorded already) and check, then each check's
    output.

    Yield it after the asset's MaterializeResult, so each evaluation can point at its
    partition's new materialization (the UI shows a check's state against that). `verdicts`
    maps every partition key of the run to every check's outcome; anything else is a bug in
    the asset and raises ValueError naming what is wrong.
    """
    keys = [*(str(k) for k in context.partition_keys), *later]
    _require_verdicts(asset, checks, keys, verdicts)
    selected = [
        c for c in checks if dg.AssetCheckKey(asset, c.name) in context.selected_asset_check_keys
    ]
    targets = _materializations(context, asset, keys)
    for key in keys:
        for c in selected:
            outcome = verdicts[key][c.name]
            yield dg.AssetCheckEvaluation(
                asset_key=asset,
                check_name=c.name,
                passed=outcome.passed,
                metadata=_metadata(outcome),
                target_materialization_data=targets.get(key),
                severity=_severity(outcome),
                blocking=c.blocking,
                partition=key,
            )
    for c in selected:
        check_key = dg.AssetCheckKey(asset, c.name)
        yield dg.Output(
            None, output_name=context.assets_def.get_output_name_for_asset_check_key(check_key)
        )


def _require_verdicts(
    asset: dg.AssetKey,
    checks: Sequence[CheckDef[Any]],
    keys: list[str],
    verdicts: Mapping[str, Mapping[str, CheckOutcome]],
) -> None:
    lacking = [k for k in keys if k not in verdicts]
    names = {c.name for c in checks}
    wrong = {k: sorted(set(verdicts[k]) ^ names) for k in keys if k in verdicts}
    wrong = {k: v for k, v in wrong.items() if v}
    if lacking or wrong:
        raise ValueError(
            f"{asset.to_user_string()}: every partition of the run needs exactly the checks "
            f"{sorted(names)}; partitions without a verdict: {lacking[:5]}, partitions with "
            f"other checks: {dict(list(wrong.items())[:5])}"
        )


def _materializations(
    context: dg.AssetExecutionContext, asset: dg.AssetKey, keys: list[str]
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """This run's materialization of each partition, newest first as the event log has them."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset, asset_partitions=keys), limit=len(keys)
    ).records
    found: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}
    for record in records:
        if record.run_id == context.run_id and record.partition_key not in found:
            found[str(record.partition_key)] = AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
            )
    return found


def summarize_failures(evaluations: Iterable[dg.AssetCheckEvaluation]) -> tuple[str, ...]:
    """A run's failed checks for a summary line: `asset:check`, with the failed partitions
    (the first few, then a count) when the check is partitioned; status checks left out."""
    partitions: dict[str, list[str]] = {}
    for e in evaluations:
        if not e.passed and is_finding(e.check_name):
            failed = partitions.setdefault(f"{e.asset_key.to_user_string()}:{e.check_name}", [])
            if e.partition is not None:
                failed.append(e.partition)
    return tuple(
        name if not keys else f"{name} [{_first(keys)}]" for name, keys in partitions.items()
    )


def _first(keys: list[str]) -> str:
    more = len(keys) - SHOWN_PARTITIONS
    return ", ".join(keys[:SHOWN_PARTITIONS]) + (f" and {more} more" if more > 0 else "")


def check_result(asset: dg.AssetKey, name: str, outcome: CheckOutcome) -> dg.AssetCheckResult:
    """An AssetCheckResult of an unpartitioned check, metadata shown as `_metadata` does."""
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=name,
        passed=outcome.passed,
        severity=_severity(outcome),
        metadata=_metadata(outcome),
    )


def asset_level_verdict(
    context: dg.AssetCheckExecutionContext, asset: dg.AssetKey, name: str, outcome: CheckOutcome
) -> dg.AssetCheckResult | Iterator[dg.AssetCheckEvaluation | dg.Output]:
    """What an unpartitioned check on a partitioned asset returns for its verdict. In a run:
    its evaluation (metadata as `check_result` shows it) pointing at the asset's latest
    materialization of any partition, then the check's output. Invoked outside a run (a
    test, a notebook): the `check_result`.

    A run over partitions of the asset may have planned the check once per partition (Dagster
    does for a daily-partitioned asset's range): each partition planned gets the same verdict
    too, so no planned row is left waiting (the UI would show it skipped). The verdict of the
    asset is the evaluation without a partition.

    An AssetCheckResult gets the same target from Dagster, which first lists every partition
    the check depends on (all of them: years × symbols of keys built one by one) to version
    them; the latest materialization is one lookup of the asset's record."""
    output = _check_output_name(context, dg.AssetCheckKey(asset, name))
    if output is None:
        return check_result(asset, name, outcome)
    return _evaluation_events(context, asset, name, outcome, output)


def _evaluation_events(
    context: dg.AssetCheckExecutionContext,
    asset: dg.AssetKey,
    name: str,
    outcome: CheckOutcome,
    output: str,
) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    key = dg.AssetCheckKey(asset, name)
    blocking = any(spec.key == key and spec.blocking for spec in context.check_specs)
    metadata = _metadata(outcome)
    for partition in [None, *planned_partitions(context.instance, context.run.run_id, key)]:
        yield dg.AssetCheckEvaluation(
            asset_key=asset,
            check_name=name,
            passed=outcome.passed,
            metadata=metadata,
            target_materialization_data=_latest_materialization(context, asset),
            severity=_severity(outcome),
            blocking=blocking,
            partition=partition,
        )
    yield dg.Output(None, output_name=output)


def planned_partitions(
    instance: dg.DagsterInstance, run_id: str, check: dg.AssetCheckKey
) -> list[str]:
    """The partitions a run planned `check` for and has not evaluated yet, in order (none when
    it planned the check for the asset as a whole)."""
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable as t
    from sqlalchemy import select

    storage = instance.event_log_storage
    if not hasattr(storage, "index_connection"):
        return []
    query = (
        select(t.c.partition)
        .where(t.c.run_id == run_id)
        .where(t.c.asset_key == check.asset_key.to_string())
        .where(t.c.check_name == check.name)
        .where(t.c.execution_status == "PLANNED")
        .where(t.c.partition.isnot(None))
        .order_by(t.c.id)
    )
    with storage.index_connection() as conn:  # type: ignore[attr-defined]
        return [str(row[0]) for row in conn.execute(query).fetchall()]


def _latest_materialization(
    context: dg.AssetCheckExecutionContext, asset: dg.AssetKey
) -> AssetCheckEvaluationTargetMaterializationData | None:
    """The asset's latest materialization of any partition, as Dagster targets an unpartitioned
    check's evaluation at; None before the first."""
    [*records] = context.instance.get_asset_records([asset])
    latest = records[0].asset_entry.last_materialization_record if records else None
    if latest is None:
        return None
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=latest.storage_id, run_id=latest.run_id, timestamp=latest.timestamp
    )


def _check_output_name(
    context: dg.AssetCheckExecutionContext, check_key: dg.AssetCheckKey
) -> str | None:
    """The op output that stands for the check in a run; None when invoked outside a run."""
    try:
        return context.job_def.asset_layer.get_op_output_name(check_key)
    except DagsterInvalidPropertyError:
        return None


def _severity(outcome: CheckOutcome) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.WARN if outcome.warn_only else dg.AssetCheckSeverity.ERROR


def _metadata(outcome: CheckOutcome) -> dict[str, Any]:
    """Counts as numbers, offender lists and maps as JSON."""
    return {
        k: dg.MetadataValue.json(v) if isinstance(v, list | dict) else v
        for k, v in outcome.metadata.items()
    }
