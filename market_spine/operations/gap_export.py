"""A gap report as the operator reads and exports it, from its JSON document (`GapReport.as_dict`,
or `GET /v1/gaps`): CSV rows and JSON text. Free of Dagster, so a command that got the report
from the home's API writes it without loading Dagster."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

CSV_COLUMNS = ("dataset", "domain", "trade_date", "symbol", "partition", "status", "age_days")


def csv_of(doc: Mapping[str, Any]) -> str:
    """One row per gap, newest first, with a header (CSV_COLUMNS); empty symbol for options."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in doc["gaps"]:
        writer.writerow({k: "" if row[k] is None else row[k] for k in CSV_COLUMNS})
    return out.getvalue()


def json_of(doc: Mapping[str, Any]) -> str:
    """The whole report (totals, throughput, estimate and every gap) as one JSON document."""
    return json.dumps(dict(doc), indent=2)
