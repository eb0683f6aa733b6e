"""Pools through the API: list, create, get, patch, delete, bulk, with their slots in use.

Responses are checked against apache-airflow-client's own models.
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow_client.client import ApiClient
from airflow_client.client.models import (
    BulkResponse,
    PoolCollectionResponse,
    PoolPatchBody,
    PoolResponse,
)
from airflow_client.client.models import PoolBody as ClientPoolBody
from api_testing import Api
from metastore_dags import etl_dag, finish_try, register, scheduled_run
from sqlalchemy import select

from downwind.metastore.models import AuditLog
from downwind.security.roles import Role


def _pool(response: Any, status: int = 200) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == status, body
    PoolResponse.from_dict(body)
    return body


def _names(api: Api, query: str = "") -> list[str]:
    response = api.get(f"/api/v2/pools?{query}")
    body = response.json()
    assert response.status_code == 200, body
    PoolCollectionResponse.from_dict(body)
    return [pool["name"] for pool in body["pools"]]


def _post(api: Api, name: str, slots: int = 4, **fields: Any) -> Any:
    return api.post("/api/v2/pools", json={"name": name, "slots": slots, **fields})


def _audit(api: Api) -> list[tuple[str, str | None, dict[str, Any]]]:
    with api.transaction() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        return [(row.event, row.owner, row.extra) for row in rows]


def test_create_then_get(api: Api) -> None:
    created = _pool(_post(api, "db", 3, description="the warehouse"), 201)
    assert created == {
        "name": "db",
        "slots": 3,
        "description": "the warehouse",
        "include_deferred": False,
        "occupied_slots": 0,
        "running_slots": 0,
        "queued_slots": 0,
        "scheduled_slots": 0,
        "open_slots": 3,
        "deferred_slots": 0,
        "team_name": None,
    }
    assert _pool(api.get("/api/v2/pools/db", Role.VIEWER)) == created


def test_the_default_pool_is_listed_first(api: Api) -> None:
    _post(api, "db")
    assert _names(api) == ["default_pool", "db"]
    assert _pool(api.get("/api/v2/pools/default_pool"))["slots"] == 128


def test_slots_in_use_are_counted(api: Api) -> None:
    _post(api, "db", 5)
    with api.transaction() as session:
        register(session, etl_dag())
        first = scheduled_run(session, "etl", 1)
        second = scheduled_run(session, "etl", 2)
        finish_try(session, "etl", first.run_id, "load", "running")  # 2 slots
        finish_try(session, "etl", second.run_id, "load", "queued")  # 2 slots
        finish_try(session, "etl", first.run_id, "extract", "running")  # default_pool
    db = _pool(api.get("/api/v2/pools/db"))
    assert (db["running_slots"], db["queued_slots"], db["occupied_slots"], db["open_slots"]) == (
        2,
        2,
        4,
        1,
    )
    listed = {p["name"]: p for p in api.get("/api/v2/pools").json()["pools"]}
    assert listed["db"] == db
    assert listed["default_pool"]["running_slots"] == 1


def test_creating_a_taken_name_is_409(api: Api) -> None:
    _post(api, "db")
    response = _post(api, "db", 9)
    assert response.status_code == 409
    assert response.json() == {"detail": "pool 'db' already exists"}


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"name": "db"}, ["body", "slots"], "missing"),
        ({"slots": 1}, ["body", "name"], "missing"),
        ({"name": "db", "slots": "many"}, ["body", "slots"], "int_parsing"),
        ({"name": "db", "slots": -2}, ["body", "slots"], "greater_than_equal"),
        (
            {"name": "db", "slots": 1, "include_deferred": True},
            ["body", "include_deferred"],
            "value_error",
        ),
        ({"name": "db", "slots": 1, "pool": "db"}, ["body", "pool"], "extra_forbidden"),
    ],
)
def test_a_malformed_body_is_422(api: Api, body: dict[str, Any], loc: list[str], kind: str) -> None:
    response = api.post("/api/v2/pools", json=body)
    assert response.status_code == 422
    assert [(e["loc"], e["type"]) for e in response.json()["detail"]] == [(loc, kind)]


def test_unlimited_slots_and_a_bad_name_are_400(api: Api) -> None:
    unlimited = _post(api, "db", -1)
    assert unlimited.status_code == 400
    assert unlimited.json() == {
        "detail": "pool 'db': slots must be a whole number >= 0, got -1 (-1, unlimited, is "
        "not supported)"
    }
    bad_name = _post(api, "no spaces")
    assert bad_name.status_code == 400
    assert bad_name.json()["detail"].startswith("invalid pool name 'no spaces'")


def test_an_unknown_pool_is_404(api: Api) -> None:
    for method in ("GET", "DELETE"):
        response = api.request(method, "/api/v2/pools/nope")
        assert response.status_code == 404
        assert response.json() == {"detail": "pool 'nope' does not exist"}
    assert api.patch("/api/v2/pools/nope", json={"slots": 1}).status_code == 404


def test_list_pages_sorts_and_filters(api: Api) -> None:
    for name in ("db_main", "api", "db_copy"):
        _post(api, name)
    body = api.get("/api/v2/pools?limit=2&offset=1").json()
    assert body["total_entries"] == 4
    assert [p["name"] for p in body["pools"]] == ["db_main", "api"]
    assert _names(api, "order_by=-name") == ["default_pool", "db_main", "db_copy", "api"]
    assert _names(api, "pool_name_pattern=DB_&order_by=pool") == ["db_copy", "db_main"]
    assert _names(api, "pool_name_prefix_pattern=a") == ["api"]
    assert api.get("/api/v2/pools?order_by=slots").status_code == 400


@pytest.mark.parametrize("role", [Role.VIEWER, Role.USER])
def test_viewers_and_users_read_pools_but_may_not_change_them(api: Api, role: Role) -> None:
    assert api.get("/api/v2/pools", role).status_code == 200
    response = api.post("/api/v2/pools", role, json={"name": "db", "slots": 1})
    assert response.status_code == 403
    assert response.json()["detail"].endswith("(permission 'configure')")


# -- patch and delete -------------------------------------------------------------------


def test_patch_changes_slots_and_description(api: Api) -> None:
    _post(api, "db", 3, description="old")
    resized = _pool(api.patch("/api/v2/pools/db", json={"slots": 8}))
    assert (resized["slots"], resized["description"]) == (8, "old")
    masked = api.patch(
        "/api/v2/pools/db?update_mask=description",
        json={"pool": "db", "slots": 1, "description": "new"},
    )
    assert (_pool(masked)["slots"], masked.json()["description"]) == (8, "new")
    cleared = api.patch("/api/v2/pools/db", json={"description": None})
    assert _pool(cleared)["description"] is None


def test_the_default_pool_can_be_resized(api: Api) -> None:
    resized = api.patch("/api/v2/pools/default_pool?update_mask=slots", json={"slots": 16})
    assert _pool(resized)["slots"] == 16


def test_patch_with_another_name_is_400(api: Api) -> None:
    _post(api, "db")
    response = api.patch("/api/v2/pools/db", json={"pool": "other", "slots": 1})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid body, pool name from request body doesn't match uri parameter"
    }
    unknown = api.patch("/api/v2/pools/db?update_mask=size", json={"slots": 1})
    assert unknown.status_code == 400
    assert unknown.json()["detail"].startswith("update_mask names unknown field(s) size")


def test_the_default_pool_cannot_be_deleted(api: Api) -> None:
    response = api.delete("/api/v2/pools/default_pool")
    assert response.status_code == 400
    assert response.json() == {"detail": "'default_pool' cannot be deleted (resize it instead)"}


def test_a_pool_in_use_cannot_be_deleted(api: Api) -> None:
    _post(api, "db")
    with api.transaction() as session:
        register(session, etl_dag())
        run = scheduled_run(session, "etl", 1)
        finish_try(session, "etl", run.run_id, "load", "running")
    response = api.delete("/api/v2/pools/db")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "pool 'db' cannot be deleted: 1 unfinished task instance is in it; wait "
        "for it to finish"
    }
    assert api.get("/api/v2/pools/db").status_code == 200


def test_changes_are_audited_with_who_and_where(api: Api) -> None:
    _post(api, "db", 2)
    api.patch("/api/v2/pools/db", Role.OP, json={"slots": 5})
    assert api.delete("/api/v2/pools/db", Role.OP).status_code == 204
    where = {"client": "testclient"}
    assert _audit(api) == [
        ("pool.set", "admin", {"pool": "db", "slots": 2, "created": True, **where}),
        ("pool.set", "op", {"pool": "db", "slots": 5, "created": False, **where}),
        ("pool.delete", "op", {"pool": "db", **where}),
    ]


# -- bulk --------------------------------------------------------------------------------


def _bulk(api: Api, *actions: dict[str, Any]) -> dict[str, Any]:
    response = api.patch("/api/v2/pools", json={"actions": list(actions)})
    body = response.json()
    assert response.status_code == 200, body
    BulkResponse.from_dict(body)
    return body


def _slots(api: Api) -> dict[str, int]:
    return {p["name"]: p["slots"] for p in api.get("/api/v2/pools").json()["pools"]}


def test_bulk_create_update_delete(api: Api) -> None:
    _post(api, "old")
    body = _bulk(
        api,
        {"action": "create", "entities": [{"name": "a", "slots": 1}, {"name": "b", "slots": 2}]},
        {"action": "update", "entities": [{"name": "a", "slots": 10}]},
        {"action": "delete", "entities": ["old", {"name": "b", "slots": 0}]},
    )
    assert body == {
        "create": {"success": ["a", "b"], "errors": []},
        "update": {"success": ["a"], "errors": []},
        "delete": {"success": ["old", "b"], "errors": []},
    }
    assert _slots(api) == {"default_pool": 128, "a": 10}


def test_bulk_partial_failures(api: Api) -> None:
    _post(api, "db")
    with api.transaction() as session:
        register(session, etl_dag())  # its task "load" is in the pool "db"
        run = scheduled_run(session, "etl", 1)
        finish_try(session, "etl", run.run_id, "load", "running")
    entities = [{"name": "db", "slots": 9}, {"name": "new", "slots": 1}]
    body = _bulk(
        api,
        {"action": "create", "entities": entities},
        {"action": "delete", "entities": ["db", "default_pool"]},
    )
    assert body["create"] == {
        "success": [],
        "errors": [
            {"error": "The pools with these pool names: {'db'} already exist.", "status_code": 409}
        ],
    }
    assert body["delete"]["success"] == []
    assert [(e["key"], e["status_code"]) for e in body["delete"]["errors"]] == [
        ("db", 409),
        ("default_pool", 400),
    ]
    assert _slots(api) == {"default_pool": 128, "db": 4}
    overwritten = _bulk(
        api, {"action": "create", "entities": entities, "action_on_existence": "overwrite"}
    )
    assert overwritten["create"]["success"] == ["db", "new"]
    assert _slots(api) == {"default_pool": 128, "db": 9, "new": 1}


def test_bulk_update_of_a_missing_pool_fails_unless_skip(api: Api) -> None:
    update = {"action": "update", "entities": [{"name": "nope", "slots": 1}]}
    failed = _bulk(api, update)
    assert failed["update"]["errors"] == [
        {"error": "The pools with these pool names: {'nope'} were not found.", "status_code": 404}
    ]
    skipped = _bulk(api, {**update, "action_on_non_existence": "skip"})
    assert skipped["update"] == {"success": [], "errors": []}


def test_bodies_built_by_the_airflow_client_are_accepted(api: Api) -> None:
    client = ApiClient()
    body = client.sanitize_for_serialization(ClientPoolBody(name="db", slots=3))
    assert _pool(api.post("/api/v2/pools", json=body), 201)["include_deferred"] is False
    patch = client.sanitize_for_serialization(PoolPatchBody(pool="db", slots=6))
    assert _pool(api.patch("/api/v2/pools/db", json=patch))["slots"] == 6
