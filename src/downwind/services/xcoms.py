"""XComs of task instances: list and read them, and the API's create, update and delete;
the return values a run's tasks pushed."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, select
from sqlalchemy.orm import Session

from downwind.metastore.models import (
    DagRun,
    XComModel,
)
from downwind.runtime import serde
from downwind.services.audit import record_action
from downwind.services.errors import (
    AlreadyExists,
    InvalidInput,
    XComNotFound,
)
from downwind.services.listing import matches_pattern, matches_prefix
from downwind.services.runs import Range
from downwind.services.task_instances import get_task_instance

__all__ = [
    "XCOM_SORT_FIELDS",
    "XComFilters",
    "XComView",
    "create_xcom",
    "delete_xcom",
    "describe_xcoms",
    "get_xcom",
    "select_xcoms",
    "update_xcom",
    "xcom_return_values",
]


@dataclass(frozen=True)
class XComFilters:
    """The filters of an XCom listing; ``None`` does not filter (``~`` in a path)."""

    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    key: str | None = None
    map_index: int | None = None
    patterns: Mapping[str, str | None] = field(default_factory=dict)
    prefixes: Mapping[str, str | None] = field(default_factory=dict)
    ranges: Mapping[str, Range] = field(default_factory=dict)


#: the fields an XCom listing may be sorted by
XCOM_SORT_FIELDS = (
    "dag_id",
    "run_id",
    "dag_run_id",
    "task_id",
    "map_index",
    "key",
    "xcom_key",
    "timestamp",
    "logical_date",
    "run_after",
)


@dataclass(frozen=True)
class XComView:
    """An XCom and the dates of its run."""

    xcom: XComModel
    run_after: datetime
    logical_date: datetime | None


def select_xcoms(filters: XComFilters) -> tuple[Select[Any], dict[str, ColumnElement[Any]]]:
    """The XComs matching ``filters`` (rows of the XCom, its run's ``run_after`` and
    ``logical_date``) and the columns of :data:`XCOM_SORT_FIELDS`. ``patterns`` and
    ``prefixes`` apply to ``dag_id``, ``run_id``, ``task_id`` and ``key``."""
    x = XComModel
    columns: dict[str, ColumnElement[Any]] = {
        "dag_id": x.dag_id,
        "run_id": x.run_id,
        "dag_run_id": x.run_id,
        "task_id": x.task_id,
        "map_index": x.map_index,
        "key": x.key,
        "xcom_key": x.key,
        "timestamp": x.timestamp,
        "logical_date": DagRun.logical_date,
        "run_after": DagRun.run_after,
    }
    query = select(x, DagRun.run_after, DagRun.logical_date).join(
        DagRun, and_(DagRun.dag_id == x.dag_id, DagRun.run_id == x.run_id)
    )
    exact = {
        x.dag_id: filters.dag_id,
        x.run_id: filters.run_id,
        x.task_id: filters.task_id,
        x.key: filters.key,
        x.map_index: filters.map_index,
    }
    for column, value in exact.items():
        if value is not None:
            query = query.where(column == value)
    for name, pattern in filters.patterns.items():
        clause = matches_pattern(columns[name], pattern)
        if clause is not None:
            query = query.where(clause)
    for name, pattern in filters.prefixes.items():
        clause = matches_prefix(columns[name], pattern)
        if clause is not None:
            query = query.where(clause)
    for name, bounds in filters.ranges.items():
        query = query.where(*bounds.clauses(columns[name]))
    return query, columns


def describe_xcoms(rows: Iterable[Any]) -> list[XComView]:
    """The :class:`XComView` of each row of :func:`select_xcoms`."""
    return [XComView(row[0], row[1], row[2]) for row in rows]


def _xcom_query(dag_id: str, run_id: str, task_id: str, key: str, map_index: int) -> Select[Any]:
    x = XComModel
    return (
        select(x, DagRun.run_after, DagRun.logical_date)
        .join(DagRun, and_(DagRun.dag_id == x.dag_id, DagRun.run_id == x.run_id))
        .where(
            x.dag_id == dag_id,
            x.run_id == run_id,
            x.task_id == task_id,
            x.key == key,
            x.map_index == map_index,
        )
    )


def get_xcom(
    session: Session, dag_id: str, run_id: str, task_id: str, key: str, map_index: int = -1
) -> XComView:
    """One XCom; raises :class:`~downwind.services.errors.XComNotFound` (or the lookup
    errors of the DAG, run and task instance when those are missing)."""
    row = session.execute(_xcom_query(dag_id, run_id, task_id, key, map_index)).first()
    if row is None:
        get_task_instance(session, dag_id, run_id, task_id, map_index)
        raise XComNotFound(
            f"XCom entry with key: `{key}` not found: task '{task_id}' of run '{run_id}' of "
            f"DAG '{dag_id}' pushed no XCom with this key"
            + ("" if map_index == -1 else f" at map index {map_index}")
        )
    return XComView(row[0], row[1], row[2])


def _audit_xcom(
    session: Session,
    event: str,
    xcom: XComModel,
    *,
    now: datetime,
    owner: str | None,
    extra: Mapping[str, Any] | None,
) -> None:
    # The value is left out: it may be a secret.
    record_action(
        session,
        event,
        owner=owner,
        now=now,
        dag_id=xcom.dag_id,
        run_id=xcom.run_id,
        task_id=xcom.task_id,
        map_index=xcom.map_index,
        extra={"key": xcom.key, **(extra or {})},
    )


def create_xcom(
    session: Session,
    dag_id: str,
    run_id: str,
    task_id: str,
    key: str,
    value: Any,
    *,
    map_index: int = -1,
    now: datetime,
    owner: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> XComView:
    """Push an XCom for a task instance, as a user (audited as ``xcom.create``, without
    the value). Raises :class:`~downwind.services.errors.AlreadyExists` when it has one
    with this key, :class:`~downwind.exceptions.SerializationError` for a value
    downwind's serializer refuses, and the task-instance lookup errors."""
    if not key or "\x00" in key:
        raise InvalidInput("an XCom key must not be empty nor contain NUL characters")
    get_task_instance(session, dag_id, run_id, task_id, map_index)
    if session.get(XComModel, (dag_id, run_id, task_id, map_index, key)) is not None:
        raise AlreadyExists(
            f"The XCom with key: `{key}` with mentioned task instance already exists"
        )
    xcom = XComModel(
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=map_index,
        key=key,
        value=serde.dumps(value),
        timestamp=now,
    )
    session.add(xcom)
    session.flush()
    _audit_xcom(session, "xcom.create", xcom, now=now, owner=owner, extra=extra)
    return get_xcom(session, dag_id, run_id, task_id, key, map_index)


def update_xcom(
    session: Session,
    dag_id: str,
    run_id: str,
    task_id: str,
    key: str,
    value: Any,
    *,
    map_index: int = -1,
    now: datetime,
    owner: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> XComView:
    """Replace the value of an XCom (audited as ``xcom.update``, without the value)."""
    view = get_xcom(session, dag_id, run_id, task_id, key, map_index)
    view.xcom.value = serde.dumps(value)
    view.xcom.timestamp = now
    _audit_xcom(session, "xcom.update", view.xcom, now=now, owner=owner, extra=extra)
    return view


def delete_xcom(
    session: Session,
    dag_id: str,
    run_id: str,
    task_id: str,
    key: str,
    *,
    map_index: int = -1,
    now: datetime,
    owner: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Delete an XCom (audited as ``xcom.delete``)."""
    view = get_xcom(session, dag_id, run_id, task_id, key, map_index)
    _audit_xcom(session, "xcom.delete", view.xcom, now=now, owner=owner, extra=extra)
    session.execute(
        delete(XComModel).where(
            XComModel.dag_id == dag_id,
            XComModel.run_id == run_id,
            XComModel.task_id == task_id,
            XComModel.map_index == map_index,
            XComModel.key == key,
        )
    )
    session.expunge(view.xcom)


def xcom_return_values(
    session: Session, dag_id: str, run_id: str, task_ids: Collection[str]
) -> dict[str, Any]:
    """``{task_id: value}`` of the return values (key ``return_value``, unmapped) that
    ``task_ids`` pushed in a run; tasks that pushed none are left out."""
    if not task_ids:
        return {}
    rows = session.execute(
        select(XComModel.task_id, XComModel.value).where(
            XComModel.dag_id == dag_id,
            XComModel.run_id == run_id,
            XComModel.task_id.in_(list(task_ids)),
            XComModel.map_index == -1,
            XComModel.key == "return_value",
        )
    )
    return {row.task_id: None if row.value is None else serde.loads(row.value) for row in rows}
