"""Variables in the metastore on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from metastore_dags import NOW
from sqlalchemy import select
from sqlalchemy.orm import Session

from downwind.exceptions import VariableNotFound
from downwind.metastore.models import AuditLog, VariableModel
from downwind.services.errors import InvalidInput
from downwind.services.variables import (
    delete_variable,
    export_variables,
    get_variable,
    import_variables,
    list_variables,
    set_variable,
)


def test_set_get_replace_and_delete(session: Session) -> None:
    set_variable(session, "region", "eu-west-1", description="where", now=NOW, owner="ada")
    assert get_variable(session, "region") == "eu-west-1"
    set_variable(session, "region", "us-east-1", now=NOW, owner="ada")
    (row,) = list_variables(session)
    assert (row.key, row.val, row.description) == ("region", "us-east-1", "where")
    assert row.is_encrypted is True  # stored encrypted, read back decrypted
    delete_variable(session, "region", now=NOW, owner="bob")
    assert list_variables(session) == []
    events = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert [(a.event, a.owner, a.extra["key"]) for a in events] == [
        ("variable.set", "ada", "region"),
        ("variable.set", "ada", "region"),
        ("variable.delete", "bob", "region"),
    ]
    assert all("eu-west-1" not in str(a.extra) for a in events), "values are never audited"


def test_an_undefined_variable_needs_a_default(session: Session) -> None:
    assert get_variable(session, "missing", None) is None
    assert get_variable(session, "missing", "fallback") == "fallback"
    with pytest.raises(VariableNotFound) as info:
        get_variable(session, "missing")
    assert str(info.value) == "variable 'missing' is not defined"
    with pytest.raises(VariableNotFound, match="variable 'missing' is not defined"):
        delete_variable(session, "missing", now=NOW)


@pytest.mark.parametrize("key", ["", "   ", "k" * 251])
def test_a_bad_key_is_refused(session: Session, key: str) -> None:
    with pytest.raises(InvalidInput, match="invalid variable key"):
        set_variable(session, key, "v", now=NOW)


def test_export_then_import_gives_back_the_same_variables(session: Session) -> None:
    set_variable(session, "plain", "text", now=NOW)
    set_variable(session, "json", '{"a": [1, 2]}', now=NOW)
    set_variable(session, "described", "x", description="a note", now=NOW)
    exported = export_variables(session)
    assert exported == {
        "described": {"value": "x", "description": "a note"},
        "json": '{"a": [1, 2]}',
        "plain": "text",
    }
    for key in list(exported):
        delete_variable(session, key, now=NOW)

    assert import_variables(session, exported, now=NOW) == (3, 0)
    assert export_variables(session) == exported


def test_import_reads_airflow_exports_with_json_values(session: Session) -> None:
    set_variable(session, "n", "old", now=NOW)
    created, updated = import_variables(
        session, {"n": 5, "cfg": {"rows": [1, 2]}, "flag": True, "s": "x"}, now=NOW, owner="ada"
    )
    assert (created, updated) == (3, 1)
    assert get_variable(session, "n") == "5"
    assert get_variable(session, "cfg") == '{"rows": [1, 2]}'
    assert get_variable(session, "flag") == "true"
    audit = session.scalars(select(AuditLog).where(AuditLog.event == "variable.import")).one()
    assert audit.extra == {"keys": ["cfg", "flag", "n", "s"]}


def test_a_bad_import_changes_nothing(session: Session) -> None:
    with pytest.raises(InvalidInput, match=r"must hold a JSON object .* got list"):
        import_variables(session, ["a"], now=NOW)
    with pytest.raises(InvalidInput, match="invalid variable key ''"):
        import_variables(session, {"ok": "1", "": "2"}, now=NOW)
    assert session.scalars(select(VariableModel)).all() == []
