"""What a tenant name is, in one place: the rows a company dataset captures and the keys and
tokens bound to a tenant are judged by the same rule, so a tenant a row names is always one a
key can be bound to and no row lands under a tenant no key could name.

A tenant name is lower case: a letter or digit, then letters, digits, `_`, `-` or `.`, at most
64 characters. Tenants are matched exactly, never folded: `ACME` or ` acme` is refused (naming
`acme`), not quietly made a second tenant beside `acme` or quietly merged into it."""

from __future__ import annotations

import re

from market_spine.errors import InvalidInput

#: The pattern every tenant name matches (an integer tenant, such as `7`, does too).
TENANT_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
#: The rule in words, for messages.
TENANT_RULE = (
    "a tenant name is lower case: a letter or digit, then letters, digits, `_`, `-` or `.`, "
    "at most 64 characters, with no spaces around it"
)


def tenant_problem(value: str) -> str | None:
    """Why `value` is not a tenant name (None when it is), with the name to write instead
    when one is plain to see."""
    if re.fullmatch(TENANT_PATTERN, value):
        return None
    fixed = value.strip().lower()
    instead = f": write {fixed!r}" if re.fullmatch(TENANT_PATTERN, fixed) else ""
    return f"the tenant {value!r} is not a tenant name ({TENANT_RULE}){instead}"


def tenant_name(raw: str) -> str:
    """`raw` when it is a tenant name; InvalidInput otherwise."""
    if not raw.strip():
        raise InvalidInput(
            "the tenant is empty: name the tenant whose rows the key may read (e.g. --tenant "
            "acme), or leave --tenant out for a key that reads every tenant"
        )
    problem = tenant_problem(raw)
    if problem is not None:
        raise InvalidInput(problem)
    return raw
