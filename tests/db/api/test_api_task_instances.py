"""Task instances through the API: list and filter (one run, or all with ``~``), batch
list, get, the history of tries, mark (with relatives, dry run, the cascade that resumes
failed downstream tasks), and ``clearTaskInstances``.

Responses are checked against apache-airflow-client's own models, which refuse a missing
required field or a wrong JSON type.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from airflow_client.client.models import (
    TaskDependencyCollectionResponse,
    TaskInstanceCollectionResponse,
    TaskInstanceHistoryCollectionResponse,
    TaskInstanceHistoryResponse,
    TaskInstanceResponse,
)
from api_testing import NOW, Api
from metastore_dags import (
    etl_dag,
    finish_try,
    register,
    scheduled_run,
    set_run_state,
    states,
    task_instance,
)
from sqlalchemy import select

from downwind.metastore.models import AuditLog, DagModel, DagRun
from downwind.security.roles import Role
from downwind.services.history import archive_try, reset_try_fields

DAY1 = "scheduled__2026-01-01T00:00:00+00:00"
DAY2 = "scheduled__2026-01-02T00:00:00+00:00"
TIS = f"/api/v2/dags/etl/dagRuns/{DAY2}/taskInstances"


@pytest.fixture
def runs(api: Api) -> Api:
    """``etl`` with the run of Jan 1 (all success) and of Jan 2 (failed: ``extract``
    failed on its second try, the rest upstream_failed); ``other`` with one run, no
    state yet."""
    with api.transaction() as session:
        register(session, etl_dag())
        register(session, etl_dag("other"))
        first = scheduled_run(session, "etl", 1)
        set_run_state(session, first, "success")
        for task_id in ("extract", "transform", "load", "report"):
            finish_try(session, "etl", DAY1, task_id, "success")
        second = scheduled_run(session, "etl", 2)
        set_run_state(session, second, "failed")
        first_try = finish_try(session, "etl", DAY2, "extract", "up_for_retry")
        archive_try(session, first_try)
        reset_try_fields(first_try)
        finish_try(
            session, "etl", DAY2, "extract", "failed", try_number=2, started=NOW + timedelta(1)
        )
        for task_id in ("transform", "load", "report"):
            task_instance(session, "etl", DAY2, task_id).state = "upstream_failed"
        scheduled_run(session, "other", 1)
    return api


def _task_ids(response: object) -> list[str]:
    body = response.json()  # type: ignore[attr-defined]
    assert response.status_code == 200, body  # type: ignore[attr-defined]
    TaskInstanceCollectionResponse.from_dict(body)
    return [ti["task_id"] for ti in body["task_instances"]]


def _audit(api: Api) -> list[tuple[str, str | None, str | None, dict[str, object]]]:
    with api.transaction() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        return [(row.event, row.run_id, row.task_id, row.extra) for row in rows]


# -- list and get --------------------------------------------------------------------------


def test_list_has_every_field_the_client_requires(runs: Api) -> None:
    body = runs.get(f"{TIS}?order_by=task_id", Role.VIEWER).json()
    collection = TaskInstanceCollectionResponse.from_dict(body)
    assert collection.total_entries == 4
    extract, load, _, _ = body["task_instances"]
    with runs.transaction() as session:
        assert extract["id"] == task_instance(session, "etl", DAY2, "extract").id
    assert (extract["state"], extract["try_number"], extract["max_tries"]) == ("failed", 2, 2)
    assert (extract["dag_run_id"], extract["map_index"]) == (DAY2, -1)
    assert extract["logical_date"] == "2026-01-02T00:00:00Z"
    assert extract["run_after"] == "2026-01-03T00:00:00Z"
    assert extract["executor_config"] == "{}"
    assert extract["rendered_fields"] == {"bash_command": "echo hi"}
    assert (extract["operator"], extract["operator_name"]) == ("EmptyOperator", "EmptyOperator")
    assert (extract["task_display_name"], extract["dag_display_name"]) == ("extract", "etl")
    assert (extract["hostname"], extract["pid"], extract["duration"]) == ("worker-1", 4242, 3.0)
    assert extract["dag_version"]["version_number"] == 1
    assert (load["pool"], load["pool_slots"], load["queue"]) == ("db", 2, "io")
    assert (load["state"], load["rendered_fields"], load["start_date"]) == (
        "upstream_failed",
        {},
        None,
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("task_id=load", ["load"]),
        (
            "state=failed&state=upstream_failed&order_by=-task_id",
            ["transform", "report", "load", "extract"],
        ),
        ("state=failed", ["extract"]),
        ("pool=db", ["load"]),
        ("queue=io", ["load"]),
        ("try_number=2", ["extract"]),
        ("duration_gte=3", ["extract"]),
        ("start_date_gt=2026-03-01T12:00:00Z", ["extract"]),
        ("operator=EmptyOperator&limit=2", ["extract", "load"]),
        ("task_display_name_pattern=RAN|por", ["report", "transform"]),
        ("order_by=-try_number&order_by=task_id&limit=1&offset=1", ["load"]),
        ("executor=LocalExecutor", []),
    ],
)
def test_filters_sorting_and_pages(runs: Api, query: str, expected: list[str]) -> None:
    url = f"{TIS}?{query}" + ("" if "order_by" in query else "&order_by=task_id")
    assert _task_ids(runs.get(url)) == expected


def test_state_none_finds_task_instances_without_a_state(runs: Api) -> None:
    body = runs.get("/api/v2/dags/~/dagRuns/~/taskInstances?state=none&order_by=task_id").json()
    assert [(ti["dag_id"], ti["state"]) for ti in body["task_instances"]] == [("other", None)] * 4


def test_tildes_list_across_runs_and_dags(runs: Api) -> None:
    everything = runs.get("/api/v2/dags/~/dagRuns/~/taskInstances?limit=100").json()
    assert everything["total_entries"] == 12
    extract = runs.get(
        "/api/v2/dags/etl/dagRuns/~/taskInstances?task_id=extract&order_by=-logical_date"
    ).json()
    assert [ti["dag_run_id"] for ti in extract["task_instances"]] == [DAY2, DAY1]
    ranged = runs.get(
        "/api/v2/dags/~/dagRuns/~/taskInstances?task_id=load&logical_date_lt=2026-01-02T00:00:00Z"
        "&order_by=dag_id"
    ).json()
    assert [(ti["dag_id"], ti["dag_run_id"]) for ti in ranged["task_instances"]] == [
        ("etl", DAY1),
        ("other", DAY1),
    ]


@pytest.mark.parametrize(
    ("url", "status", "detail"),
    [
        (f"{TIS}?state=finished", 400, "Invalid value for state: 'finished'. Valid values are"),
        (f"{TIS}?order_by=colour", 400, "Ordering with 'colour' is disallowed"),
        ("/api/v2/dags/nope/dagRuns/~/taskInstances", 404, "DAG 'nope' not found"),
        ("/api/v2/dags/etl/dagRuns/nope/taskInstances", 404, "DAG 'etl' has no run 'nope'"),
        (f"{TIS}/nope", 404, f"run '{DAY2}' of DAG 'etl' has no task 'nope'"),
        (f"{TIS}/load/0", 404, "has no task 'load' with map index 0"),
        (f"{TIS}/extract/tries/3", 404, "has no try 3: its tries are 1, 2"),
    ],
)
def test_bad_requests_say_what_is_wrong(runs: Api, url: str, status: int, detail: str) -> None:
    response = runs.get(url)
    assert response.status_code == status
    assert detail in response.json()["detail"]


def test_get_one_by_task_id_or_by_map_index(runs: Api) -> None:
    one = runs.get(f"{TIS}/extract").json()
    ti = TaskInstanceResponse.from_dict(one)
    assert isinstance(ti.id, uuid.UUID) and ti.state is not None and ti.state.value == "failed"
    assert runs.get(f"{TIS}/extract/-1").json() == one


def test_tries_list_every_try_first_to_last(runs: Api) -> None:
    body = runs.get(f"{TIS}/extract/tries").json()
    history = TaskInstanceHistoryCollectionResponse.from_dict(body)
    assert history.total_entries == 2
    assert [(t["try_number"], t["state"]) for t in body["task_instances"]] == [
        (1, "up_for_retry"),
        (2, "failed"),
    ]
    first = TaskInstanceHistoryResponse.from_dict(runs.get(f"{TIS}/extract/tries/1").json())
    assert (first.try_number, first.hostname, first.duration) == (1, "worker-1", 3.0)
    assert runs.get(f"{TIS}/extract/-1/tries").json() == body
    assert runs.get(f"{TIS}/extract/-1/tries/2").json()["state"] == "failed"
    assert runs.get(f"{TIS}/load/tries").json() == {"task_instances": [], "total_entries": 0}


def test_batch_list(runs: Api) -> None:
    response = runs.post(
        "/api/v2/dags/~/dagRuns/~/taskInstances/list",
        Role.VIEWER,
        json={
            "dag_ids": ["etl", "other"],
            "state": [None, "failed"],
            "order_by": "-dag_id",
            "page_limit": 2,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    TaskInstanceCollectionResponse.from_dict(body)
    assert body["total_entries"] == 5
    assert [ti["dag_id"] for ti in body["task_instances"]] == ["other", "other"]
    by_run = runs.post(
        "/api/v2/dags/~/dagRuns/~/taskInstances/list",
        json={"dag_run_ids": [DAY2], "task_ids": ["extract"], "duration_lte": 3},
    ).json()
    assert [(ti["dag_id"], ti["task_id"]) for ti in by_run["task_instances"]] == [
        ("etl", "extract")
    ]
    assert runs.post(f"{TIS}/list", json={}).status_code == 422


def test_dependencies_say_why_a_task_instance_waits(runs: Api) -> None:
    other = f"/api/v2/dags/other/dagRuns/{DAY1}/taskInstances"
    with runs.transaction() as session:
        session.get(DagModel, "other").is_paused = True  # type: ignore[union-attr]
    body = runs.get(f"{other}/transform/dependencies", Role.VIEWER).json()
    TaskDependencyCollectionResponse.from_dict(body)
    assert body == {
        "dependencies": [
            {"name": "Dag Not Paused", "reason": "Task's DAG 'other' is paused."},
            {
                "name": "Dagrun Running",
                "reason": "Task instance's dagrun was not in the 'running' state but in the "
                "state 'queued'.",
            },
            {
                "name": "Trigger Rule",
                "reason": "Task's trigger rule 'all_success' waits for its upstream tasks: "
                "0 of 1 finished; not yet: extract",
            },
        ]
    }
    roots = runs.get(f"{other}/extract/-1/dependencies").json()["dependencies"]
    assert [dep["name"] for dep in roots] == ["Dag Not Paused", "Dagrun Running"]
    finished = runs.get(f"{TIS}/transform/dependencies").json()
    assert finished == {"dependencies": []}, "upstream_failed: past waiting"
    assert runs.get(f"{TIS}/nope/dependencies").status_code == 404


# -- mark ----------------------------------------------------------------------------------


def test_marking_success_resumes_the_failed_downstream_tasks(runs: Api) -> None:
    response = runs.patch(f"{TIS}/extract", Role.USER, json={"new_state": "success"})
    assert response.status_code == 200, response.text
    body = response.json()
    TaskInstanceCollectionResponse.from_dict(body)
    assert [(ti["task_id"], ti["state"]) for ti in body["task_instances"]] == [
        ("extract", "success")
    ]
    with runs.transaction() as session:
        assert states(session, "etl", DAY2) == {
            "extract": "success",
            "transform": None,
            "load": None,
            "report": None,
        }
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == "etl", DagRun.run_id == DAY2)
        ).one()
        assert run.state == "queued", "cleared, so that the scheduler runs the rest"
    events = _audit(runs)
    assert events[0] == (
        "task_instance.mark_success",
        DAY2,
        "extract",
        {"state": "success", "previous_state": "failed", "client": "testclient"},
    )
    assert [event for event, *_ in events[1:]] == ["clear"]


def test_marking_with_downstream_marks_them_too(runs: Api) -> None:
    response = runs.patch(
        f"{TIS}/extract", json={"new_state": "success", "include_downstream": True}
    )
    assert sorted(_task_ids(response)) == ["extract", "load", "report", "transform"]
    with runs.transaction() as session:
        assert set(states(session, "etl", DAY2).values()) == {"success"}
    assert [event for event, *_ in _audit(runs)] == ["task_instance.mark_success"] * 4


def test_marking_with_upstream_and_past(runs: Api) -> None:
    response = runs.patch(
        f"{TIS}/transform",
        json={"new_state": "failed", "include_upstream": True, "include_past": True},
    )
    changed = [(ti["dag_run_id"], ti["task_id"]) for ti in response.json()["task_instances"]]
    assert changed == [
        (DAY1, "extract"),
        (DAY1, "transform"),
        (DAY2, "transform"),
    ]


def test_a_dry_run_lists_what_would_change_and_changes_nothing(runs: Api) -> None:
    response = runs.patch(
        f"{TIS}/transform/dry_run", json={"new_state": "skipped", "include_downstream": True}
    )
    assert _task_ids(response) == ["transform", "load"]
    assert [ti["state"] for ti in response.json()["task_instances"]] == ["upstream_failed"] * 2
    by_index = runs.patch(f"{TIS}/transform/-1/dry_run", json={"new_state": "skipped"})
    assert _task_ids(by_index) == ["transform"]
    with runs.transaction() as session:
        assert states(session, "etl", DAY2)["transform"] == "upstream_failed"
    assert _audit(runs) == []


def test_marking_by_map_index(runs: Api) -> None:
    response = runs.patch(f"{TIS}/report/-1", json={"new_state": "skipped"})
    assert _task_ids(response) == ["report"]
    assert runs.patch(f"{TIS}/report/3", json={"new_state": "skipped"}).status_code == 404


def test_marking_the_state_it_has_is_409(runs: Api) -> None:
    response = runs.patch(f"{TIS}/extract", json={"new_state": "failed"})
    assert response.status_code == 409
    assert response.json() == {"detail": "Task id extract is already in failed state"}


def test_a_running_task_instance_cannot_be_marked(runs: Api) -> None:
    with runs.transaction() as session:
        finish_try(session, "etl", DAY1, "load", "running", try_number=2)
    response = runs.patch(
        f"/api/v2/dags/etl/dagRuns/{DAY1}/taskInstances/transform",
        json={"new_state": "failed", "include_downstream": True},
    )
    assert response.status_code == 409
    assert "cannot mark load (run scheduled__2026-01-01" in response.json()["detail"]
    with runs.transaction() as session:
        assert states(session, "etl", DAY1)["transform"] == "success", "nothing changed"


@pytest.mark.parametrize(
    "body",
    [{"new_state": "running"}, {"new_state": "none"}, {"new_state": "success", "force": True}],
)
def test_a_bad_mark_body_is_422(runs: Api, body: dict[str, object]) -> None:
    response = runs.patch(f"{TIS}/extract", json=body)
    assert response.status_code == 422
    assert _audit(runs) == []


def test_a_note_alone_is_refused_rather_than_lost(runs: Api) -> None:
    refused = runs.patch(f"{TIS}/extract", json={"note": "flaky source"})
    assert refused.status_code == 400
    assert "does not store notes on task instances" in refused.json()["detail"]
    preview = runs.patch(f"{TIS}/extract/dry_run", json={"note": "flaky source"})
    assert _task_ids(preview) == ["extract"]


def test_update_mask_limits_what_changes(runs: Api) -> None:
    response = runs.patch(
        f"{TIS}/extract?update_mask=note", json={"new_state": "success", "note": None}
    )
    assert _task_ids(response) == ["extract"]
    with runs.transaction() as session:
        assert states(session, "etl", DAY2)["extract"] == "failed"


def test_marking_an_unknown_task_instance_is_404(runs: Api) -> None:
    response = runs.patch(f"{TIS}/nope", json={"new_state": "success"})
    assert response.status_code == 404


# -- clearTaskInstances --------------------------------------------------------------------

CLEAR = "/api/v2/dags/etl/clearTaskInstances"


def test_clear_is_a_dry_run_of_the_failed_ones_by_default(runs: Api) -> None:
    response = runs.post(CLEAR, json={})
    assert response.status_code == 200, response.text
    assert sorted(_task_ids(response)) == ["extract", "load", "report", "transform"]
    assert {ti["dag_run_id"] for ti in response.json()["task_instances"]} == {DAY2}
    with runs.transaction() as session:
        assert states(session, "etl", DAY2)["extract"] == "failed"
    assert _audit(runs) == []


def test_clear_a_task_and_its_downstream_in_one_run(runs: Api) -> None:
    response = runs.post(
        CLEAR,
        Role.USER,
        json={
            "dry_run": False,
            "dag_run_id": DAY1,
            "task_ids": ["transform"],
            "include_downstream": True,
            "only_failed": False,
            "note": "bad data",
        },
    )
    assert _task_ids(response) == ["transform", "load"]
    assert [ti["state"] for ti in response.json()["task_instances"]] == [None, None]
    with runs.transaction() as session:
        assert states(session, "etl", DAY1) == {
            "extract": "success",
            "transform": None,
            "load": None,
            "report": "success",
        }
    (event,) = _audit(runs)
    assert event[:2] == ("clear", DAY1)
    assert event[3]["task_ids"] == ["load", "transform"]
    assert (event[3]["client"], event[3]["note"]) == ("testclient", "bad data")


def test_clear_by_date_range_and_task_pairs(runs: Api) -> None:
    response = runs.post(
        CLEAR,
        json={
            "only_failed": False,
            "start_date": "2026-01-01T00:00:00Z",
            "end_date": "2026-01-01T23:00:00Z",
            "task_ids": [["report", -1]],
        },
    )
    tis = response.json()["task_instances"]
    assert [(ti["dag_run_id"], ti["task_id"]) for ti in tis] == [(DAY1, "report")]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"task_ids": ["nope"]}, 404, "DAG 'etl' has no task 'nope'"),
        ({"dag_run_id": "nope"}, 404, "DAG 'etl' has no run 'nope'"),
        ({"dag_run_id": DAY1, "include_past": True}, 400, "Cannot use include_past"),
        ({"only_running": True}, 400, "only_running is not supported"),
        ({"reset_dag_runs": False}, 400, "reset_dag_runs=false is not supported"),
        ({"task_ids": [["load", 2]]}, 400, "downwind has no mapped task instances yet"),
        ({"dry_run": "false"}, 422, None),
        ({"dag_id": "etl"}, 422, None),
    ],
)
def test_clear_refuses_bad_requests(
    runs: Api, body: dict[str, object], status: int, detail: str | None
) -> None:
    response = runs.post(CLEAR, json=body)
    assert response.status_code == status, response.text
    if detail is not None:
        assert detail in response.json()["detail"]


def test_clear_refuses_a_running_task_instance(runs: Api) -> None:
    with runs.transaction() as session:
        finish_try(session, "etl", DAY1, "load", "running", try_number=2)
    response = runs.post(CLEAR, json={"dry_run": False, "dag_run_id": DAY1, "only_failed": False})
    assert response.status_code == 409
    assert "load (run scheduled__2026-01-01T00:00:00+00:00) is running" in response.text


def test_clearing_an_unknown_dag_is_404(runs: Api) -> None:
    assert runs.post("/api/v2/dags/nope/clearTaskInstances", json={}).status_code == 404
