"""Backfills through the API: dry run, create, list, get, pause, unpause, cancel.

Creating one records the request (the scheduler creates its runs; see
tests/db/test_backfills.py). Responses are checked against apache-airflow-client's own
models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from airflow_client.client import ApiClient
from airflow_client.client.models import (
    BackfillCollectionResponse,
    BackfillPostBody,
    BackfillResponse,
    DryRunBackfillCollectionResponse,
    ReprocessBehavior,
)
from api_testing import Api
from metastore_dags import START, etl_dag, register, scheduled_run, set_run_state
from sqlalchemy import func, select

from downwind.metastore.models import AuditLog, Backfill, DagRun
from downwind.operators.empty import EmptyOperator
from downwind.sdk.dag import DAG
from downwind.security.roles import Role


def _date(day: int) -> str:
    return f"2026-01-{day:02d}T00:00:00Z"


def _body(first: int = 1, last: int = 3, **fields: Any) -> dict[str, Any]:
    return {"dag_id": "etl", "from_date": _date(first), "to_date": _date(last), **fields}


def _backfill(response: Any) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == 200, body
    BackfillResponse.from_dict(body)
    return body


@pytest.fixture
def etl(api: Api) -> Api:
    """``etl`` (daily from 2026-01-01) and ``adhoc`` (no schedule)."""
    with api.transaction() as session:
        register(session, etl_dag())
        with DAG("adhoc", start_date=START, schedule=None) as adhoc:
            EmptyOperator(task_id="only")
        register(session, adhoc)
    return api


def _count(api: Api, model: type) -> int:
    with api.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_dry_run_lists_the_dates_it_would_run_and_records_nothing(etl: Api) -> None:
    with etl.transaction() as session:
        set_run_state(session, scheduled_run(session, "etl", 2), "success")
        set_run_state(session, scheduled_run(session, "etl", 3), "failed")
        set_run_state(session, scheduled_run(session, "etl", 4), "running")

    def dates(behavior: str) -> list[str]:
        response = etl.post(
            "/api/v2/backfills/dry_run", json=_body(1, 5, reprocess_behavior=behavior)
        )
        body = response.json()
        assert response.status_code == 200, body
        DryRunBackfillCollectionResponse.from_dict(body)
        assert body["total_entries"] == len(body["backfills"])
        return [item["logical_date"] for item in body["backfills"]]

    assert dates("none") == [_date(1), _date(5)]
    assert dates("failed") == [_date(1), _date(3), _date(5)]
    assert dates("completed") == [_date(1), _date(2), _date(3), _date(5)]
    assert _count(etl, Backfill) == 0
    assert _count(etl, DagRun) == 3


def test_create_records_the_backfill_for_the_scheduler(etl: Api) -> None:
    response = etl.post(
        "/api/v2/backfills",
        Role.USER,
        json=_body(
            reprocess_behavior="failed",
            max_active_runs=2,
            dag_run_conf={"rows": 7},
            run_on_latest_version=True,
        ),
    )
    created = _backfill(response)
    assert created == {
        "id": created["id"],
        "dag_id": "etl",
        "dag_display_name": "etl",
        "from_date": _date(1),
        "to_date": _date(3),
        "dag_run_conf": {"rows": 7},
        "is_paused": False,
        "reprocess_behavior": "failed",
        "max_active_runs": 2,
        "created_at": "2026-03-01T12:00:00Z",
        "updated_at": "2026-03-01T12:00:00Z",
        "completed_at": None,
    }
    assert _backfill(etl.get(f"/api/v2/backfills/{created['id']}", Role.VIEWER)) == created
    assert _count(etl, DagRun) == 0, "the scheduler creates the runs"
    with etl.transaction() as session:
        audit = session.scalars(select(AuditLog).where(AuditLog.event == "backfill.create")).one()
        assert (audit.owner, audit.dag_id, audit.extra["client"]) == ("user", "etl", "testclient")
        assert audit.extra["backfill_id"] == created["id"]


def test_the_defaults_are_airflows(etl: Api) -> None:
    created = _backfill(etl.post("/api/v2/backfills", json=_body()))
    assert (created["reprocess_behavior"], created["max_active_runs"]) == ("none", 10)
    assert created["dag_run_conf"] is None


def test_a_second_unfinished_backfill_of_a_dag_is_409(etl: Api) -> None:
    first = _backfill(etl.post("/api/v2/backfills", json=_body()))
    response = etl.post("/api/v2/backfills", json=_body(4, 6))
    assert response.status_code == 409
    assert response.json()["detail"].startswith(
        f"DAG 'etl' already has backfill {first['id']} (queued, "
    )
    assert _count(etl, Backfill) == 1


def test_an_unknown_dag_or_backfill_is_404(etl: Api) -> None:
    for url in ("/api/v2/backfills", "/api/v2/backfills/dry_run"):
        response = etl.post(url, json=_body() | {"dag_id": "elt"})
        assert response.status_code == 404
        assert response.json()["detail"].startswith("DAG 'elt' not found")
    response = etl.get("/api/v2/backfills/999")
    assert response.status_code == 404
    assert response.json() == {
        "detail": "backfill 999 not found: `downwind backfills list` shows them"
    }
    for action in ("pause", "unpause", "cancel"):
        assert etl.request("PUT", f"/api/v2/backfills/999/{action}").status_code == 404


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        (
            {"from_date": _date(5), "to_date": _date(1)},
            "the start date 2026-01-05T00:00:00+00:00 is after the end date "
            "2026-01-01T00:00:00+00:00",
        ),
        (
            {"from_date": "2026-06-01T00:00:00Z", "to_date": "2026-06-02T00:00:00Z"},
            "no complete data interval of DAG 'etl' (schedule @daily) has a logical date from "
            "2026-06-01T00:00:00+00:00 to 2026-06-02T00:00:00+00:00: a backfill runs past "
            "intervals only",
        ),
        ({"max_active_runs": 0}, "max_active_runs must be 1 or more, got 0"),
        (
            {"run_backwards": True},
            "run_backwards is not supported: downwind runs a backfill's logical dates oldest first",
        ),
    ],
)
def test_a_request_the_rules_refuse_is_422_with_the_reason(
    etl: Api, fields: dict[str, Any], detail: str
) -> None:
    for url in ("/api/v2/backfills", "/api/v2/backfills/dry_run"):
        response = etl.post(url, json=_body(**fields))
        assert response.status_code == 422
        assert response.json() == {"detail": detail}
    assert _count(etl, Backfill) == 0


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("0001-01-01T00:00:00+05:00", "0001-01-02T00:00:00Z"),
        ("9999-12-31T23:00:00-05:00", "9999-12-31T23:00:00-05:00"),
    ],
)
def test_dates_at_the_limits_of_the_calendar_are_422(etl: Api, first: str, last: str) -> None:
    response = etl.post("/api/v2/backfills/dry_run", json=_body(from_date=first, to_date=last))
    assert response.status_code == 422
    assert response.json() == {
        "detail": "from_date or to_date is too close to the limits of the calendar (years 1 "
        "and 9999)"
    }


def test_a_dag_without_a_schedule_cannot_be_backfilled(etl: Api) -> None:
    response = etl.post("/api/v2/backfills", json=_body() | {"dag_id": "adhoc"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith(
        "DAG 'adhoc' has schedule None: it has no data intervals to backfill"
    )


def test_a_conf_the_dag_params_refuse_is_422(etl: Api) -> None:
    response = etl.post("/api/v2/backfills", json=_body(dag_run_conf={"rows": 0}))
    assert response.status_code == 422
    assert "rows" in response.json()["detail"]


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"dag_run_conf": [1, 2]}, ["body", "dag_run_conf"]),
        ({"reprocess_behavior": "all"}, ["body", "reprocess_behavior"]),
        ({"from_date": "yesterday"}, ["body", "from_date"]),
        ({"run_backwards": "no"}, ["body", "run_backwards"]),
        ({"dag": "etl"}, ["body", "dag"]),
    ],
)
def test_a_malformed_body_is_422_naming_the_field(
    etl: Api, fields: dict[str, Any], loc: list[str]
) -> None:
    response = etl.post("/api/v2/backfills", json=_body(**fields))
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [loc]


def test_list_filters_by_dag_pages_and_sorts(etl: Api) -> None:
    with etl.transaction() as session:
        register(session, etl_dag("other"))
    first = _backfill(etl.post("/api/v2/backfills", json=_body()))
    etl.request("PUT", f"/api/v2/backfills/{first['id']}/cancel")
    second = _backfill(etl.post("/api/v2/backfills", json=_body(4, 5)))
    third = _backfill(etl.post("/api/v2/backfills", json=_body() | {"dag_id": "other"}))

    def ids(query: str) -> list[int]:
        response = etl.get(f"/api/v2/backfills?{query}", Role.VIEWER)
        body = response.json()
        assert response.status_code == 200, body
        BackfillCollectionResponse.from_dict(body)
        return [item["id"] for item in body["backfills"]]

    assert ids("dag_id=etl") == [first["id"], second["id"]]
    assert ids("dag_id=etl&order_by=-id") == [second["id"], first["id"]]
    assert ids("") == [first["id"], second["id"], third["id"]]
    assert ids("limit=1&offset=1") == [second["id"]]
    assert ids("dag_id=unknown") == [], "as in Airflow: an empty list"
    assert etl.get("/api/v2/backfills?dag_id=etl").json()["total_entries"] == 2
    assert etl.get("/api/v2/backfills?order_by=state").status_code == 400


def test_pause_unpause_and_cancel(etl: Api) -> None:
    backfill_id = _backfill(etl.post("/api/v2/backfills", json=_body()))["id"]
    url = f"/api/v2/backfills/{backfill_id}"
    assert _backfill(etl.request("PUT", f"{url}/pause", Role.USER))["is_paused"] is True
    assert _backfill(etl.request("PUT", f"{url}/pause"))["is_paused"] is True, "idempotent"
    assert _backfill(etl.request("PUT", f"{url}/unpause"))["is_paused"] is False
    cancelled = _backfill(etl.request("PUT", f"{url}/cancel"))
    assert cancelled["is_paused"] is True
    assert cancelled["completed_at"] == "2026-03-01T12:00:00Z", "no run of it was active"
    for action in ("pause", "unpause", "cancel"):
        response = etl.request("PUT", f"{url}/{action}")
        assert response.status_code == 409
        assert response.json() == {
            "detail": f"cannot {action} backfill {backfill_id} of DAG 'etl': it is cancelled"
        }
    with etl.transaction() as session:
        events = session.scalars(
            select(AuditLog.event).where(AuditLog.event.like("backfill.%")).order_by(AuditLog.id)
        ).all()
    assert events == [
        "backfill.create",
        "backfill.pause",
        "backfill.pause",
        "backfill.unpause",
        "backfill.cancel",
    ]


def test_viewers_read_backfills_but_may_not_create_or_change_them(etl: Api) -> None:
    backfill_id = _backfill(etl.post("/api/v2/backfills", json=_body()))["id"]
    assert etl.get(f"/api/v2/backfills/{backfill_id}", Role.VIEWER).status_code == 200
    for method, url in [
        ("POST", "/api/v2/backfills"),
        ("POST", "/api/v2/backfills/dry_run"),
        ("PUT", f"/api/v2/backfills/{backfill_id}/pause"),
    ]:
        response = etl.request(method, url, Role.VIEWER, json=_body())
        assert response.status_code == 403
        assert response.json()["detail"].endswith("(permission 'operate')")


def test_a_negative_or_malformed_backfill_id_is_422(etl: Api) -> None:
    assert etl.get("/api/v2/backfills/-1").status_code == 422
    assert etl.get("/api/v2/backfills/one").status_code == 422


def test_a_body_built_by_the_airflow_client_is_accepted(etl: Api) -> None:
    body = ApiClient().sanitize_for_serialization(
        BackfillPostBody(
            dag_id="etl",
            from_date=datetime(2026, 1, 1, tzinfo=UTC),
            to_date=datetime(2026, 1, 2, tzinfo=UTC),
            reprocess_behavior=ReprocessBehavior.COMPLETED,
            dag_run_conf={"rows": 2},
        )
    )
    dry_run = etl.post("/api/v2/backfills/dry_run", json=body).json()
    assert [item["logical_date"] for item in dry_run["backfills"]] == [_date(1), _date(2)]
    assert _backfill(etl.post("/api/v2/backfills", json=body))["reprocess_behavior"] == "completed"
