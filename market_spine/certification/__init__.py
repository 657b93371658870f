"""Certification and revisions of partitions: shared machinery that domains call (it never
imports a domain)."""
