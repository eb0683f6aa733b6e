"""What the API tells of DAGs besides the DAG itself: tasks, source, tags, run statistics,
stored versions, import errors, and the audit log (eventLogs)."""

from __future__ import annotations

import json
import uuid

import pytest
from airflow_client.client.models import (
    DAGSourceResponse,
    DagStatsCollectionResponse,
    DAGTagCollectionResponse,
    DAGVersionCollectionResponse,
    DagVersionResponse,
    EventLogCollectionResponse,
    EventLogResponse,
    ImportErrorCollectionResponse,
    ImportErrorResponse,
    TaskCollectionResponse,
    TaskResponse,
)
from api_testing import NOW, Api
from metastore_dags import etl_dag, register, scheduled_run, set_run_state

from downwind.metastore.models import ParseImportError
from downwind.sdk.dag import DAG
from downwind.sdk.serialization import serialize_dag
from downwind.security.roles import Role
from downwind.services.audit import record_action
from downwind.services.dag_registry import ParsedDag, record_parsed_file


@pytest.fixture
def etl(api: Api) -> Api:
    """The DAG ``etl`` (see metastore_dags.etl_dag) stored twice: version 2 adds a tag."""
    with api.transaction() as session:
        record_parsed_file(
            session,
            fileloc="/dags/etl.py",
            dags=[ParsedDag(serialize_dag(etl_dag()), "# version 1\n")],
            import_error=None,
            now=NOW,
            paused_at_creation=False,
        )
        record_parsed_file(
            session,
            fileloc="/dags/etl.py",
            dags=[ParsedDag(serialize_dag(etl_dag(tags=["finance"])), "# version 2\n")],
            import_error=None,
            now=NOW,
            paused_at_creation=False,
        )
    return api


# -- tasks --------------------------------------------------------------------------------


def test_tasks_of_a_dag(etl: Api) -> None:
    body = etl.get("/api/v2/dags/etl/tasks", Role.VIEWER).json()
    TaskCollectionResponse.from_dict(body)
    assert body["total_entries"] == 4
    assert [task["task_id"] for task in body["tasks"]] == ["extract", "load", "report", "transform"]
    extract = body["tasks"][0]
    assert extract["retries"] == 2
    assert extract["downstream_task_ids"] == ["report", "transform"]
    assert extract["trigger_rule"] == "all_success"
    assert extract["operator_name"] == "EmptyOperator"
    assert extract["retry_delay"] == {
        "__type": "TimeDelta",
        "days": 0,
        "seconds": 300,
        "microseconds": 0,
    }
    assert extract["execution_timeout"] is None
    assert extract["retry_exponential_backoff"] == 0
    load = body["tasks"][1]
    assert (load["pool"], load["pool_slots"], load["queue"]) == ("db", 2, "io")


def test_tasks_sorted_by_another_field(etl: Api) -> None:
    body = etl.get("/api/v2/dags/etl/tasks?order_by=-retries").json()
    assert [task["task_id"] for task in body["tasks"]][:2] == ["extract", "transform"]
    bad = etl.get("/api/v2/dags/etl/tasks?order_by=color")
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("Ordering with 'color' is disallowed")


def test_one_task(etl: Api) -> None:
    response = etl.get("/api/v2/dags/etl/tasks/load")
    assert TaskResponse.from_dict(response.json()).task_id == "load"
    missing = etl.get("/api/v2/dags/etl/tasks/lod")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "DAG 'etl' has no task 'lod'; did you mean 'load'?"}
    assert etl.get("/api/v2/dags/nope/tasks").status_code == 404


# -- sources and versions -----------------------------------------------------------------


def test_the_source_of_the_latest_or_a_given_version(etl: Api) -> None:
    latest = etl.get("/api/v2/dagSources/etl").json()
    DAGSourceResponse.from_dict(latest)
    assert latest == {
        "content": "# version 2\n",
        "dag_id": "etl",
        "dag_display_name": "etl",
        "version_number": 2,
    }
    assert etl.get("/api/v2/dagSources/etl?version_number=1").json()["content"] == "# version 1\n"
    text = etl.get("/api/v2/dagSources/etl", headers={"Accept": "text/plain"})
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text == "# version 2\n"
    missing = etl.get("/api/v2/dagSources/etl?version_number=7")
    assert (missing.status_code, missing.json()) == (
        404,
        {"detail": "DAG 'etl' has no version 7"},
    )


def test_versions_of_one_dag_or_of_all(etl: Api) -> None:
    with etl.transaction() as session:
        register(session, etl_dag("other"))
    body = etl.get("/api/v2/dags/etl/dagVersions").json()
    DAGVersionCollectionResponse.from_dict(body)
    assert [v["version_number"] for v in body["dag_versions"]] == [1, 2]
    assert body["total_entries"] == 2
    first = body["dag_versions"][0]
    assert uuid.UUID(first["id"]).int > 0 and first["bundle_name"] == "dags-folder"
    newest = etl.get("/api/v2/dags/etl/dagVersions?order_by=-version_number&limit=1").json()
    assert [v["version_number"] for v in newest["dag_versions"]] == [2]
    every = etl.get("/api/v2/dags/~/dagVersions?order_by=dag_id").json()
    assert [(v["dag_id"], v["version_number"]) for v in every["dag_versions"]] == [
        ("etl", 1),
        ("etl", 2),
        ("other", 1),
    ]
    assert etl.get("/api/v2/dags/nope/dagVersions").status_code == 404


def test_one_version(etl: Api) -> None:
    body = etl.get("/api/v2/dags/etl/dagVersions/2").json()
    assert DagVersionResponse.from_dict(body).version_number == 2
    assert etl.get("/api/v2/dags/etl/dagVersions/3").status_code == 404
    assert etl.get("/api/v2/dags/etl/dagVersions/two").status_code == 422


# -- tags and statistics ------------------------------------------------------------------


def test_tags_each_once(etl: Api) -> None:
    with etl.transaction() as session:
        register(session, etl_dag("other", tags=["finance", "hourly"]))
    body = etl.get("/api/v2/dagTags").json()
    DAGTagCollectionResponse.from_dict(body)
    assert body == {"tags": ["finance", "hourly"], "total_entries": 2}
    assert etl.get("/api/v2/dagTags?order_by=-name&limit=1").json() == {
        "tags": ["hourly"],
        "total_entries": 2,
    }
    assert etl.get("/api/v2/dagTags?tag_name_pattern=FIN").json()["tags"] == ["finance"]


def test_run_counts_per_state(etl: Api) -> None:
    with etl.transaction() as session:
        register(session, etl_dag("other"))
        set_run_state(session, scheduled_run(session, "etl", 1), "success")
        set_run_state(session, scheduled_run(session, "etl", 2), "success")
        set_run_state(session, scheduled_run(session, "etl", 3), "failed")
    body = etl.get("/api/v2/dagStats").json()
    DagStatsCollectionResponse.from_dict(body)
    assert body["total_entries"] == 2
    etl_stats, other = body["dags"]
    assert etl_stats["dag_id"] == "etl"
    assert {s["state"]: s["count"] for s in etl_stats["stats"]} == {
        "queued": 0,
        "running": 0,
        "success": 2,
        "failed": 1,
    }
    assert all(s["count"] == 0 for s in other["stats"])
    only = etl.get("/api/v2/dagStats?dag_ids=other&dag_ids=nope").json()
    assert [d["dag_id"] for d in only["dags"]] == ["other"]


# -- import errors ------------------------------------------------------------------------


def test_import_errors(api: Api) -> None:
    with api.transaction() as session:
        for name in ("b_broken.py", "a_broken.py"):
            session.add(
                ParseImportError(
                    filename=f"/dags/{name}", stacktrace="SyntaxError: oops", timestamp=NOW
                )
            )
    body = api.get("/api/v2/importErrors").json()
    ImportErrorCollectionResponse.from_dict(body)
    assert body["total_entries"] == 2
    first = body["import_errors"][0]
    assert (first["filename"], first["stack_trace"]) == ("/dags/b_broken.py", "SyntaxError: oops")
    by_name = api.get("/api/v2/importErrors?order_by=filename").json()["import_errors"]
    assert [e["filename"] for e in by_name] == ["/dags/a_broken.py", "/dags/b_broken.py"]
    matched = api.get("/api/v2/importErrors?filename_pattern=a_bro").json()["import_errors"]
    assert [e["filename"] for e in matched] == ["/dags/a_broken.py"]
    one = api.get(f"/api/v2/importErrors/{first['import_error_id']}").json()
    assert ImportErrorResponse.from_dict(one).filename == "/dags/b_broken.py"
    missing = api.get("/api/v2/importErrors/999999")
    assert missing.status_code == 404
    assert missing.json() == {
        "detail": "import error 999999 not found: its file may have loaded since"
    }


# -- the audit log ------------------------------------------------------------------------


def test_event_logs(api: Api) -> None:
    with api.transaction() as session:
        record_action(session, "trigger", owner="ada", now=NOW, dag_id="etl", run_id="r1")
        record_action(session, "pause", owner="bob", now=NOW, dag_id="etl")
        record_action(session, "variable.set", owner="ada", now=NOW, extra={"key": "region"})
    body = api.get("/api/v2/eventLogs").json()
    EventLogCollectionResponse.from_dict(body)
    assert [e["event"] for e in body["event_logs"]] == ["trigger", "pause", "variable.set"]
    assert body["event_logs"][0]["when"] == "2026-03-01T12:00:00Z"
    assert json.loads(body["event_logs"][2]["extra"]) == {"key": "region"}

    def events(query: str) -> list[str]:
        response = api.get(f"/api/v2/eventLogs?{query}")
        assert response.status_code == 200, response.text
        return [e["event"] for e in response.json()["event_logs"]]

    assert events("order_by=-id") == ["variable.set", "pause", "trigger"]
    assert events("owner=ada") == ["trigger", "variable.set"]
    assert events("dag_id=etl&event=pause") == ["pause"]
    assert events("excluded_events=pause&excluded_events=trigger") == ["variable.set"]
    assert events("included_events=pause") == ["pause"]
    assert events("event_pattern=variable") == ["variable.set"]
    assert events("run_id=r1") == ["trigger"]
    assert events("after=2026-03-01T11:00:00Z&before=2026-03-01T13:00:00Z") == [
        "trigger",
        "pause",
        "variable.set",
    ]
    assert events("before=2026-03-01T11:00:00Z") == []
    first = body["event_logs"][0]["event_log_id"]
    one = api.get(f"/api/v2/eventLogs/{first}").json()
    assert EventLogResponse.from_dict(one).event == "trigger"
    assert api.get("/api/v2/eventLogs/999999").json() == {"detail": "event log 999999 not found"}
    assert api.get("/api/v2/eventLogs?order_by=secret").status_code == 400


def test_the_same_dag_from_another_file_is_an_import_error_listed_by_file(api: Api) -> None:
    with api.transaction() as session:
        register(session, etl_dag(), fileloc="/dags/one.py")
        with DAG("etl") as copy:
            pass
        record_parsed_file(
            session,
            fileloc="/dags/two.py",
            dags=[ParsedDag(serialize_dag(copy))],
            import_error=None,
            now=NOW,
            paused_at_creation=False,
        )
    body = api.get("/api/v2/importErrors?filename=/dags/two.py").json()
    assert body["total_entries"] == 1
    assert "DuplicateDagId" in body["import_errors"][0]["stack_trace"]
