"""Stored glossaries in PostgreSQL (psycopg 3): one schema of their own, versioned migrations.

- ``schema``: the schema name rule and the migrations, applied in order under an advisory
  lock, each recorded in ``<schema>.schema_migrations``.
- ``admin``: what ``mtq glossary create|list|show|delete`` does (blocking; console only).
- ``reader``: what a worker reads (async: never blocks its event loop).

A glossary belongs to a tenant (``""`` for jobs without one) and a language pair, and is named
by an id of the client's choosing. Every create of an existing id is its next version; the
entries of each version are kept, so a job records the version it used.
"""
