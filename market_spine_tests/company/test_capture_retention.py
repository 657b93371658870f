"""A capture leaves out a daily dataset's rows already past its retention, and says so: its
metadata counts them and names the first business date kept, and `process` prints it, so a
capture of only too-old rows does not read as an empty file; a failed `warn` check is printed
apart from the failed checks, as a warning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.company.assets import LEFT_OUT, PAST_RETENTION, capture
from market_spine.company.config import load
from market_spine.company.home_defs import home_folder
from market_spine.lake.store import Lake

ORDERS = """\
type: market_spine.company.component.CompanyDataset
attributes:
  name: old_orders
  description: Orders kept two days.
  owner: team:sales-ops
  kind: fact
  source: {kind: files, path: old_orders_drop, format: csv, pattern: "*.csv"}
  columns:
    - {name: order_id, type: string, description: The order.}
    - {name: ordered_at, type: timestamp, description: When it was placed.}
    - {name: status, type: string, description: Its state.}
  keys: [order_id]
  partitioning: {kind: daily, column: ordered_at, start: "2026-01-01"}
  checks:
    - {kind: accepted_values, column: status, values: [open], severity: warn}
  retention_days: 2
"""


def _home(tmp_path: Path, *days_ago: int) -> Path:
    folder = home_folder(tmp_path)
    (folder / "old_orders_drop").mkdir(parents=True)
    (folder / "old_orders.yaml").write_text(ORDERS)
    now = datetime.now(UTC)
    rows = [
        f"O{i},{(now - timedelta(days=d)).date()}T12:00:00Z,{'open' if d else 'odd'}"
        for i, d in enumerate(days_ago)
    ]
    (folder / "old_orders_drop" / "o.csv").write_text(
        "order_id,ordered_at,status\n" + "\n".join(rows) + "\n"
    )
    return folder / "old_orders.yaml"


def test_a_capture_of_only_too_old_rows_says_so(tmp_path: Path) -> None:
    path = _home(tmp_path, 7, 8)
    counts = capture(load(path), path.parent, Lake(tmp_path / "lake"), "run")
    first = (datetime.now(UTC) - timedelta(days=2)).date()
    assert counts["rows"] == 0 and counts[PAST_RETENTION] == 2
    assert counts[LEFT_OUT] == (
        f"all 2 rows captured were left out: their business dates are before {first}, past "
        "retention_days 2 (maintenance would delete them); raise retention_days to keep them"
    )


def test_a_capture_within_retention_has_nothing_left_out(tmp_path: Path) -> None:
    path = _home(tmp_path, 1)
    counts = capture(load(path), path.parent, Lake(tmp_path / "lake"), "run")
    assert counts["rows"] == 1 and counts[PAST_RETENTION] == 0 and LEFT_OUT not in counts


def test_process_prints_rows_left_out_and_warnings_apart_from_failures(env_home: Path) -> None:
    _home(env_home, 7, 0)
    result = CliRunner().invoke(app, ["process", "--domain", "company"], terminal_width=250)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if "company: old_orders capture ok" in line)
    assert lines[at + 1].strip().startswith("note: 1 of 2 rows captured were left out")
    built = next(i for i, line in enumerate(lines) if "company: old_orders ok" in line)
    assert "failed checks" not in lines[built]
    warning = lines[built + 1].strip()
    assert warning.startswith("warning: normalized/company_old_orders:accepted_values_status")
    assert "warn severity" in warning
    assert "runs failed" not in result.output

    run_id = lines[built].split(" run ")[1].split()[0]
    shown = CliRunner().invoke(app, ["runs", "show", run_id], terminal_width=250)
    assert shown.exit_code == 0, shown.output
    assert "failed checks" not in shown.output
    assert "warnings: normalized/company_old_orders:accepted_values_status" in shown.output
