"""DAGs through the API: list and filter, get, details, pause (one or many), delete.

Responses are checked against apache-airflow-client's own models, which refuse a missing
required field or a wrong JSON type.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow_client.client.models import (
    DAGCollectionResponse,
    DAGDetailsResponse,
    DAGResponse,
)
from api_testing import Api
from metastore_dags import START, etl_dag, finish_try, register, scheduled_run, set_run_state
from sqlalchemy import select

from downwind.metastore.models import AuditLog, DagModel, DagRun
from downwind.operators.empty import EmptyOperator
from downwind.sdk.dag import DAG
from downwind.security.roles import Role


def _dag(dag_id: str, *, owner: str = "ada", **args: object) -> DAG:
    args.setdefault("start_date", START)
    args.setdefault("schedule", "@daily")
    with DAG(dag_id, **args) as dag:  # type: ignore[arg-type]
        EmptyOperator(task_id="only", owner=owner)
    return dag


@pytest.fixture
def dags(api: Api) -> Api:
    """``etl`` (tags daily + finance, owner downwind), ``reports`` (finance, owner bob,
    paused), ``adhoc`` (no schedule, owners ada and bob)."""
    with api.transaction() as session:
        register(session, etl_dag(tags=["finance", "daily"]))
        register(session, _dag("reports", owner="bob", tags=["finance"]), paused=True)
        with DAG("adhoc", start_date=START, schedule=None) as adhoc:
            EmptyOperator(task_id="a", owner="ada")
            EmptyOperator(task_id="b", owner="bob", max_active_tis_per_dag=1)
        register(session, adhoc)
    return api


def _ids(response: object) -> list[str]:
    body = response.json()  # type: ignore[attr-defined]
    assert response.status_code == 200, body  # type: ignore[attr-defined]
    DAGCollectionResponse.from_dict(body)
    return [dag["dag_id"] for dag in body["dags"]]


def test_the_list_has_every_field_the_client_requires(dags: Api) -> None:
    body = dags.get("/api/v2/dags").json()
    collection = DAGCollectionResponse.from_dict(body)
    assert collection.total_entries == 3
    assert [dag.dag_id for dag in collection.dags] == ["adhoc", "etl", "reports"]
    adhoc, etl, reports = body["dags"]
    assert etl["tags"] == [
        {"name": "daily", "dag_id": "etl", "dag_display_name": "etl"},
        {"name": "finance", "dag_id": "etl", "dag_display_name": "etl"},
    ]
    assert (etl["is_paused"], reports["is_paused"]) == (False, True)
    assert etl["owners"] == ["downwind"] and adhoc["owners"] == ["ada", "bob"]
    assert etl["fileloc"] == "/dags/etl.py" and etl["relative_fileloc"] == "etl.py"
    assert etl["timetable_summary"] == "@daily"
    assert (etl["timetable_periodic"], etl["is_backfillable"]) == (True, True)
    assert (adhoc["timetable_periodic"], adhoc["is_backfillable"]) == (False, False)
    assert (adhoc["has_task_concurrency_limits"], etl["has_task_concurrency_limits"]) == (
        True,
        False,
    )
    assert etl["is_stale"] is False and etl["has_import_errors"] is False
    assert etl["last_parsed_time"] == "2026-03-01T12:00:00Z"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tags=finance", ["etl", "reports"]),
        ("tags=daily&tags=finance", ["etl", "reports"]),
        ("tags=daily&tags=finance&tags_match_mode=all", ["etl"]),
        ("tags=nope", []),
        ("owners=bob", ["adhoc", "reports"]),
        ("owners=ada&owners=downwind", ["adhoc", "etl"]),
        ("dag_id_pattern=ET", ["etl"]),
        ("dag_id_pattern=rep|hoc", ["adhoc", "reports"]),
        ("dag_id_pattern=e_l", ["etl"]),
        ("dag_id_pattern=~", ["adhoc", "etl", "reports"]),
        ("dag_id_prefix_pattern=re", ["reports"]),
        ("dag_display_name_pattern=adh", ["adhoc"]),
        ("paused=true", ["reports"]),
        ("paused=false", ["adhoc", "etl"]),
        ("has_import_errors=true", []),
        ("paused=false&tags=finance", ["etl"]),
        ("order_by=-dag_id", ["reports", "etl", "adhoc"]),
        ("order_by=dag_display_name", ["adhoc", "etl", "reports"]),
    ],
)
def test_filters(dags: Api, query: str, expected: list[str]) -> None:
    assert _ids(dags.get(f"/api/v2/dags?{query}")) == expected


def test_stale_dags_are_left_out_unless_asked(dags: Api) -> None:
    with dags.transaction() as session:
        session.get(DagModel, "reports").is_active = False  # type: ignore[union-attr]
        session.get(DagModel, "adhoc").has_import_errors = True  # type: ignore[union-attr]
    assert _ids(dags.get("/api/v2/dags")) == ["adhoc", "etl"]
    every = dags.get("/api/v2/dags?exclude_stale=false").json()["dags"]
    assert [(d["dag_id"], d["is_stale"]) for d in every] == [
        ("adhoc", False),
        ("etl", False),
        ("reports", True),
    ]
    assert _ids(dags.get("/api/v2/dags?has_import_errors=true")) == ["adhoc"]


def test_last_run_state_filters_and_sorts(dags: Api) -> None:
    with dags.transaction() as session:
        set_run_state(session, scheduled_run(session, "etl", 1), "success")
        set_run_state(session, scheduled_run(session, "etl", 2), "failed")  # the latest
        set_run_state(session, scheduled_run(session, "reports", 1), "success")
    assert _ids(dags.get("/api/v2/dags?last_dag_run_state=failed")) == ["etl"]
    assert _ids(dags.get("/api/v2/dags?last_dag_run_state=success")) == ["reports"]
    by_state = _ids(dags.get("/api/v2/dags?order_by=-last_run_state&order_by=dag_id"))
    assert by_state[:2] == ["reports", "etl"], "success > failed; adhoc has no run"


def test_pages(make_api: object) -> None:
    api: Api = make_api(API__MAXIMUM_PAGE_LIMIT="3", API__FALLBACK_PAGE_LIMIT="2")  # type: ignore[operator]
    with api.transaction() as session:
        for n in range(5):
            register(session, _dag(f"dag_{n}"))
    first = api.get("/api/v2/dags").json()
    assert ([d["dag_id"] for d in first["dags"]], first["total_entries"]) == (
        ["dag_0", "dag_1"],
        5,
    )
    assert _ids(api.get("/api/v2/dags?limit=100")) == ["dag_0", "dag_1", "dag_2"], "capped"
    assert _ids(api.get("/api/v2/dags?limit=2&offset=4")) == ["dag_4"]
    assert api.get("/api/v2/dags?limit=0").json() == {"dags": [], "total_entries": 5}


def test_an_unknown_order_by_is_400(dags: Api) -> None:
    response = dags.get("/api/v2/dags?order_by=-owner")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Ordering with 'owner' is disallowed or the attribute does not exist on the "
        "model; order_by accepts: dag_id, dag_display_name, next_dagrun, state, start_date, "
        "last_run_state, last_run_start_date (prefix '-' to sort descending)"
    }


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("tags_match_mode=some", ["query", "tags_match_mode"]),
        ("last_dag_run_state=done", ["query", "last_dag_run_state"]),
        ("paused=maybe", ["query", "paused"]),
        ("limit=-1", ["query", "limit"]),
        ("offset=x", ["query", "offset"]),
    ],
)
def test_a_malformed_filter_is_422_naming_it(dags: Api, query: str, loc: list[str]) -> None:
    response = dags.get(f"/api/v2/dags?{query}")
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [loc]


def test_get_one(dags: Api) -> None:
    response = dags.get("/api/v2/dags/etl", Role.VIEWER)
    assert response.status_code == 200
    assert DAGResponse.from_dict(response.json()).dag_id == "etl"


def test_an_unknown_dag_is_404_with_a_hint(dags: Api) -> None:
    for url in ("/api/v2/dags/elt", "/api/v2/dags/elt/details"):
        response = dags.get(url)
        assert response.status_code == 404
        assert response.json() == {
            "detail": "DAG 'elt' not found in the metastore: is its file in the dags folder, "
            "and has the DAG processor parsed it?; did you mean 'etl'?"
        }


def test_details(dags: Api) -> None:
    with dags.transaction() as session:
        register(
            session,
            etl_dag(
                "timed",
                dagrun_timeout=timedelta(hours=1),
                doc_md="# Timed",
                catchup=False,
                owner_links={"ada": "mailto:ada@example.com"},
            ),
        )
        set_run_state(session, scheduled_run(session, "timed", 1), "running")
    body = dags.get("/api/v2/dags/timed/details").json()
    details = DAGDetailsResponse.from_dict(body)
    assert details.dag_id == "timed" and details.catchup is False
    assert body["dag_run_timeout"] == "PT1H"
    assert body["doc_md"] == "# Timed"
    assert body["concurrency"] == body["max_active_tasks"] == 16
    assert body["start_date"] == "2026-01-01T00:00:00Z"
    assert body["timezone"] == "UTC"
    assert body["owner_links"] == {"ada": "mailto:ada@example.com"}
    assert body["params"] == {
        "rows": {
            "__class": "airflow.sdk.definitions.param.Param",
            "value": 5,
            "description": None,
            "schema": {"type": "integer", "minimum": 1},
        }
    }
    assert body["active_runs_count"] == 1
    version = body["latest_dag_version"]
    assert (version["dag_id"], version["version_number"]) == ("timed", 1)


# -- pause and unpause ------------------------------------------------------------------


def _audit(api: Api) -> list[tuple[str, str | None, str | None, object]]:
    with api.transaction() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        return [(row.event, row.dag_id, row.owner, row.extra) for row in rows]


def test_pause_and_unpause_one_dag_audited_with_who_and_where(dags: Api) -> None:
    paused = dags.patch("/api/v2/dags/etl", Role.USER, json={"is_paused": True})
    assert paused.status_code == 200
    assert DAGResponse.from_dict(paused.json()).is_paused is True
    unpaused = dags.patch(
        "/api/v2/dags/etl?update_mask=is_paused", Role.USER, json={"is_paused": False}
    )
    assert unpaused.json()["is_paused"] is False
    assert _audit(dags) == [
        ("pause", "etl", "user", {"client": "testclient"}),
        ("unpause", "etl", "user", {"client": "testclient"}),
    ]
    assert dags.get("/api/v2/dags/etl").json()["is_paused"] is False


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({}, ["body", "is_paused"], "missing"),
        ({"is_paused": "yes"}, ["body", "is_paused"], "bool_type"),
        ({"is_paused": True, "owners": ["me"]}, ["body", "owners"], "extra_forbidden"),
    ],
)
def test_an_invalid_patch_body_is_422(dags: Api, body: object, loc: list[str], kind: str) -> None:
    response = dags.patch("/api/v2/dags/etl", json=body)
    assert response.status_code == 422
    assert [(e["loc"], e["type"]) for e in response.json()["detail"]] == [(loc, kind)]
    assert _audit(dags) == [], "nothing changed"


def test_a_malformed_json_body_is_422(dags: Api) -> None:
    response = dags.patch(
        "/api/v2/dags/etl",
        content=b'{"is_paused": tru',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_another_field_in_update_mask_is_400(dags: Api) -> None:
    response = dags.patch("/api/v2/dags/etl?update_mask=description", json={"is_paused": True})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Only `is_paused` field can be updated through the REST API"
    }


def test_pausing_an_unknown_dag_is_404(dags: Api) -> None:
    assert dags.patch("/api/v2/dags/nope", json={"is_paused": True}).status_code == 404


def test_pause_many_by_pattern(dags: Api) -> None:
    response = dags.patch("/api/v2/dags?dag_id_pattern=etl|adhoc", json={"is_paused": True})
    assert response.status_code == 200
    assert _ids(response) == ["adhoc", "etl"]
    assert all(dag["is_paused"] for dag in response.json()["dags"])
    assert [(event, dag_id) for event, dag_id, _, _ in _audit(dags)] == [
        ("pause", "adhoc"),
        ("pause", "etl"),
    ]
    everything = dags.patch("/api/v2/dags?dag_id_pattern=~", json={"is_paused": False})
    assert everything.json()["total_entries"] == 3
    assert _ids(dags.get("/api/v2/dags?paused=true")) == []


def test_pause_many_without_a_pattern_changes_nothing(dags: Api) -> None:
    response = dags.patch("/api/v2/dags?tags=finance", json={"is_paused": True})
    assert response.json() == {"dags": [], "total_entries": 0}
    assert _ids(dags.get("/api/v2/dags?paused=true")) == ["reports"]


# -- delete ------------------------------------------------------------------------------


def test_delete_removes_the_dag_and_its_history(dags: Api) -> None:
    with dags.transaction() as session:
        set_run_state(session, scheduled_run(session, "etl", 1), "success")
    response = dags.delete("/api/v2/dags/etl", Role.USER)
    assert response.status_code == 200
    assert response.json() == {"dag_id": "etl"}
    assert dags.get("/api/v2/dags/etl").status_code == 404
    with dags.transaction() as session:
        assert session.scalars(select(DagRun.run_id).where(DagRun.dag_id == "etl")).all() == []
    assert _audit(dags) == [("dag.delete", "etl", "user", {"client": "testclient"})]
    assert dags.delete("/api/v2/dags/etl").status_code == 404


def test_a_dag_with_a_running_task_cannot_be_deleted(dags: Api) -> None:
    with dags.transaction() as session:
        run = scheduled_run(session, "etl", 1)
        finish_try(session, "etl", run.run_id, "extract", "running")
    response = dags.delete("/api/v2/dags/etl")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "DAG 'etl' has 1 task instance(s) queued or running: wait for them to "
        "finish (or mark them) before deleting it"
    }
    assert dags.get("/api/v2/dags/etl").status_code == 200
