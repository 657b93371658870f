"""Operations: lake maintenance, freshness, and (later) readiness, revisions and audit."""
