"""Processes of the embedded stack (Temporal dev server, Postgres) for `builder dev` and tests."""
