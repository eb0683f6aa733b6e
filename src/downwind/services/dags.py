"""DAGs as the metastore knows them: look one up, pause and unpause it."""

from __future__ import annotations

import difflib
from datetime import UTC, datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from downwind.exceptions import DagNotFound
from downwind.metastore.models import DagModel
from downwind.services.audit import record_action
from downwind.services.dag_registry import latest_version, load_serialized_dag

__all__ = ["dag_timezone", "get_dag_model", "set_paused", "to_aware"]


def get_dag_model(session: Session, dag_id: str, *, active: bool = False) -> DagModel:
    """The row of ``dag_id``; raises :class:`~downwind.exceptions.DagNotFound` when the
    metastore has never seen it (or, with ``active``, when its file no longer defines it)."""
    row = session.get(DagModel, dag_id)
    if row is None:
        known = session.scalars(select(DagModel.dag_id)).all()
        close = difflib.get_close_matches(dag_id, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise DagNotFound(
            f"DAG '{dag_id}' not found in the metastore: is its file in the dags folder, and "
            f"has the DAG processor parsed it?{hint}"
        )
    if active and not row.is_active:
        raise DagNotFound(
            f"DAG '{dag_id}' is not active: its file ({row.fileloc}) is gone or no longer "
            "defines it"
        )
    return row


def set_paused(
    session: Session, dag_id: str, paused: bool, *, now: datetime, owner: str | None = None
) -> DagModel:
    """Pause (no new runs are started) or unpause ``dag_id``; audited as ``pause`` /
    ``unpause`` even when it already was so."""
    row = get_dag_model(session, dag_id)
    row.is_paused = paused
    if not paused:
        row.next_dagrun_create_after = None  # let the scheduler look at it at once
    record_action(session, "pause" if paused else "unpause", owner=owner, now=now, dag_id=dag_id)
    return row


def dag_timezone(session: Session, dag_id: str) -> tzinfo:
    """The time zone of the latest stored version of ``dag_id`` (UTC if none is stored)."""
    if latest_version(session, dag_id) is None:
        return UTC
    return load_serialized_dag(session, dag_id).timezone


def to_aware(value: datetime | None, tz: tzinfo) -> datetime | None:
    """``value`` in UTC; a naive ``value`` is a wall-clock time in ``tz``."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)
