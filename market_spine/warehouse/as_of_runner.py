"""The dbt side of a build of the warehouse as of an instant, run as its own process:
`python -m market_spine.warehouse.as_of_runner <request.json>` (see `as_of.build_as_of`).

Parsing the project is most of a small build. dbt reuses a parse (partial parsing) only for the
profile and vars it was made with, and the scratch build's profile differs from the home's
(another file, the instant): so this process parses with the home's profile and its last
build's vars, from a copy of the home's own partial-parse file (unchanged files are not parsed
again), then builds with the scratch
profile from that manifest, which dbt is handed instead of parsing again. The manifest names
the home's database (the DuckDB file's stem): its relations are pointed at the scratch file's.
Nothing here opens the home's DuckDB file: a parse connects to no database.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from dbt.cli.main import dbtRunner
from dbt.contracts.graph.manifest import Manifest


def retarget(manifest: Manifest, database: str, to: str) -> int:
    """Point every node, source and unit test of `manifest` in `database` at `to` (their
    database and the relation name rendered from it); how many it moved."""
    moved = 0
    quoted, renamed = f'"{database}".', f'"{to}".'
    nodes: list[Any] = [
        *manifest.nodes.values(),
        *manifest.sources.values(),
        *manifest.unit_tests.values(),
    ]
    for node in nodes:
        if getattr(node, "database", None) != database:
            continue
        node.database = to
        relation = getattr(node, "relation_name", None)
        if isinstance(relation, str) and relation.startswith(quoted):
            node.relation_name = renamed + relation[len(quoted) :]
        moved += 1
    manifest.build_flat_graph()
    return moved


def run(request: dict[str, Any]) -> int:
    """Parse with the home's profile, build with the scratch one; dbt's exit code (0: built,
    1: a node failed, 2: dbt could not run)."""
    common = ["--project-dir", request["project_dir"], "--target-path", request["target_path"]]
    home = ["--profiles-dir", request["home_profiles"]]
    parsed = dbtRunner().invoke(["parse", *common, *home])
    if not parsed.success or not isinstance(parsed.result, Manifest):
        print(f"parsing the project failed: {parsed.exception}", file=sys.stderr)
        return 2
    manifest = parsed.result
    retarget(manifest, request["home_database"], request["database"])
    built = dbtRunner(manifest=manifest).invoke(
        ["build", *request["excludes"], *common, "--profiles-dir", request["profiles"]]
    )
    if built.exception is not None:
        print(f"dbt could not build: {built.exception}", file=sys.stderr)
        return 2
    return 0 if built.success else 1


def main(argv: list[str]) -> int:
    """Read the request (project_dir, target_path, home_profiles, home_database,
    profiles, database, excludes) from the JSON file named by the one argument and run it."""
    if len(argv) != 1:
        print("usage: python -m market_spine.warehouse.as_of_runner REQUEST.json", file=sys.stderr)
        return 2
    return run(json.loads(Path(argv[0]).read_text()))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
