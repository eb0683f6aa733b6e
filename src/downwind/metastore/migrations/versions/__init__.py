"""The numbered migrations (Alembic revisions ``0001``, ``0002``...)."""
