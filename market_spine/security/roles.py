"""The roles, each holding every right of the one before it:

- `reader`: market data (bars, option chains and quotes, the catalog, readiness, the stream);
- `quant`: + analytics (the volatility surface) and revisions;
- `operator`: + operations (status, metrics, the stream's counters, readiness detail, the
  Dagster UI's mutations);
- `compliance`: + the audit trail;
- `admin`: + keys and configuration.
"""

from __future__ import annotations

from market_spine.errors import InvalidInput

ROLES = ("reader", "quant", "operator", "compliance", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}


def known_role(role: str) -> str:
    """`role` (lower-cased) if it is a role; otherwise InvalidInput listing the roles."""
    value = role.strip().lower()
    if value not in _RANK:
        raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}")
    return value


def allows(role: str, required: str) -> bool:
    """Whether `role` holds the rights of `required` (an unknown role holds none)."""
    rank = _RANK.get(role)
    return rank is not None and rank >= _RANK[required]


def highest(roles: list[str] | tuple[str, ...]) -> str | None:
    """The strongest known role among `roles` (a JWT may carry several), None if none is known."""
    known = [r.lower() for r in roles if isinstance(r, str) and r.lower() in _RANK]
    return max(known, key=_RANK.__getitem__) if known else None
