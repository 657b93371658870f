"""The platform's own operational stores (API keys, the audit trail, alerts, the lake's integrity
ledger, provider counters), kept where every process of a deployment reaches them: a SQLite file
in the home by default (one machine's disk), or a schema each of a PostgreSQL database every node
reaches (`state_database`), so pods need not share the home's volume."""

from market_spine.state_db.database import (
    DATABASE_ERRORS,
    POSTGRESQL,
    SQLITE,
    StateConnection,
    StateDatabase,
)

__all__ = ["DATABASE_ERRORS", "POSTGRESQL", "SQLITE", "StateConnection", "StateDatabase"]
