"""The metastore: SQLAlchemy models, the engine and session factory, and Alembic migrations.

It is the single source of truth of a downwind installation: DAGs and their serialized
versions, DAG runs, task instances (and the history of their earlier tries), XComs,
variables, connections, pools, import errors, jobs and the audit log.

- :mod:`downwind.metastore.engine`: :func:`~downwind.metastore.engine.get_engine` and
  :func:`~downwind.metastore.engine.session_factory` from ``[database] url``.
- :mod:`downwind.metastore.models`: the typed ORM models.
- :mod:`downwind.metastore.migrate`: bring a database to the current schema, check it,
  reset it (what ``downwind db migrate|check|reset`` run).

The caller owns the transaction: functions that touch the database take a ``session``.
Authoring and task-side code (``dag/``, ``operators/``, ``runtime/``, ``runner/``) never
imports this package.
"""
