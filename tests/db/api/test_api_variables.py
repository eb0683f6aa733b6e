"""Variables through the API: list, create, get, patch, delete, bulk; secrets masked.

Responses are checked against apache-airflow-client's own models, which refuse a missing
required field or a wrong JSON type.
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow_client.client import ApiClient
from airflow_client.client.models import (
    ActionsInner4,
    BulkActionNotOnExistence,
    BulkBodyVariableBody,
    BulkDeleteActionVariableBody,
    BulkResponse,
    BulkUpdateActionVariableBody,
    EntitiesInner4,
    VariableCollectionResponse,
    VariableResponse,
)
from airflow_client.client.models import VariableBody as ClientVariableBody
from api_testing import Api
from sqlalchemy import select

from downwind.metastore.models import AuditLog, VariableModel
from downwind.security.roles import Role

SECRET = "s3cr3t-hunter2"


def _variable(response: Any, status: int = 200) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == status, body
    VariableResponse.from_dict(body)
    return body


def _keys(response: Any) -> list[str]:
    body = response.json()
    assert response.status_code == 200, body
    VariableCollectionResponse.from_dict(body)
    return [variable["key"] for variable in body["variables"]]


def _post(api: Api, key: str, value: Any, **fields: Any) -> Any:
    return api.post("/api/v2/variables", json={"key": key, "value": value, **fields})


def _rows(api: Api) -> dict[str, VariableModel]:
    with api.transaction() as session:
        return {row.key: row for row in session.scalars(select(VariableModel))}


def _audit(api: Api) -> list[tuple[str, str | None, dict[str, Any]]]:
    with api.transaction() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        return [(row.event, row.owner, row.extra) for row in rows]


def test_create_then_get(api: Api) -> None:
    created = _variable(_post(api, "region", "eu-west-1", description="where"), 201)
    assert created == {
        "key": "region",
        "value": "eu-west-1",
        "description": "where",
        "is_encrypted": True,
        "team_name": None,
    }
    assert _variable(api.get("/api/v2/variables/region")) == created


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (42, "42"),
        ({"a": [1, 2]}, '{"a": [1, 2]}'),
        (None, "null"),
        (True, "true"),
        ("text", "text"),
    ],
)
def test_a_value_that_is_not_a_string_is_stored_as_its_json_text(
    api: Api, value: Any, stored: str
) -> None:
    assert _variable(_post(api, "v", value), 201)["value"] == stored
    assert api.get("/api/v2/variables/v").json()["value"] == stored


def test_values_are_encrypted_in_the_database(api: Api) -> None:
    _post(api, "region", "eu-west-1")
    row = _rows(api)["region"]
    assert row.is_encrypted is True
    assert row.val is not None and "eu-west-1" not in row.val


def test_creating_a_taken_key_is_409(api: Api) -> None:
    _post(api, "region", "eu")
    response = _post(api, "region", "us")
    assert response.status_code == 409
    assert response.json() == {"detail": "variable 'region' already exists"}
    assert api.get("/api/v2/variables/region").json()["value"] == "eu", "unchanged"


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"key": "k"}, ["body", "value"], "missing"),
        ({"value": "v"}, ["body", "key"], "missing"),
        ({"key": 7, "value": "v"}, ["body", "key"], "string_type"),
        ({"key": "", "value": "v"}, ["body", "key"], "string_too_short"),
        ({"key": "k" * 251, "value": "v"}, ["body", "key"], "string_too_long"),
        ({"key": "k", "value": "v", "val": "x"}, ["body", "val"], "extra_forbidden"),
        ({"key": "k", "value": "v", "description": 3}, ["body", "description"], "string_type"),
    ],
)
def test_a_malformed_body_is_422_naming_the_field(
    api: Api, body: dict[str, Any], loc: list[str], kind: str
) -> None:
    response = api.post("/api/v2/variables", json=body)
    assert response.status_code == 422
    assert [(e["loc"], e["type"]) for e in response.json()["detail"]] == [(loc, kind)]
    assert _rows(api) == {}


def test_a_blank_key_is_400(api: Api) -> None:
    response = _post(api, "   ", "v")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("invalid variable key '   '")


def test_an_unknown_variable_is_404(api: Api) -> None:
    for method in ("GET", "DELETE"):
        response = api.request(method, "/api/v2/variables/nope")
        assert response.status_code == 404
        assert response.json() == {"detail": "variable 'nope' is not defined"}
    patched = api.patch("/api/v2/variables/nope", json={"key": "nope", "value": "x"})
    assert patched.status_code == 404


def test_a_key_with_slashes_works_in_the_path(api: Api) -> None:
    _post(api, "team/etl/threshold", "3")
    assert _variable(api.get("/api/v2/variables/team/etl/threshold"))["value"] == "3"
    assert api.delete("/api/v2/variables/team/etl/threshold").status_code == 204


# -- secrets -------------------------------------------------------------------------


def test_a_secret_variable_is_masked_in_every_response(api: Api) -> None:
    created = _variable(_post(api, "db_password", SECRET), 201)
    assert (created["value"], created["is_encrypted"]) == ("***", True)
    assert _variable(api.get("/api/v2/variables/db_password"))["value"] == "***"
    listed = api.get("/api/v2/variables").json()["variables"]
    assert [(v["key"], v["value"]) for v in listed] == [("db_password", "***")]
    patched = api.patch(
        "/api/v2/variables/db_password", json={"key": "db_password", "value": SECRET + "2"}
    )
    assert _variable(patched)["value"] == "***"
    bulk = api.patch(
        "/api/v2/variables",
        json={"actions": [{"action": "create", "entities": [{"key": "API_KEY", "value": SECRET}]}]},
    )
    for response in (created, listed, patched.json(), bulk.json()):
        assert SECRET not in str(response)
    row = _rows(api)["db_password"]
    assert row.val is not None and SECRET not in row.val, "no clear text in the database"
    assert SECRET not in str(_audit(api)), "nor in the audit log"


def test_secret_keys_inside_a_json_value_are_masked(api: Api) -> None:
    value = {"user": "ada", "password": SECRET, "nested": {"api_token": SECRET, "n": 1}}
    shown = _variable(_post(api, "warehouse", value), 201)["value"]
    assert shown is not None and SECRET not in shown
    assert shown == ('{"user": "ada", "password": "***", "nested": {"api_token": "***", "n": 1}}')


def test_a_json_value_without_secrets_is_shown_as_stored(api: Api) -> None:
    _post(api, "config", '{"b":1,  "a":[1,2]}')
    assert api.get("/api/v2/variables/config").json()["value"] == '{"b":1,  "a":[1,2]}'


@pytest.mark.parametrize("role", [Role.VIEWER, Role.USER])
def test_viewers_and_users_may_not_read_variables(api: Api, role: Role) -> None:
    _post(api, "region", "eu")
    response = api.get("/api/v2/variables", role)
    assert response.status_code == 403
    assert response.json()["detail"] == (
        f"Forbidden: the role '{role.value}' may not read or change variables, connections "
        "and pools (permission 'configure')"
    )
    assert api.get("/api/v2/variables", Role.OP).status_code == 200


# -- list ------------------------------------------------------------------------------


def test_list_pages_sorts_and_filters(make_api: Any) -> None:
    api: Api = make_api(API__FALLBACK_PAGE_LIMIT="2")
    for key in ("b_region", "a_zone", "c_region", "d_other"):
        _post(api, key, "x")
    first = api.get("/api/v2/variables").json()
    assert first["total_entries"] == 4
    assert [v["key"] for v in first["variables"]] == ["b_region", "a_zone"], "by id"
    assert _keys(api.get("/api/v2/variables?offset=2&limit=5")) == ["c_region", "d_other"]
    assert _keys(api.get("/api/v2/variables?order_by=key&limit=5")) == [
        "a_zone",
        "b_region",
        "c_region",
        "d_other",
    ]
    assert _keys(api.get("/api/v2/variables?order_by=-key")) == ["d_other", "c_region"]
    pattern = api.get("/api/v2/variables?variable_key_pattern=REGION&order_by=key").json()
    assert pattern["total_entries"] == 2
    assert [v["key"] for v in pattern["variables"]] == ["b_region", "c_region"]
    assert _keys(api.get("/api/v2/variables?variable_key_prefix_pattern=a_")) == ["a_zone"]
    assert _keys(api.get("/api/v2/variables?variable_key_pattern=zone|other")) == [
        "a_zone",
        "d_other",
    ]


def test_an_unknown_order_by_is_400(api: Api) -> None:
    response = api.get("/api/v2/variables?order_by=value")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Ordering with 'value' is disallowed")


# -- patch and delete -------------------------------------------------------------------


def test_patch_changes_the_fields_given(api: Api) -> None:
    _post(api, "region", "eu", description="where")
    changed = _variable(api.patch("/api/v2/variables/region", json={"key": "region", "value": 1}))
    assert (changed["value"], changed["description"]) == ("1", "where"), "description kept"
    cleared = api.patch(
        "/api/v2/variables/region", json={"key": "region", "value": 2, "description": None}
    )
    assert (cleared.json()["value"], cleared.json()["description"]) == ("2", None)


def test_patch_with_update_mask_changes_only_those_fields(api: Api) -> None:
    _post(api, "region", "eu", description="where")
    response = api.patch(
        "/api/v2/variables/region?update_mask=description",
        json={"key": "region", "value": "ignored", "description": "new"},
    )
    assert (response.json()["value"], response.json()["description"]) == ("eu", "new")


def test_patch_with_another_key_in_the_body_is_400(api: Api) -> None:
    _post(api, "region", "eu")
    response = api.patch("/api/v2/variables/region", json={"key": "zone", "value": "x"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Invalid body, key from request body doesn't match uri parameter"
    }


def test_an_unknown_update_mask_field_is_400(api: Api) -> None:
    _post(api, "region", "eu")
    response = api.patch(
        "/api/v2/variables/region?update_mask=val", json={"key": "region", "value": "x"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "update_mask names unknown field(s) val; a variable's fields are key, "
        "value, description"
    }


def test_changes_are_audited_with_who_and_where_without_values(api: Api) -> None:
    _post(api, "region", "eu-west-1")
    api.patch("/api/v2/variables/region", Role.OP, json={"key": "region", "value": "us"})
    assert api.delete("/api/v2/variables/region", Role.OP).status_code == 204
    assert api.get("/api/v2/variables/region").status_code == 404
    where = {"client": "testclient"}
    assert _audit(api) == [
        ("variable.set", "admin", {"key": "region", "created": True, **where}),
        (
            "variable.set",
            "op",
            {"key": "region", "created": False, "fields": ["value"], **where},
        ),
        ("variable.delete", "op", {"key": "region", **where}),
    ]


# -- bulk --------------------------------------------------------------------------------


def _bulk(api: Api, *actions: dict[str, Any]) -> dict[str, Any]:
    response = api.patch("/api/v2/variables", json={"actions": list(actions)})
    body = response.json()
    assert response.status_code == 200, body
    BulkResponse.from_dict(body)
    return body


def _values(api: Api) -> dict[str, str | None]:
    body = api.get("/api/v2/variables?order_by=key").json()
    return {v["key"]: v["value"] for v in body["variables"]}


def test_bulk_create_update_and_delete(api: Api) -> None:
    _post(api, "old", "1")
    body = _bulk(
        api,
        {"action": "create", "entities": [{"key": "a", "value": "1"}, {"key": "b", "value": 2}]},
        {"action": "update", "entities": [{"key": "a", "value": "changed"}]},
        {"action": "delete", "entities": ["old", {"key": "b", "value": None}]},
    )
    assert body == {
        "create": {"success": ["a", "b"], "errors": []},
        "update": {"success": ["a"], "errors": []},
        "delete": {"success": ["old", "b"], "errors": []},
    }
    assert _values(api) == {"a": "changed"}


def test_bulk_create_fails_whole_when_a_key_exists_unless_skip_or_overwrite(api: Api) -> None:
    _post(api, "a", "kept")
    entities = [{"key": "a", "value": "new"}, {"key": "b", "value": "new"}]
    failed = _bulk(api, {"action": "create", "entities": entities})
    assert failed == {
        "create": {
            "success": [],
            "errors": [
                {"error": "The variables with these keys: {'a'} already exist.", "status_code": 409}
            ],
        },
        "update": None,
        "delete": None,
    }
    assert _values(api) == {"a": "kept"}, "nothing of the action was done"
    skipped = _bulk(api, {"action": "create", "entities": entities, "action_on_existence": "skip"})
    assert skipped["create"] == {"success": ["b"], "errors": []}
    assert _values(api) == {"a": "kept", "b": "new"}
    overwritten = _bulk(
        api, {"action": "create", "entities": entities, "action_on_existence": "overwrite"}
    )
    assert overwritten["create"] == {"success": ["a", "b"], "errors": []}
    assert _values(api) == {"a": "new", "b": "new"}


def test_bulk_update_and_delete_of_missing_keys_fail_unless_skip(api: Api) -> None:
    _post(api, "a", "1")
    update = {"action": "update", "entities": [{"key": "a", "value": 2}, {"key": "x", "value": 3}]}
    delete = {"action": "delete", "entities": ["a", "x", "y"]}
    failed = _bulk(api, update, delete)
    assert failed["update"]["errors"] == [
        {"error": "The variables with these keys: {'x'} were not found.", "status_code": 404}
    ]
    assert failed["delete"]["errors"] == [
        {"error": "The variables with these keys: {'x', 'y'} were not found.", "status_code": 404}
    ]
    assert _values(api) == {"a": "1"}
    skipped = _bulk(
        api,
        {**update, "action_on_non_existence": "skip"},
        {**delete, "action_on_non_existence": "skip"},
    )
    assert (skipped["update"]["success"], skipped["delete"]["success"]) == (["a"], ["a"])
    assert _values(api) == {}


def test_a_bulk_entity_a_service_refuses_is_an_error_and_the_others_are_done(api: Api) -> None:
    body = _bulk(
        api,
        {
            "action": "create",
            "entities": [{"key": "good", "value": 1}, {"key": " ", "value": 2}],
        },
    )
    assert body["create"]["success"] == ["good"]
    (error,) = body["create"]["errors"]
    assert (error["status_code"], error["key"]) == (400, " ")
    assert error["error"].startswith("invalid variable key ' '")
    assert _values(api) == {"good": "1"}


def test_bulk_update_with_update_mask(api: Api) -> None:
    _post(api, "a", "1", description="old")
    body = _bulk(
        api,
        {
            "action": "update",
            "entities": [{"key": "a", "value": "ignored", "description": "new"}],
            "update_mask": ["description"],
        },
    )
    assert body["update"]["success"] == ["a"]
    assert _variable(api.get("/api/v2/variables/a"))["description"] == "new"
    assert _values(api) == {"a": "1"}


@pytest.mark.parametrize(
    "actions",
    [
        [{"action": "upsert", "entities": []}],
        [{"action": "create", "entities": [{"key": "a"}]}],
        [{"action": "create", "entities": [], "action_on_existence": "replace"}],
        [{"action": "delete", "entities": [], "action_on_non_existence": "overwrite"}],
    ],
)
def test_a_malformed_bulk_body_is_422(api: Api, actions: list[dict[str, Any]]) -> None:
    response = api.patch("/api/v2/variables", json={"actions": actions})
    assert response.status_code == 422, response.text


def test_bodies_built_by_the_airflow_client_are_accepted(api: Api) -> None:
    client = ApiClient()
    body = client.sanitize_for_serialization(
        ClientVariableBody(key="region", value={"zone": "a"}, description="where")
    )
    assert _variable(api.post("/api/v2/variables", json=body), 201)["value"] == '{"zone": "a"}'
    bulk = BulkBodyVariableBody(
        actions=[
            ActionsInner4(
                BulkUpdateActionVariableBody(
                    action="update",
                    entities=[ClientVariableBody(key="region", value="b")],
                    action_on_non_existence=BulkActionNotOnExistence.SKIP,
                )
            ),
            ActionsInner4(
                BulkDeleteActionVariableBody(action="delete", entities=[EntitiesInner4("nope")])
            ),
        ]
    )
    answer = _bulk(api, *client.sanitize_for_serialization(bulk)["actions"])
    assert answer["update"]["success"] == ["region"]
    assert answer["delete"]["errors"][0]["status_code"] == 404
