"""Pools: named numbers of slots that limit how many task instances run at once.

``default_pool`` (the pool of every task that names none) always exists: it can be
resized but not deleted. A pool that unfinished task instances are in cannot be deleted
either.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from downwind.metastore.models import Pool, TaskInstance
from downwind.metastore.models.base import ID_LEN
from downwind.metastore.models.pool import DEFAULT_POOL_NAME
from downwind.services.audit import record_action
from downwind.services.errors import AlreadyExists, InvalidInput, PoolInUse, PoolNotFound
from downwind.services.listing import matches_pattern, matches_prefix
from downwind.states import TASK_FINISHED, TaskInstanceState

__all__ = [
    "POOL_NAME_PATTERN",
    "POOL_SORT_FIELDS",
    "PoolInfo",
    "create_pool",
    "delete_pool",
    "existing_pool_names",
    "get_pool",
    "list_pools",
    "pool_infos",
    "select_pools",
    "set_pool",
    "update_pool",
]

#: the characters of a pool name
POOL_NAME_PATTERN = re.compile(r"[\w.-]+", re.ASCII)
_COUNTED = (TaskInstanceState.RUNNING, TaskInstanceState.QUEUED, TaskInstanceState.SCHEDULED)


@dataclass(frozen=True)
class PoolInfo:
    """A pool and how many of its slots are taken now."""

    name: str
    slots: int
    description: str | None
    #: slots of the task instances running in it
    running_slots: int
    #: slots of the task instances queued in it (handed to the executor)
    queued_slots: int
    #: slots of the task instances scheduled in it (waiting for a slot)
    scheduled_slots: int

    @property
    def open_slots(self) -> int:
        """Slots free for more task instances (negative when the pool was shrunk below use)."""
        return self.slots - self.running_slots - self.queued_slots


def _usage(session: Session, names: list[str]) -> dict[tuple[str, str], int]:
    rows = session.execute(
        select(TaskInstance.pool, TaskInstance.state, func.sum(TaskInstance.pool_slots))
        .where(
            TaskInstance.pool.in_(names),
            TaskInstance.state.in_([state.value for state in _COUNTED]),
        )
        .group_by(TaskInstance.pool, TaskInstance.state)
    )
    return {(pool, state): int(total or 0) for pool, state, total in rows}


def _info(row: Pool, usage: dict[tuple[str, str], int]) -> PoolInfo:
    return PoolInfo(
        name=row.pool,
        slots=row.slots,
        description=row.description,
        running_slots=usage.get((row.pool, TaskInstanceState.RUNNING.value), 0),
        queued_slots=usage.get((row.pool, TaskInstanceState.QUEUED.value), 0),
        scheduled_slots=usage.get((row.pool, TaskInstanceState.SCHEDULED.value), 0),
    )


def _find(session: Session, name: str) -> Pool | None:
    return session.scalar(select(Pool).where(Pool.pool == name))


def list_pools(session: Session) -> list[PoolInfo]:
    """Every pool by name, with its slots in use."""
    rows = list(session.scalars(select(Pool).order_by(Pool.pool)))
    usage = _usage(session, [row.pool for row in rows]) if rows else {}
    return [_info(row, usage) for row in rows]


def get_pool(session: Session, name: str) -> PoolInfo:
    """The pool ``name``; raises :class:`~downwind.services.errors.PoolNotFound`."""
    row = _find(session, name)
    if row is None:
        raise PoolNotFound(f"pool '{name}' does not exist")
    return _info(row, _usage(session, [name]))


def set_pool(
    session: Session,
    name: str,
    slots: int,
    description: str | None = None,
    *,
    now: datetime,
    owner: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Pool:
    """Create pool ``name`` or change its slots and description (audited as
    ``pool.set``, plus ``extra``). ``slots`` must be a whole number, 0 or more (0 holds
    every task of the pool back; Airflow's -1, unlimited, is not supported)."""
    if not name or len(name) > ID_LEN or not POOL_NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"invalid pool name {name!r}: use 1 to {ID_LEN} letters, digits, dashes, dots "
            "and underscores"
        )
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 0:
        unlimited = " (-1, unlimited, is not supported)" if slots == -1 else ""
        raise InvalidInput(
            f"pool '{name}': slots must be a whole number >= 0, got {slots!r}{unlimited}"
        )
    row = _find(session, name)
    created = row is None
    if row is None:
        row = Pool(pool=name)
        session.add(row)
    row.slots = slots
    if description is not None:
        row.description = description
    record_action(
        session,
        "pool.set",
        owner=owner,
        now=now,
        extra={"pool": name, "slots": slots, "created": created, **(extra or {})},
    )
    return row


def delete_pool(
    session: Session,
    name: str,
    *,
    now: datetime,
    owner: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Delete pool ``name`` (audited as ``pool.delete``). Refused for ``default_pool`` and
    for a pool that unfinished task instances are in (they would never get a slot)."""
    if name == DEFAULT_POOL_NAME:
        raise InvalidInput(f"'{DEFAULT_POOL_NAME}' cannot be deleted (resize it instead)")
    row = _find(session, name)
    if row is None:
        raise PoolNotFound(f"pool '{name}' does not exist")
    in_use = session.scalar(
        select(func.count())
        .select_from(TaskInstance)
        .where(
            TaskInstance.pool == name,
            TaskInstance.state.is_(None)
            | TaskInstance.state.not_in([state.value for state in TASK_FINISHED]),
        )
    )
    if in_use:
        raise PoolInUse(
            f"pool '{name}' cannot be deleted: {in_use} unfinished task "
            f"instance{'s are' if in_use != 1 else ' is'} in it; wait for "
            f"{'them' if in_use != 1 else 'it'} to finish"
        )
    session.delete(row)
    record_action(
        session, "pool.delete", owner=owner, now=now, extra={"pool": name, **(extra or {})}
    )


# -- listing and creating (the REST API) ----------------------------------------------

#: the fields a pool listing may be sorted by (Airflow's names; ``name`` is ``pool``)
POOL_SORT_FIELDS = ("id", "pool", "name")


def select_pools(
    *, name_pattern: str | None = None, name_prefix_pattern: str | None = None
) -> tuple[Select[Any], dict[str, ColumnElement[Any]]]:
    """The pools whose name matches the patterns (see :mod:`downwind.services.listing`)
    and the columns of :data:`POOL_SORT_FIELDS`."""
    query = select(Pool)
    for clause in (
        matches_pattern(Pool.pool, name_pattern),
        matches_prefix(Pool.pool, name_prefix_pattern),
    ):
        if clause is not None:
            query = query.where(clause)
    return query, {"id": Pool.id, "pool": Pool.pool, "name": Pool.pool}


def pool_infos(session: Session, rows: Sequence[Pool]) -> list[PoolInfo]:
    """The :class:`PoolInfo` of each row (one query for the slots in use)."""
    usage = _usage(session, [row.pool for row in rows]) if rows else {}
    return [_info(row, usage) for row in rows]


def existing_pool_names(session: Session, names: Collection[str]) -> set[str]:
    """Which of ``names`` are pools."""
    if not names:
        return set()
    return set(session.scalars(select(Pool.pool).where(Pool.pool.in_(list(names)))))


def create_pool(
    session: Session,
    name: str,
    slots: int,
    description: str | None = None,
    *,
    now: datetime,
    owner: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Pool:
    """Create pool ``name`` like :func:`set_pool`; raises
    :class:`~downwind.services.errors.AlreadyExists` if it exists."""
    if name and _find(session, name) is not None:
        raise AlreadyExists(f"pool '{name}' already exists")
    return set_pool(session, name, slots, description, now=now, owner=owner, extra=extra)


_KEEP: Any = object()


def update_pool(
    session: Session,
    name: str,
    *,
    slots: int = _KEEP,
    description: str | None = _KEEP,
    now: datetime,
    owner: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Pool:
    """Change the slots and/or the description (``None`` clears it) of an existing pool,
    leaving what is not given (audited as ``pool.set``). Raises
    :class:`~downwind.services.errors.PoolNotFound` if there is no pool ``name``."""
    row = _find(session, name)
    if row is None:
        raise PoolNotFound(f"pool '{name}' does not exist")
    row = set_pool(
        session,
        name,
        row.slots if slots is _KEEP else slots,
        now=now,
        owner=owner,
        extra=extra,
    )
    if description is not _KEEP:
        row.description = description
    return row
