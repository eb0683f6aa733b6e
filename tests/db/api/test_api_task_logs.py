"""Task logs through the API: structured JSON, text and NDJSON; continuation tokens to
read a running try's log as it grows, or a long log a page at a time; tokens that were
tampered with or belong to another log; missing tries and files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow_client.client.models import TaskInstancesLogResponse
from api_testing import Api
from metastore_dags import etl_dag, finish_try, register, scheduled_run

from downwind.api.routes.task_logs import PAGE_BYTES
from downwind.runner.log_paths import task_log_path
from downwind.runtime.client import TaskInstanceKey
from downwind.security.roles import Role

RUN = "scheduled__2026-01-01T00:00:00+00:00"
LOGS = f"/api/v2/dags/etl/dagRuns/{RUN}/taskInstances"
LINES = [
    "[2026-03-01T12:00:00.125Z] {downwind.task} INFO - Running extract",
    "[2026-03-01T12:00:01.000Z] {downwind.task} ERROR - Task failed: boom",
    "Traceback (most recent call last):",
    '  File "dag.py", line 3, in extract',
    "",
    "[2026-03-01T12:00:01.500Z] {downwind.task} INFO - Marking task as FAILED: é ✓",
]


@pytest.fixture
def logs(api: Api) -> Api:
    """``etl``'s run of Jan 1: ``extract`` failed (its log holds :data:`LINES`),
    ``transform`` running, ``load`` queued (no log yet), ``report`` succeeded (its log
    file is gone)."""
    with api.transaction() as session:
        register(session, etl_dag())
        scheduled_run(session, "etl", 1)
        finish_try(session, "etl", RUN, "extract", "failed")
        finish_try(session, "etl", RUN, "transform", "running")
        load = finish_try(session, "etl", RUN, "load", "queued")
        load.start_date = None
        finish_try(session, "etl", RUN, "report", "success")
    _write(api, "extract", "\n".join(LINES) + "\n")
    _write(api, "transform", "")
    return api


def _path(api: Api, task_id: str, try_number: int = 1) -> Path:
    key = TaskInstanceKey("etl", RUN, task_id)
    return task_log_path(api.conf.logging.base_log_folder, key, try_number)


def _write(api: Api, task_id: str, text: str, mode: str = "w") -> None:
    path = _path(api, task_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode, encoding="utf-8") as file:
        file.write(text)


def _get(api: Api, url: str, role: Role = Role.VIEWER, **kwargs: object) -> dict[str, object]:
    response = api.get(url, role, **kwargs)
    assert response.status_code == 200, response.text
    body = response.json()
    TaskInstancesLogResponse.from_dict(body)
    return body


def test_a_finished_try_comes_whole_as_structured_messages(logs: Api) -> None:
    body = _get(logs, f"{LOGS}/extract/logs/1")
    assert body["continuation_token"] is None
    assert body["content"] == [
        {
            "timestamp": "2026-03-01T12:00:00.125000Z",
            "event": "Running extract",
            "level": "info",
            "logger": "downwind.task",
        },
        {
            "timestamp": "2026-03-01T12:00:01Z",
            "event": "Task failed: boom",
            "level": "error",
            "logger": "downwind.task",
        },
        {"timestamp": None, "event": "Traceback (most recent call last):"},
        {"timestamp": None, "event": '  File "dag.py", line 3, in extract'},
        {"timestamp": None, "event": ""},
        {
            "timestamp": "2026-03-01T12:00:01.500000Z",
            "event": "Marking task as FAILED: é ✓",
            "level": "info",
            "logger": "downwind.task",
        },
    ]


def test_text_and_ndjson(logs: Api) -> None:
    text = logs.get(f"{LOGS}/extract/logs/1", headers={"Accept": "text/plain"})
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text == "\n".join(LINES) + "\n"
    assert "Airflow-Continuation-Token" not in text.headers
    ndjson = logs.get(f"{LOGS}/extract/logs/1", headers={"Accept": "application/x-ndjson"})
    assert ndjson.headers["content-type"].startswith("application/x-ndjson")
    events = [json.loads(line)["event"] for line in ndjson.text.splitlines()]
    assert events[0] == "Running extract" and len(events) == len(LINES)


def test_a_running_try_is_tailed_with_continuation_tokens(logs: Api) -> None:
    url = f"{LOGS}/transform/logs/1"
    empty = _get(logs, url)
    assert empty["content"] == []
    token = empty["continuation_token"]
    assert isinstance(token, str)

    _write(logs, "transform", "[2026-03-01T12:00:00.000Z] {downwind.task} INFO - one\npar", "a")
    first = _get(logs, url, params={"token": token})
    assert [m["event"] for m in first["content"]] == ["one"], "the unfinished line waits"

    _write(logs, "transform", "tial line\n[2026-03-01T12:00:02.000Z] {x} WARNING - two\n", "a")
    second = _get(logs, url, params={"token": first["continuation_token"]})
    assert [m["event"] for m in second["content"]] == ["partial line", "two"]

    third = _get(logs, url, params={"token": second["continuation_token"]})
    assert third["content"] == [] and third["continuation_token"], "still running: come back"

    with logs.transaction() as session:
        finish_try(session, "etl", RUN, "transform", "success")
    _write(logs, "transform", "last words", "a")
    last = _get(logs, url, params={"token": third["continuation_token"]})
    assert [m["event"] for m in last["content"]] == ["last words"]
    assert last["continuation_token"] is None, "the try ended and its log is read"


def test_a_queued_try_without_a_log_yet_answers_empty_with_a_token(logs: Api) -> None:
    body = _get(logs, f"{LOGS}/load/logs/1")
    assert body["content"] == [] and body["continuation_token"]


def test_a_long_log_comes_a_page_at_a_time_unless_full_content(logs: Api) -> None:
    line = "x" * 1023 + "\n"
    pages = PAGE_BYTES // len(line) * 2 + 10
    _write(logs, "extract", line * pages)
    url = f"{LOGS}/extract/logs/1"
    first = _get(logs, url)
    assert len(first["content"]) == PAGE_BYTES // len(line)
    assert first["continuation_token"]
    seen = len(first["content"])
    token = first["continuation_token"]
    while token:
        page = _get(logs, url, params={"token": token})
        seen += len(page["content"])
        token = page["continuation_token"]
    assert seen == pages
    whole = _get(logs, url, params={"full_content": "true"})
    assert len(whole["content"]) == pages and whole["continuation_token"] is None


def _tamper(token: str) -> str:
    payload, _, signature = token.partition(".")
    return f"{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{signature}"


@pytest.mark.parametrize("make_bad", [_tamper, lambda token: token + "x", lambda _: "garbage"])
def test_a_tampered_token_is_400(logs: Api, make_bad: object) -> None:
    token = _get(logs, f"{LOGS}/transform/logs/1")["continuation_token"]
    bad = make_bad(token)  # type: ignore[operator]
    response = logs.get(f"{LOGS}/transform/logs/1", params={"token": bad})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Bad Signature. Please use only the tokens provided by the API."
    }


def test_a_token_of_another_log_is_400(logs: Api) -> None:
    token = _get(logs, f"{LOGS}/transform/logs/1")["continuation_token"]
    response = logs.get(f"{LOGS}/extract/logs/1", params={"token": token})
    assert response.status_code == 400
    assert "belongs to the log of another task instance or try" in response.json()["detail"]


@pytest.mark.parametrize(
    ("url", "status", "detail"),
    [
        (f"{LOGS}/extract/logs/2", 404, "has no try 2: its only try is 1"),
        (f"{LOGS}/extract/logs/0", 404, "has no try 0"),
        (f"{LOGS}/report/logs/1", 404, "no log for try 1 of task 'report'"),
        (f"{LOGS}/nope/logs/1", 404, "has no task 'nope'"),
        (f"{LOGS}/extract/logs/1?map_index=2", 404, "with map index 2"),
        (f"{LOGS}/extract/logs/-1", 422, None),
    ],
)
def test_missing_tries_and_files(logs: Api, url: str, status: int, detail: str | None) -> None:
    response = logs.get(url)
    assert response.status_code == status, response.text
    if detail is not None:
        assert detail in response.json()["detail"]


def test_an_accept_header_it_cannot_serve_is_406(logs: Api) -> None:
    response = logs.get(f"{LOGS}/extract/logs/1", headers={"Accept": "image/png"})
    assert response.status_code == 406
    assert response.json() == {
        "detail": "Only application/json, application/x-ndjson or text/plain is supported"
    }
    browser = logs.get(f"{LOGS}/extract/logs/1", headers={"Accept": "text/html, */*;q=0.8"})
    assert browser.status_code == 200
    assert browser.headers["content-type"].startswith("application/json")
