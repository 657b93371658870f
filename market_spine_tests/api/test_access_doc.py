"""docs/security.md shows the access table the API enforces, row for row."""

from __future__ import annotations

import re

from market_spine.api.access import ROUTES
from market_spine_tests.kit.homes import REPO

ROW = re.compile(r"^\| (GET|POST|PUT|PATCH|DELETE|WS) \| `([^`]+)` \| (\w+) \| (.*?) *\|$", re.M)


def test_the_documented_table_is_the_enforced_one() -> None:
    text = (REPO / "docs" / "security.md").read_text(encoding="utf-8")
    documented = {(m, p): (role, ds) for m, p, role, ds in ROW.findall(text)}
    enforced = {}
    for key, rule in ROUTES.items():
        if rule.dataset:
            dataset = f"`{rule.dataset}`"
        elif rule.dataset_prefix:
            dataset = f"`{rule.dataset_prefix}<{rule.dataset_param}>`"
        elif rule.dataset_param:
            dataset = f"named by `{rule.dataset_param}`"
        else:
            dataset = ""
        enforced[key] = (rule.role or "public", dataset)
    assert documented == enforced
