"""A company source value that does not fit its declared type fails the capture with a message
naming the file, column and row; a PII column's value stays out of the message, the CLI output
and the Dagster event log, since operators without the PII scope read both."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.company.home_defs import home_folder

runner = CliRunner()

PAYROLL = """\
type: market_spine.company.component.CompanyDataset
attributes:
  name: payroll
  description: Salaries a tenant pays.
  owner: team:people
  kind: dimension
  source: {kind: files, path: payroll_drop, format: csv, pattern: "*.csv"}
  columns:
    - {name: tenant, type: string, description: The company paying.}
    - {name: employee_id, type: string, description: The employee's identifier.}
    - {name: ssn, type: int, description: Social security number., pii: redact}
  keys: [tenant, employee_id]
  tenant_column: tenant
"""

SECRET = "078-05-1120"


def test_bad_pii_value_is_named_by_row_never_shown(env_home: Path) -> None:
    folder = home_folder(env_home)
    folder.mkdir(parents=True)
    (folder / "payroll.yaml").write_text(PAYROLL)
    (folder / "payroll_drop").mkdir()
    (folder / "payroll_drop" / "p.csv").write_text(
        f"tenant,employee_id,ssn\nacme,E1,123456789\nacme,E2,{SECRET}\n"
    )

    result = runner.invoke(app, ["process", "--domain", "company"], terminal_width=300)
    said = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "payroll failed" in said, said
    assert SECRET not in result.output

    instance = dg.DagsterInstance.from_config(str(env_home / "dagster"))
    failed = [r for r in instance.get_runs() if r.status == dg.DagsterRunStatus.FAILURE]
    assert failed
    messages = []
    for run in failed:
        for entry in instance.all_logs(run.run_id):
            messages.append(str(entry))
    log = "\n".join(messages)
    assert "'ssn'" in log and "declared int" in log and "1 of 2" in log, log
    assert "data row(s) 2" in log and "p.csv" in log, log
    assert SECRET not in log
