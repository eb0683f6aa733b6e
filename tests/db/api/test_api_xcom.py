"""XComs through the API: list (``~`` wildcards, filters), get one (as stored,
deserialized, as text), create, update, delete; who may write; bad requests."""

from __future__ import annotations

import pytest
from airflow_client.client.models import (
    XComCollectionResponse,
    XComResponseNative,
    XComResponseString,
)
from api_testing import NOW, Api
from metastore_dags import etl_dag, finish_try, register, scheduled_run
from sqlalchemy import select

from downwind.metastore.models import AuditLog, XComModel
from downwind.runtime import serde
from downwind.security.roles import Role

DAY1 = "scheduled__2026-01-01T00:00:00+00:00"
DAY2 = "scheduled__2026-01-02T00:00:00+00:00"
EXTRACT = f"/api/v2/dags/etl/dagRuns/{DAY1}/taskInstances/extract/xcomEntries"
WHEN = serde.loads('{"__dw__":"datetime","v":"2026-01-01T06:30:00+00:00"}')


@pytest.fixture
def xcoms(api: Api) -> Api:
    """``etl``'s runs of Jan 1 and 2; in both, ``extract`` pushed ``return_value``
    (``{"rows": 3, "when": <datetime>}``) and ``extract`` of Jan 1 also ``tables`` (a
    tuple); ``load`` of Jan 1 pushed ``return_value`` null."""
    with api.transaction() as session:
        register(session, etl_dag())
        for day, run_id in ((1, DAY1), (2, DAY2)):
            scheduled_run(session, "etl", day)
            finish_try(session, "etl", run_id, "extract", "success")
            session.add(_xcom(run_id, "extract", "return_value", {"rows": 3, "when": WHEN}))
        session.add(_xcom(DAY1, "extract", "tables", ("orders", "users")))
        session.add(_xcom(DAY1, "load", "return_value", None))
    return api


def _xcom(run_id: str, task_id: str, key: str, value: object) -> XComModel:
    return XComModel(
        dag_id="etl",
        run_id=run_id,
        task_id=task_id,
        key=key,
        value=serde.dumps(value),
        timestamp=NOW,
    )


def _entries(response: object) -> list[tuple[str, str, str]]:
    body = response.json()  # type: ignore[attr-defined]
    assert response.status_code == 200, body  # type: ignore[attr-defined]
    XComCollectionResponse.from_dict(body)
    return [(x["run_id"], x["task_id"], x["key"]) for x in body["xcom_entries"]]


def _audit(api: Api) -> list[tuple[str, str | None, dict[str, object]]]:
    with api.transaction() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        return [(row.event, row.task_id, row.extra) for row in rows]


def test_list_a_task_instances_xcoms(xcoms: Api) -> None:
    response = xcoms.get(EXTRACT, Role.VIEWER)
    assert _entries(response) == [(DAY1, "extract", "return_value"), (DAY1, "extract", "tables")]
    entry = response.json()["xcom_entries"][0]
    assert "value" not in entry
    assert (entry["logical_date"], entry["run_after"], entry["timestamp"]) == (
        "2026-01-01T00:00:00Z",
        "2026-01-02T00:00:00Z",
        "2026-03-01T12:00:00Z",
    )
    assert (entry["map_index"], entry["dag_display_name"], entry["task_display_name"]) == (
        -1,
        "etl",
        "extract",
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries?xcom_key=return_value",
            [(DAY1, "extract"), (DAY2, "extract"), (DAY1, "load")],
        ),
        ("/api/v2/dags/etl/dagRuns/~/taskInstances/load/xcomEntries", [(DAY1, "load")]),
        (
            f"/api/v2/dags/etl/dagRuns/{DAY2}/taskInstances/~/xcomEntries",
            [(DAY2, "extract")],
        ),
        (
            "/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries?xcom_key_pattern=TAB",
            [(DAY1, "extract")],
        ),
        (
            "/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries?order_by=-run_id&limit=1",
            [(DAY2, "extract")],
        ),
        (
            "/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries"
            "?logical_date_gte=2026-01-02T00:00:00Z",
            [(DAY2, "extract")],
        ),
        ("/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries?map_index=0", []),
    ],
)
def test_list_with_wildcards_and_filters(
    xcoms: Api, url: str, expected: list[tuple[str, str]]
) -> None:
    assert [(run, task) for run, task, _ in _entries(xcoms.get(url))] == expected


def test_get_one_as_stored_deserialized_or_as_text(xcoms: Api) -> None:
    stored = xcoms.get(f"{EXTRACT}/return_value", Role.VIEWER).json()
    XComResponseNative.from_dict(stored)
    assert stored["value"] == {
        "rows": 3,
        "when": {"__dw__": "datetime", "v": "2026-01-01T06:30:00+00:00"},
    }, "the tagged form reads back the same value"
    plain = xcoms.get(f"{EXTRACT}/return_value?deserialize=true").json()
    assert plain["value"] == {"rows": 3, "when": "2026-01-01T06:30:00Z"}
    as_tuple = xcoms.get(f"{EXTRACT}/tables?deserialize=true").json()
    assert as_tuple["value"] == ["orders", "users"]
    text = xcoms.get(f"{EXTRACT}/tables?deserialize=true&stringify=true").json()
    XComResponseString.from_dict(text)
    assert text["value"] == "('orders', 'users')"
    null = xcoms.get(
        f"/api/v2/dags/etl/dagRuns/{DAY1}/taskInstances/load/xcomEntries/return_value"
    ).json()
    assert "value" in null and null["value"] is None


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        (f"{EXTRACT}/nope", "XCom entry with key: `nope` not found"),
        (f"{EXTRACT}/return_value?map_index=2", "has no task 'extract' with map index 2"),
        (
            f"/api/v2/dags/etl/dagRuns/{DAY1}/taskInstances/nope/xcomEntries/x",
            "has no task 'nope'",
        ),
        ("/api/v2/dags/etl/dagRuns/nope/taskInstances/extract/xcomEntries/x", "has no run"),
    ],
)
def test_a_missing_xcom_is_404_saying_what_is_missing(xcoms: Api, url: str, detail: str) -> None:
    response = xcoms.get(url)
    assert response.status_code == 404
    assert detail in response.json()["detail"]


def test_create_update_delete(xcoms: Api) -> None:
    created = xcoms.post(
        EXTRACT, Role.USER, json={"key": "checksum", "value": {"sha": "abc", "n": [1, 2]}}
    )
    assert created.status_code == 201, created.text
    body = XComResponseNative.from_dict(created.json())
    assert (body.key, body.value, body.timestamp) == (
        "checksum",
        {"sha": "abc", "n": [1, 2]},
        NOW,
    )
    assert xcoms.get(f"{EXTRACT}/checksum").json()["value"] == {"sha": "abc", "n": [1, 2]}

    updated = xcoms.patch(f"{EXTRACT}/checksum", Role.USER, json={"value": "def"})
    assert updated.status_code == 200
    assert XComResponseNative.from_dict(updated.json()).value == "def"

    deleted = xcoms.delete(f"{EXTRACT}/checksum", Role.USER)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert xcoms.get(f"{EXTRACT}/checksum").status_code == 404
    client = {"key": "checksum", "client": "testclient"}
    assert _audit(xcoms) == [
        ("xcom.create", "extract", client),
        ("xcom.update", "extract", client),
        ("xcom.delete", "extract", client),
    ]


def test_a_null_value_is_a_value(xcoms: Api) -> None:
    created = xcoms.post(EXTRACT, json={"key": "nothing", "value": None})
    assert created.status_code == 201
    assert created.json()["value"] is None


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "detail"),
    [
        ("POST", EXTRACT, {"key": "tables", "value": 1}, 409, "`tables` with mentioned task"),
        ("POST", EXTRACT, {"key": "k"}, 422, None),
        ("POST", EXTRACT, {"key": "", "value": 1}, 422, None),
        ("POST", EXTRACT, {"key": "a\x00b", "value": 1}, 400, "nor contain NUL characters"),
        ("POST", EXTRACT, {"key": "k", "value": 1, "ttl": 3}, 422, None),
        ("POST", EXTRACT.replace("extract", "nope"), {"key": "k", "value": 1}, 404, "'nope'"),
        ("PATCH", f"{EXTRACT}/nope", {"value": 1}, 404, "`nope` not found"),
        ("PATCH", f"{EXTRACT}/tables", {}, 422, None),
        ("DELETE", f"{EXTRACT}/nope", None, 404, "`nope` not found"),
    ],
)
def test_bad_writes(
    xcoms: Api,
    method: str,
    url: str,
    body: dict[str, object] | None,
    status: int,
    detail: str | None,
) -> None:
    response = xcoms.request(method, url, json=body)
    assert response.status_code == status, response.text
    if detail is not None:
        assert detail in response.json()["detail"]
    assert _audit(xcoms) == []


def test_viewers_read_but_do_not_write(xcoms: Api) -> None:
    assert xcoms.get(EXTRACT, Role.VIEWER).status_code == 200
    response = xcoms.post(EXTRACT, Role.VIEWER, json={"key": "k", "value": 1})
    assert response.status_code == 403
