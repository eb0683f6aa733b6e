"""Connections through the API: list, create, get, patch, delete, bulk, test, defaults.

No response shows a password or a secret extra in clear, and the database holds none.
Responses are checked against apache-airflow-client's own models.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow_client.client import ApiClient
from airflow_client.client.models import (
    BulkResponse,
    ConnectionCollectionResponse,
    ConnectionResponse,
)
from airflow_client.client.models import ConnectionBody as ClientConnectionBody
from api_testing import Api
from sqlalchemy import select

from downwind.metastore.models import AuditLog, ConnectionModel
from downwind.security.roles import Role
from downwind.services.connections import get_connection

PASSWORD = "pa55-w0rd-hunter2"
TOKEN = "tok-9f8e7d6c5b4a"


def _body(conn_id: str = "warehouse", **fields: Any) -> dict[str, Any]:
    body = {
        "connection_id": conn_id,
        "conn_type": "postgres",
        "host": "db.example.com",
        "login": "ada",
        "password": PASSWORD,
        "port": 5432,
        "schema": "analytics",
        "extra": json.dumps({"sslmode": "require", "auth": {"api_token": TOKEN}}),
        "description": "the warehouse",
    }
    body.update(fields)
    return {name: value for name, value in body.items() if value is not ...}


def _connection(response: Any, status: int = 200) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == status, body
    ConnectionResponse.from_dict(body)
    return body


def _rows(api: Api) -> dict[str, ConnectionModel]:
    with api.transaction() as session:
        return {row.conn_id: row for row in session.scalars(select(ConnectionModel))}


def _audit(api: Api) -> list[tuple[str, str | None, dict[str, Any]]]:
    with api.transaction() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        return [(row.event, row.owner, row.extra) for row in rows]


def _assert_no_secret(*texts: Any) -> None:
    for text in texts:
        assert PASSWORD not in str(text) and TOKEN not in str(text)


def test_create_masks_the_password_and_secret_extras(api: Api) -> None:
    created = _connection(api.post("/api/v2/connections", json=_body()), 201)
    assert created == {
        "connection_id": "warehouse",
        "conn_type": "postgres",
        "description": "the warehouse",
        "host": "db.example.com",
        "login": "ada",
        "schema": "analytics",
        "port": 5432,
        "password": "***",
        "extra": '{"sslmode": "require", "auth": {"api_token": "***"}}',
        "team_name": None,
    }
    assert _connection(api.get("/api/v2/connections/warehouse")) == created


def test_no_clear_text_secret_in_responses_database_or_audit_log(api: Api) -> None:
    responses = [
        api.post("/api/v2/connections", json=_body()).text,
        api.get("/api/v2/connections").text,
        api.get("/api/v2/connections/warehouse").text,
        api.patch("/api/v2/connections/warehouse", json=_body(host="db2")).text,
        api.patch(
            "/api/v2/connections",
            json={"actions": [{"action": "create", "entities": [_body("other")]}]},
        ).text,
    ]
    _assert_no_secret(*responses)
    for row in _rows(api).values():
        assert (row.is_encrypted, row.is_extra_encrypted) == (True, True)
        _assert_no_secret(row.password, row.extra)
    _assert_no_secret(_audit(api))
    _assert_no_secret(api.get("/api/v2/eventLogs").text)


def test_a_connection_without_password_or_extra_shows_null(api: Api) -> None:
    body = _body("plain", password=..., extra=..., conn_type="http")
    created = _connection(api.post("/api/v2/connections", json=body), 201)
    assert (created["password"], created["extra"]) == (None, None)


def test_the_connection_type_is_normalized_as_airflow_does(api: Api) -> None:
    created = api.post("/api/v2/connections", json=_body(conn_type="postgresql"))
    assert _connection(created, 201)["conn_type"] == "postgres"


def test_creating_a_taken_id_is_409(api: Api) -> None:
    api.post("/api/v2/connections", json=_body())
    response = api.post("/api/v2/connections", json=_body(host="elsewhere"))
    assert response.status_code == 409
    assert response.json() == {
        "detail": "connection 'warehouse' already exists; delete it first to replace it"
    }


@pytest.mark.parametrize(
    ("fields", "loc", "message"),
    [
        ({"connection_id": "has space"}, ["body", "connection_id"], "String should match"),
        ({"conn_type": ...}, ["body", "conn_type"], "Field required"),
        ({"port": "not-a-port"}, ["body", "port"], "Input should be a valid integer"),
        ({"extra": "{oops"}, ["body", "extra"], "encountered non-JSON in `extra` field"),
        ({"extra": "[1, 2]"}, ["body", "extra"], "must be a valid JSON object"),
        ({"uri": "http://x"}, ["body", "uri"], "Extra inputs are not permitted"),
        ({"host": "h" * 501}, ["body", "host"], "at most 500 characters"),
    ],
)
def test_a_malformed_body_is_422_and_never_echoes_the_password(
    api: Api, fields: dict[str, Any], loc: list[str], message: str
) -> None:
    response = api.post("/api/v2/connections", json=_body(**fields))
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == loc and message in error["msg"], error
    _assert_no_secret(response.text)
    assert _rows(api) == {}


def test_a_port_out_of_range_is_400(api: Api) -> None:
    response = api.post("/api/v2/connections", json=_body(port=70000))
    assert response.status_code == 400
    assert response.json() == {
        "detail": "connection 'warehouse': port 70000 is out of range (0-65535)"
    }


def test_an_unknown_connection_is_404(api: Api) -> None:
    for method in ("GET", "DELETE"):
        response = api.request(method, "/api/v2/connections/nope")
        assert response.status_code == 404
        assert response.json() == {"detail": "connection 'nope' is not defined"}
    response = api.patch("/api/v2/connections/nope", json=_body("nope"))
    assert response.status_code == 404


@pytest.mark.parametrize("role", [Role.VIEWER, Role.USER])
def test_viewers_and_users_may_not_read_connections(api: Api, role: Role) -> None:
    response = api.get("/api/v2/connections", role)
    assert response.status_code == 403
    assert response.json()["detail"].endswith("(permission 'configure')")


# -- list ------------------------------------------------------------------------------


def test_list_pages_sorts_and_filters(api: Api) -> None:
    for conn_id, conn_type in (("pg_main", "postgres"), ("http_api", "http"), ("pg_copy", "mysql")):
        api.post("/api/v2/connections", json=_body(conn_id, conn_type=conn_type))
    body = api.get("/api/v2/connections?limit=2").json()
    ConnectionCollectionResponse.from_dict(body)
    assert body["total_entries"] == 3
    assert [c["connection_id"] for c in body["connections"]] == ["pg_main", "http_api"]

    def ids(query: str) -> list[str]:
        return [
            c["connection_id"]
            for c in api.get(f"/api/v2/connections?{query}").json()["connections"]
        ]

    assert ids("order_by=connection_id") == ["http_api", "pg_copy", "pg_main"]
    assert ids("order_by=-conn_type&order_by=connection_id") == ["pg_main", "pg_copy", "http_api"]
    assert ids("connection_id_pattern=PG_&order_by=connection_id") == ["pg_copy", "pg_main"]
    assert ids("connection_id_prefix_pattern=http") == ["http_api"]
    assert ids("offset=2") == ["pg_copy"]


# -- patch and delete -------------------------------------------------------------------


def test_patch_changes_the_fields_given_and_keeps_the_others(api: Api) -> None:
    api.post("/api/v2/connections", json=_body())
    response = api.patch(
        "/api/v2/connections/warehouse",
        json={"connection_id": "warehouse", "conn_type": "postgres", "host": "db2", "port": 6432},
    )
    changed = _connection(response)
    assert (changed["host"], changed["port"], changed["login"]) == ("db2", 6432, "ada")
    assert changed["password"] == "***", "the password is kept"
    with api.transaction() as session:
        conn = get_connection(session, "warehouse")
    assert conn.password == PASSWORD and conn.extra_dejson["auth"] == {"api_token": TOKEN}


def test_sending_back_what_get_showed_keeps_the_secrets(api: Api) -> None:
    api.post("/api/v2/connections", json=_body())
    shown = api.get("/api/v2/connections/warehouse").json()
    shown.pop("team_name")
    shown["description"] = "renamed"
    assert api.patch("/api/v2/connections/warehouse", json=shown).status_code == 200
    with api.transaction() as session:
        conn = get_connection(session, "warehouse")
    assert conn.description == "renamed"
    assert conn.password == PASSWORD
    assert conn.extra_dejson == {"sslmode": "require", "auth": {"api_token": TOKEN}}


def test_patch_can_clear_and_replace_the_password(api: Api) -> None:
    api.post("/api/v2/connections", json=_body())
    cleared = api.patch(
        "/api/v2/connections/warehouse?update_mask=password",
        json=_body(password=None, host="ignored"),
    )
    assert (_connection(cleared)["password"], cleared.json()["host"]) == (None, "db.example.com")
    replaced = api.patch("/api/v2/connections/warehouse", json=_body(password="new-one"))
    assert _connection(replaced)["password"] == "***"
    assert "new-one" not in _rows(api)["warehouse"].password  # type: ignore[operator]


def test_patch_with_another_id_in_the_body_is_400(api: Api) -> None:
    api.post("/api/v2/connections", json=_body())
    response = api.patch("/api/v2/connections/warehouse", json=_body("other"))
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The connection_id in the request body does not match the URL parameter"
    }


def test_an_unknown_update_mask_field_is_400(api: Api) -> None:
    api.post("/api/v2/connections", json=_body())
    response = api.patch("/api/v2/connections/warehouse?update_mask=uri", json=_body())
    assert response.status_code == 400
    assert response.json()["detail"].startswith("update_mask names unknown field(s) uri")


def test_changes_are_audited_with_who_and_where(api: Api) -> None:
    api.post("/api/v2/connections", json=_body())
    api.patch("/api/v2/connections/warehouse", Role.OP, json=_body(host="db2", password=...))
    assert api.delete("/api/v2/connections/warehouse", Role.OP).status_code == 204
    assert api.get("/api/v2/connections/warehouse").status_code == 404
    where = {"client": "testclient"}
    fields = ["conn_type", "description", "extra", "host", "login", "port", "schema"]
    assert _audit(api) == [
        ("connection.add", "admin", {"conn_id": "warehouse", "conn_type": "postgres", **where}),
        ("connection.update", "op", {"conn_id": "warehouse", "fields": fields, **where}),
        ("connection.delete", "op", {"conn_id": "warehouse", **where}),
    ]


# -- bulk --------------------------------------------------------------------------------


def _bulk(api: Api, *actions: dict[str, Any]) -> dict[str, Any]:
    response = api.patch("/api/v2/connections", json={"actions": list(actions)})
    body = response.json()
    assert response.status_code == 200, body
    BulkResponse.from_dict(body)
    return body


def test_bulk_create_update_delete_with_partial_failures(api: Api) -> None:
    api.post("/api/v2/connections", json=_body("existing"))
    body = _bulk(
        api,
        {
            "action": "create",
            "entities": [_body("a"), _body("existing")],
            "action_on_existence": "skip",
        },
        {
            "action": "update",
            "entities": [_body("a", host="new-host"), _body("existing", port=99999)],
        },
        {"action": "delete", "entities": ["nope"]},
    )
    assert body["create"] == {"success": ["a"], "errors": []}
    assert body["update"]["success"] == ["a"]
    assert body["update"]["errors"] == [
        {
            "error": "connection 'existing': port 99999 is out of range (0-65535)",
            "status_code": 400,
            "key": "existing",
        }
    ]
    assert body["delete"] == {
        "success": [],
        "errors": [
            {
                "error": "The connections with these connection_ids: {'nope'} were not found.",
                "status_code": 404,
            }
        ],
    }
    hosts = {
        c["connection_id"]: c["host"] for c in api.get("/api/v2/connections").json()["connections"]
    }
    assert hosts == {"existing": "db.example.com", "a": "new-host"}


def test_bulk_create_overwrite_replaces_every_field(api: Api) -> None:
    api.post("/api/v2/connections", json=_body())
    body = _bulk(
        api,
        {
            "action": "create",
            "entities": [{"connection_id": "warehouse", "conn_type": "http", "host": "h"}],
            "action_on_existence": "overwrite",
        },
    )
    assert body["create"]["success"] == ["warehouse"]
    shown = api.get("/api/v2/connections/warehouse").json()
    assert (shown["conn_type"], shown["host"], shown["password"], shown["login"]) == (
        "http",
        "h",
        None,
        None,
    )


# -- test and defaults ---------------------------------------------------------------


def test_testing_a_connection_is_refused(api: Api) -> None:
    response = api.post("/api/v2/connections/test", json=_body())
    assert response.status_code == 403
    assert response.json()["detail"].startswith("Testing connections is disabled")
    _assert_no_secret(response.text)


def test_creating_default_connections_creates_none(api: Api) -> None:
    response = api.post("/api/v2/connections/defaults")
    assert (response.status_code, response.content) == (204, b"")
    assert _rows(api) == {}


def test_bodies_built_by_the_airflow_client_are_accepted(api: Api) -> None:
    client = ApiClient()
    body = ClientConnectionBody(
        connection_id="warehouse",
        conn_type="postgres",
        host="db",
        var_schema="analytics",
        password=PASSWORD,
        extra='{"sslmode": "require"}',
    )
    created = _connection(
        api.post("/api/v2/connections", json=client.sanitize_for_serialization(body)), 201
    )
    assert (created["schema"], created["password"]) == ("analytics", "***")
    body.host = "db2"
    patched = api.patch(
        "/api/v2/connections/warehouse?update_mask=host",
        json=client.sanitize_for_serialization(body),
    )
    assert (_connection(patched)["host"], patched.json()["schema"]) == ("db2", "analytics")
