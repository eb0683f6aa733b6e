"""DAG runs through the API: trigger, list and filter (one DAG or all), batch list, get,
mark, delete, clear (dry run and real), wait.

Responses are checked against apache-airflow-client's own models, which refuse a missing
required field or a wrong JSON type.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from airflow_client.client.models import (
    DAGRunCollectionResponse,
    DAGRunResponse,
    TaskInstanceCollectionResponse,
)
from api_testing import NOW, Api
from metastore_dags import (
    START,
    etl_dag,
    finish_try,
    register,
    scheduled_run,
    set_run_state,
    states,
)
from sqlalchemy import select

from downwind.metastore.models import AuditLog, DagModel, DagRun, TaskInstance, XComModel
from downwind.security.roles import Role

RUNS = "/api/v2/dags/etl/dagRuns"


@pytest.fixture
def etl(api: Api) -> Api:
    """The DAG ``etl`` (see metastore_dags.etl_dag), no runs yet."""
    with api.transaction() as session:
        register(session, etl_dag())
    return api


@pytest.fixture
def runs(etl: Api) -> Api:
    """``etl`` with the scheduled runs of Jan 1 (success), 2 (failed: extract failed,
    the rest upstream_failed) and 3 (running), and ``other`` with one queued run."""
    with etl.transaction() as session:
        register(session, etl_dag("other"))
        first = scheduled_run(session, "etl", 1)
        set_run_state(session, first, "success")
        for task_id in ("extract", "transform", "load", "report"):
            finish_try(session, "etl", first.run_id, task_id, "success")
        second = scheduled_run(session, "etl", 2)
        set_run_state(session, second, "failed")
        finish_try(session, "etl", second.run_id, "extract", "failed")
        for task_id in ("transform", "load", "report"):
            ti = finish_try(session, "etl", second.run_id, task_id, "upstream_failed")
            ti.try_number, ti.start_date = 0, None
        set_run_state(session, scheduled_run(session, "etl", 3), "running")
        scheduled_run(session, "other", 1)
    return etl


def _run_id(day: int) -> str:
    return f"scheduled__2026-01-0{day}T00:00:00+00:00"


def _audit(api: Api) -> list[tuple[str, str | None, str | None, dict[str, object]]]:
    with api.transaction() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        return [(row.event, row.run_id, row.owner, row.extra) for row in rows]


def _run_ids(response: object) -> list[str]:
    body = response.json()  # type: ignore[attr-defined]
    assert response.status_code == 200, body  # type: ignore[attr-defined]
    DAGRunCollectionResponse.from_dict(body)
    return [run["dag_run_id"] for run in body["dag_runs"]]


# -- trigger -----------------------------------------------------------------------------


def test_trigger_creates_a_queued_run_the_client_accepts(etl: Api) -> None:
    response = etl.post(
        RUNS,
        Role.USER,
        json={
            "dag_run_id": "nightly-fix",
            "logical_date": "2026-02-01T00:00:00Z",
            "conf": {"rows": 7, "tables": ["a", "b"]},
            "note": "re-run after the fix",
        },
    )
    assert response.status_code == 200, response.text
    run = DAGRunResponse.from_dict(response.json())
    assert (run.dag_run_id, run.dag_id, run.dag_display_name) == ("nightly-fix", "etl", "etl")
    assert (run.run_type.value, run.state.value) == ("manual", "queued")
    assert run.triggered_by is not None and run.triggered_by.value == "rest_api"
    assert run.conf == {"rows": 7, "tables": ["a", "b"]}
    assert run.logical_date == START.replace(month=2)
    # @daily infers the day before the logical date as a manual run's data interval
    assert (run.data_interval_start, run.data_interval_end) == (
        START.replace(month=1, day=31),
        START.replace(month=2),
    )
    assert (run.run_after, run.queued_at) == (NOW, NOW)
    assert [version.version_number for version in run.dag_versions] == [1]
    assert (run.start_date, run.duration) == (None, None)
    assert _audit(etl) == [
        (
            "trigger",
            "nightly-fix",
            "user",
            {
                "conf": {"rows": 7, "tables": ["a", "b"]},
                "triggered_by": "rest_api",
                "client": "testclient",
                "note": "re-run after the fix",
            },
        )
    ]
    assert etl.get(f"{RUNS}/nightly-fix").json() == response.json()


def test_trigger_with_a_null_logical_date_runs_now(etl: Api) -> None:
    response = etl.post(RUNS, json={"logical_date": None})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dag_run_id"] == "manual__2026-03-01T12:00:00+00:00"
    assert body["logical_date"] == "2026-03-01T12:00:00Z"
    assert body["conf"] == {}


def test_trigger_with_a_data_interval_and_run_after(etl: Api) -> None:
    response = etl.post(
        RUNS,
        json={
            "logical_date": "2026-02-01T00:00:00Z",
            "data_interval_start": "2026-01-01T00:00:00Z",
            "data_interval_end": "2026-02-01T00:00:00Z",
            "run_after": "2026-03-02T00:00:00Z",
        },
    )
    body = response.json()
    assert (body["data_interval_start"], body["data_interval_end"]) == (
        "2026-01-01T00:00:00Z",
        "2026-02-01T00:00:00Z",
    )
    assert body["run_after"] == "2026-03-02T00:00:00Z"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"conf": [1, 2]}, 'conf must be a JSON object such as {"key": 1}, got a JSON array'),
        ({"conf": "rows=3"}, "got a JSON string"),
        ({"data_interval_start": "2026-01-01T00:00:00Z"}, "give both data_interval_start"),
    ],
)
def test_a_conf_that_is_not_an_object_is_422_saying_so(
    etl: Api, body: dict[str, object], message: str
) -> None:
    response = etl.post(RUNS, json=body)
    assert response.status_code == 422
    assert message in response.json()["detail"][0]["msg"]
    assert _audit(etl) == []


@pytest.mark.parametrize(
    ("body", "kind", "loc"),
    [
        ({"dag_run_id": "x", "priority": 1}, "extra_forbidden", ["body", "priority"]),
        ({"logical_date": "yesterday"}, "datetime_from_date_parsing", ["body", "logical_date"]),
        ({"dag_run_id": 42}, "string_type", ["body", "dag_run_id"]),
    ],
)
def test_a_malformed_trigger_body_is_422(
    etl: Api, body: dict[str, object], kind: str, loc: list[str]
) -> None:
    response = etl.post(RUNS, json=body)
    assert response.status_code == 422
    assert [(error["type"], error["loc"]) for error in response.json()["detail"]] == [(kind, loc)]


def test_a_body_that_is_not_json_is_422(etl: Api) -> None:
    response = etl.post(RUNS, content=b'{"conf": {', headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"conf": {"rows": 0}}, "rows"),
        ({"dag_run_id": "has space"}, "invalid run id 'has space'"),
        ({"partition_key": "2026-01"}, "downwind has no partitions"),
        ({"logical_date": "9999-12-31T23:59:59Z"}, "the run's dates are out of range"),
        (
            {
                "data_interval_start": "2026-02-01T00:00:00Z",
                "data_interval_end": "2026-01-01T00:00:00Z",
            },
            "data_interval_start (2026-02-01T00:00:00+00:00) is after data_interval_end",
        ),
    ],
)
def test_a_value_the_dag_refuses_is_400(etl: Api, body: dict[str, object], detail: str) -> None:
    response = etl.post(RUNS, json=body)
    assert response.status_code == 400, response.text
    assert detail in response.json()["detail"]


def test_triggering_an_unknown_dag_is_404_with_a_hint(etl: Api) -> None:
    response = etl.post("/api/v2/dags/elt/dagRuns", json={})
    assert response.status_code == 404
    assert "DAG 'elt' not found" in response.json()["detail"]
    assert "did you mean 'etl'?" in response.json()["detail"]


def test_a_taken_run_id_is_409(etl: Api) -> None:
    assert etl.post(RUNS, json={"dag_run_id": "once"}).status_code == 200
    again = etl.post(RUNS, json={"dag_run_id": "once"})
    assert again.status_code == 409
    assert again.json() == {
        "detail": "DAG 'etl' already has a run with run id 'once'; choose another run id or "
        "logical date"
    }


def test_a_dag_with_import_errors_cannot_be_triggered(etl: Api) -> None:
    with etl.transaction() as session:
        session.get(DagModel, "etl").has_import_errors = True  # type: ignore[union-attr]
    response = etl.post(RUNS, json={})
    assert response.status_code == 400
    assert response.json()["detail"].startswith(
        "DAG with dag_id: 'etl' has import errors and cannot be triggered"
    )


# -- list --------------------------------------------------------------------------------


def test_list_has_every_field_the_client_requires(runs: Api) -> None:
    body = runs.get(RUNS).json()
    collection = DAGRunCollectionResponse.from_dict(body)
    assert collection.total_entries == 3
    first = body["dag_runs"][0]
    assert first["dag_run_id"] == _run_id(1)
    assert (first["state"], first["run_type"], first["triggered_by"]) == (
        "success",
        "scheduled",
        "timetable",
    )
    assert first["duration"] == 60.0
    assert first["data_interval_start"] == "2026-01-01T00:00:00Z"
    assert first["dag_versions"][0]["dag_id"] == "etl"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("state=failed&state=running", [2, 3]),
        ("run_type=manual", []),
        ("logical_date_gte=2026-01-02T00:00:00Z", [2, 3]),
        ("logical_date_gt=2026-01-02T00:00:00Z", [3]),
        ("logical_date_lte=2026-01-02T00:00:00", [1, 2]),
        ("logical_date_lt=2026-01-02T00:00:00Z&logical_date_gte=2026-01-01T00:00:00Z", [1]),
        ("end_date_gte=2026-03-01T12:00:00Z", [1, 2]),
        ("start_date_lte=2026-03-01T11:00:00Z", []),
        ("duration_gte=60", [1, 2]),
        ("run_id_pattern=01-03", [3]),
        ("run_id_prefix_pattern=scheduled__2026-01-0", [1, 2, 3]),
        ("order_by=-logical_date", [3, 2, 1]),
        ("order_by=state&order_by=-id", [2, 3, 1]),
        ("order_by=-dag_run_id&limit=2", [3, 2]),
        ("limit=1&offset=1", [2]),
    ],
)
def test_filters_sorting_and_pages(runs: Api, query: str, expected: list[int]) -> None:
    assert _run_ids(runs.get(f"{RUNS}?{query}")) == [_run_id(day) for day in expected]


def test_the_total_counts_every_match_not_only_the_page(runs: Api) -> None:
    body = runs.get(f"{RUNS}?limit=1").json()
    assert (len(body["dag_runs"]), body["total_entries"]) == (1, 3)


def test_a_tilde_lists_the_runs_of_every_dag(runs: Api) -> None:
    body = runs.get("/api/v2/dags/~/dagRuns?order_by=dag_id&order_by=id").json()
    assert [(run["dag_id"], run["dag_run_id"]) for run in body["dag_runs"]] == [
        ("etl", _run_id(1)),
        ("etl", _run_id(2)),
        ("etl", _run_id(3)),
        ("other", _run_id(1)),
    ]
    only = runs.get("/api/v2/dags/~/dagRuns?dag_id_pattern=oth").json()
    assert [run["dag_id"] for run in only["dag_runs"]] == ["other"]


def test_conf_contains_matches_the_conf_text(etl: Api) -> None:
    etl.post(RUNS, json={"dag_run_id": "a", "conf": {"table": "orders"}})
    etl.post(RUNS, json={"dag_run_id": "b", "conf": {"table": "users"}})
    assert _run_ids(etl.get(f"{RUNS}?conf_contains=orders")) == ["a"]


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("state=done", "Invalid value for state: 'done'. Valid values are queued, running"),
        ("run_type=adhoc", "Invalid value for run type: 'adhoc'. Valid values are scheduled"),
        ("order_by=colour", "Ordering with 'colour' is disallowed"),
    ],
)
def test_a_bad_filter_value_is_400(runs: Api, query: str, detail: str) -> None:
    response = runs.get(f"{RUNS}?{query}")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)


def test_a_malformed_date_filter_is_422(runs: Api) -> None:
    response = runs.get(f"{RUNS}?logical_date_gte=soon")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "logical_date_gte"]


def test_listing_the_runs_of_an_unknown_dag_is_404(runs: Api) -> None:
    assert runs.get("/api/v2/dags/nope/dagRuns").status_code == 404


def test_batch_list_across_dags(runs: Api) -> None:
    response = runs.post(
        "/api/v2/dags/~/dagRuns/list",
        Role.VIEWER,
        json={
            "dag_ids": ["etl", "other"],
            "states": ["queued", "running"],
            "order_by": "-dag_id",
            "page_limit": 10,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    DAGRunCollectionResponse.from_dict(body)
    assert [(run["dag_id"], run["state"]) for run in body["dag_runs"]] == [
        ("other", "queued"),
        ("etl", "running"),
    ]
    paged = runs.post(
        "/api/v2/dags/~/dagRuns/list",
        json={"logical_date_gte": "2026-01-01T00:00:00Z", "page_limit": 1, "page_offset": 1},
    ).json()
    assert (len(paged["dag_runs"]), paged["total_entries"]) == (1, 4)


def test_batch_list_needs_the_tilde(runs: Api) -> None:
    response = runs.post(f"{RUNS}/list", json={})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "dag_id"]


# -- get, mark, delete -------------------------------------------------------------------


def test_get_one_and_unknown_ones(runs: Api) -> None:
    run = DAGRunResponse.from_dict(runs.get(f"{RUNS}/{_run_id(2)}", Role.VIEWER).json())
    assert run.state.value == "failed"
    missing = runs.get(f"{RUNS}/nope")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "DAG 'etl' has no run 'nope'"}
    assert runs.get(f"/api/v2/dags/nope/dagRuns/{_run_id(1)}").status_code == 404


def test_marking_a_run_success_marks_its_unfinished_tasks(runs: Api) -> None:
    response = runs.patch(f"{RUNS}/{_run_id(2)}", Role.USER, json={"state": "success"})
    assert response.status_code == 200, response.text
    run = DAGRunResponse.from_dict(response.json())
    assert (run.state.value, run.end_date) == ("success", NOW)
    with runs.transaction() as session:
        assert set(states(session, "etl", _run_id(2)).values()) == {"success"}
    assert _audit(runs) == [
        (
            "dag_run.mark_success",
            _run_id(2),
            "user",
            {"state": "success", "previous_state": "failed", "client": "testclient"},
        )
    ]


def test_marking_a_run_queued_hands_it_back_to_the_scheduler(runs: Api) -> None:
    response = runs.patch(
        f"{RUNS}/{_run_id(1)}?update_mask=state", json={"state": "queued", "note": "ignored"}
    )
    body = response.json()
    assert (body["state"], body["start_date"], body["end_date"]) == ("queued", None, None)
    with runs.transaction() as session:
        assert set(states(session, "etl", _run_id(1)).values()) == {"success"}


def test_a_note_alone_is_refused_rather_than_lost(runs: Api) -> None:
    response = runs.patch(f"{RUNS}/{_run_id(1)}", json={"note": "checked"})
    assert response.status_code == 400
    assert "does not store notes on DAG runs" in response.json()["detail"]


def test_an_empty_patch_changes_nothing(runs: Api) -> None:
    response = runs.patch(f"{RUNS}/{_run_id(1)}", json={})
    assert response.json()["state"] == "success"
    assert _audit(runs) == []


@pytest.mark.parametrize("state", ["running", "done", None])
def test_a_bad_state_is_422(runs: Api, state: str | None) -> None:
    body = {"state": state} if state else {"state": 3}
    response = runs.patch(f"{RUNS}/{_run_id(1)}", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "state"]


def test_a_run_with_a_running_task_cannot_be_marked(runs: Api) -> None:
    with runs.transaction() as session:
        finish_try(session, "etl", _run_id(3), "extract", "running")
    response = runs.patch(f"{RUNS}/{_run_id(3)}", json={"state": "failed"})
    assert response.status_code == 409
    assert "task extract is running" in response.json()["detail"]


def test_marking_an_unknown_run_is_404(runs: Api) -> None:
    assert runs.patch(f"{RUNS}/nope", json={"state": "success"}).status_code == 404


def test_delete_removes_the_run_and_its_task_instances(runs: Api) -> None:
    with runs.transaction() as session:
        session.add(
            XComModel(
                dag_id="etl",
                run_id=_run_id(1),
                task_id="extract",
                key="rows",
                value="3",
                timestamp=NOW,
            )
        )
    response = runs.delete(f"{RUNS}/{_run_id(1)}", Role.USER)
    assert response.status_code == 204
    assert response.content == b""
    assert runs.get(f"{RUNS}/{_run_id(1)}").status_code == 404
    with runs.transaction() as session:
        left = session.scalars(
            select(TaskInstance.task_id).where(
                TaskInstance.dag_id == "etl", TaskInstance.run_id == _run_id(1)
            )
        ).all()
        assert left == []
        assert session.scalars(select(XComModel.key)).all() == []
        assert session.scalar(select(DagRun.run_id).where(DagRun.dag_id == "other")) is not None
    assert _audit(runs) == [("dag_run.delete", _run_id(1), "user", {"client": "testclient"})]
    assert runs.delete(f"{RUNS}/{_run_id(1)}").status_code == 404


def test_a_run_with_a_queued_task_cannot_be_deleted(runs: Api) -> None:
    with runs.transaction() as session:
        finish_try(session, "etl", _run_id(3), "extract", "queued")
    response = runs.delete(f"{RUNS}/{_run_id(3)}")
    assert response.status_code == 409
    assert response.json()["detail"].startswith(
        f"cannot delete run '{_run_id(3)}' of DAG 'etl': task(s) extract queued or running"
    )


# -- clear -------------------------------------------------------------------------------


def test_clear_is_a_dry_run_by_default(runs: Api) -> None:
    response = runs.post(f"{RUNS}/{_run_id(2)}/clear", json={"only_failed": True})
    assert response.status_code == 200, response.text
    body = response.json()
    TaskInstanceCollectionResponse.from_dict(body)
    task_ids = [ti["task_id"] for ti in body["task_instances"]]
    assert task_ids[0] == "extract", "upstream tasks first"
    assert sorted(task_ids) == ["extract", "load", "report", "transform"]
    assert body["total_entries"] == 4
    with runs.transaction() as session:
        assert states(session, "etl", _run_id(2))["extract"] == "failed"
    assert _audit(runs) == []


def test_clear_for_real_requeues_the_run(runs: Api) -> None:
    response = runs.post(f"{RUNS}/{_run_id(1)}/clear", Role.USER, json={"dry_run": False})
    assert response.status_code == 200, response.text
    run = DAGRunResponse.from_dict(response.json())
    assert (run.state.value, run.end_date) == ("queued", None)
    with runs.transaction() as session:
        assert set(states(session, "etl", _run_id(1)).values()) == {None}
        extract = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == "etl",
                TaskInstance.run_id == _run_id(1),
                TaskInstance.task_id == "extract",
            )
        ).one()
        assert (extract.try_number, extract.max_tries) == (1, 3)
    assert [(event, owner) for event, _, owner, _ in _audit(runs)] == [("clear", "user")]


def test_clear_only_failed(runs: Api) -> None:
    body = {"dry_run": False, "only_failed": True}
    assert runs.post(f"{RUNS}/{_run_id(1)}/clear", json=body).status_code == 200
    with runs.transaction() as session:
        assert set(states(session, "etl", _run_id(1)).values()) == {"success"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"dry_run": "no"}, 422),
        ({"only_new": True}, 400),
        ({"run_on_latest_version": True}, 400),
        ({"reset": True}, 422),
    ],
)
def test_clear_refuses_what_it_does_not_support(
    runs: Api, body: dict[str, object], status: int
) -> None:
    assert runs.post(f"{RUNS}/{_run_id(1)}/clear", json=body).status_code == status


def test_clearing_an_unknown_run_is_404(runs: Api) -> None:
    assert runs.post(f"{RUNS}/nope/clear", json={}).status_code == 404


# -- wait --------------------------------------------------------------------------------


def test_wait_streams_the_state_of_a_finished_run_with_results(runs: Api) -> None:
    with runs.transaction() as session:
        session.add(
            XComModel(
                dag_id="etl",
                run_id=_run_id(1),
                task_id="load",
                key="return_value",
                value='{"__dw__":"datetime","v":"2026-01-01T00:00:00+00:00"}',
                timestamp=NOW,
            )
        )
    response = runs.get(f"{RUNS}/{_run_id(1)}/wait?interval=0.1&result=load&result=report")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines == [{"state": "success", "results": {"load": "2026-01-01T00:00:00+00:00"}}]


def test_wait_needs_a_positive_interval_and_a_known_run(runs: Api) -> None:
    assert runs.get(f"{RUNS}/{_run_id(1)}/wait").status_code == 422
    assert runs.get(f"{RUNS}/{_run_id(1)}/wait?interval=0").status_code == 422
    assert runs.get(f"{RUNS}/nope/wait?interval=1").status_code == 404


def test_run_dates_are_utc(runs: Api) -> None:
    body = runs.get(f"{RUNS}/{_run_id(1)}").json()
    assert body["end_date"] == (NOW + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
