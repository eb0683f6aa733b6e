"""Pools on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from metastore_dags import NOW, etl_dag, finish_try, register, scheduled_run
from sqlalchemy import select
from sqlalchemy.orm import Session

from downwind.metastore.models import AuditLog
from downwind.services.errors import InvalidInput, PoolInUse, PoolNotFound
from downwind.services.pools import delete_pool, get_pool, list_pools, set_pool


def test_default_pool_exists_and_can_be_resized_but_not_deleted(session: Session) -> None:
    assert [(p.name, p.slots) for p in list_pools(session)] == [("default_pool", 128)]
    set_pool(session, "default_pool", 4, now=NOW)
    assert get_pool(session, "default_pool").slots == 4
    with pytest.raises(InvalidInput, match="'default_pool' cannot be deleted"):
        delete_pool(session, "default_pool", now=NOW)


def test_set_creates_then_updates_and_delete_removes(session: Session) -> None:
    set_pool(session, "db", 2, "the warehouse", now=NOW, owner="ada")
    set_pool(session, "db", 0, now=NOW, owner="ada")
    info = get_pool(session, "db")
    assert (info.slots, info.description) == (0, "the warehouse")
    delete_pool(session, "db", now=NOW, owner="bob")
    with pytest.raises(PoolNotFound, match="pool 'db' does not exist"):
        get_pool(session, "db")
    with pytest.raises(PoolNotFound, match="pool 'db' does not exist"):
        delete_pool(session, "db", now=NOW)
    events = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert [(a.event, a.owner, a.extra["pool"]) for a in events] == [
        ("pool.set", "ada", "db"),
        ("pool.set", "ada", "db"),
        ("pool.delete", "bob", "db"),
    ]


@pytest.mark.parametrize(("name", "slots"), [("db", -1), ("db", True), ("", 1), ("a b", 1)])
def test_bad_names_and_slots_are_refused(session: Session, name: str, slots: int) -> None:
    with pytest.raises(InvalidInput):
        set_pool(session, name, slots, now=NOW)


def test_slots_in_use_are_counted_and_a_pool_in_use_is_not_deleted(
    session: Session, downwind_home: Path
) -> None:
    set_pool(session, "db", 3, now=NOW)
    register(session, etl_dag())
    run = scheduled_run(session, "etl", 1)  # load: pool db, 2 slots
    with pytest.raises(PoolInUse) as info:
        delete_pool(session, "db", now=NOW)
    assert str(info.value) == (
        "pool 'db' cannot be deleted: 1 unfinished task instance is in it; wait for it to finish"
    )
    finish_try(session, "etl", run.run_id, "load", "running")
    info_db = get_pool(session, "db")
    assert (info_db.running_slots, info_db.queued_slots, info_db.open_slots) == (2, 0, 1)
    finish_try(session, "etl", run.run_id, "load", "success")
    assert get_pool(session, "db").open_slots == 3
    delete_pool(session, "db", now=NOW)
    assert [p.name for p in list_pools(session)] == ["default_pool"]
