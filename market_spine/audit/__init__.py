"""The audit trail: every read and every change, appended to a hash-chained log (in the home,
or in the PostgreSQL every node shares) that is never updated or deleted (store), recorded
cheaply in batches (recorder), checked for edits, insertions and deletions (verify) and exported
for compliance (export)."""
