"""The task side of the executor's channel, against a real socketpair and a thread that
answers like the executor does."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import pytest

from downwind.exceptions import SerializationError
from downwind.executors.local import _error_text
from downwind.runner.worker import describe_exit
from downwind.runtime.client import DagRunInfo, StartInfo, TaskInstanceKey, TaskOutcome
from downwind.runtime.pipe import CALLS, TELLS, PipeRuntimeClient, RuntimeClientError
from downwind.states import TaskInstanceState

KEY = TaskInstanceKey("d", "r", "t")
DATE = datetime(2026, 1, 1, tzinfo=UTC)
START = StartInfo(DagRunInfo("d", "r", DATE, DATE, DATE), try_number=1, max_tries=0)


class Supervisor:
    """Answers calls with ``answer(op, args)`` and records every message."""

    def __init__(self, conn: Connection, answer: Callable[[str, tuple], Any]) -> None:
        self.conn = conn
        self.answer = answer
        self.received: list[tuple[str, Any, tuple]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                op, seq, args = self.conn.recv()
            except (EOFError, OSError):
                return
            self.received.append((op, seq, args))
            if op in CALLS:
                try:
                    self.conn.send((seq, True, self.answer(op, args)))
                except Exception as err:
                    self.conn.send((seq, False, _error_text(err)))


@pytest.fixture
def pair() -> Iterator[tuple[Connection, Connection]]:
    a, b = socket.socketpair()
    ours, theirs = Connection(a.detach()), Connection(b.detach())
    yield ours, theirs
    ours.close()
    theirs.close()


def _answers(op: str, args: tuple) -> Any:
    if op == "start":
        return START
    if op == "pull_xcom":
        return '{"__dw__":"tuple","v":[1,2]}' if args[2] == "up" else None
    if op == "get_variable":
        return {"v": "from the metastore"}.get(args[0])
    if op == "get_connection":
        return {"host": "db.example", "conn_type": "postgres", "password": "pw"}
    raise LookupError(f"unexpected {op}")


def test_calls_and_tells_travel_in_order(pair, monkeypatch) -> None:
    monkeypatch.delenv("DOWNWIND_VAR_V", raising=False)
    monkeypatch.delenv("DOWNWIND_CONN_WAREHOUSE", raising=False)
    task_side, supervisor_side = pair
    supervisor = Supervisor(supervisor_side, _answers)
    client = PipeRuntimeClient(KEY, task_side, pid=123, hostname="h")

    assert client.start() == START
    client.push_xcom("return_value", {"when": DATE})
    assert client.pull_xcom(task_id="up", key="k", dag_id="d", run_id="r", map_index=None) == (1, 2)
    assert client.pull_xcom(task_id="none", key="k", dag_id="d", run_id="r", map_index=2) is None
    assert client.get_variable("v") == "from the metastore"
    conn = client.get_connection("warehouse")
    assert (conn.conn_id, conn.host, conn.password) == ("warehouse", "db.example", "pw")
    client.set_rendered_fields({"cmd": "echo hi"})
    client.skip_tasks({"b"})
    client.finish(TaskOutcome(TaskInstanceState.SUCCESS))
    task_side.close()
    supervisor.thread.join(2)

    ops = [op for op, _, _ in supervisor.received]
    assert ops == [
        "start", "push_xcom", "pull_xcom", "pull_xcom", "get_variable", "get_connection",
        "set_rendered_fields", "skip_tasks", "finish",
    ]  # fmt: skip
    assert supervisor.received[0][2] == (123, "h")
    # the XCom left the task already serialized
    assert supervisor.received[1][2] == (
        "return_value",
        '{"when":{"__dw__":"datetime","v":"2026-01-01T00:00:00+00:00"}}',
    )
    assert all(seq is None for op, seq, _ in supervisor.received if op in TELLS)


def test_a_value_the_serializer_refuses_fails_in_the_task(pair) -> None:
    task_side, supervisor_side = pair
    supervisor = Supervisor(supervisor_side, _answers)
    client = PipeRuntimeClient(KEY, task_side, pid=1, hostname="h")
    with pytest.raises(SerializationError, match="object"):
        client.push_xcom("return_value", object())
    task_side.close()
    supervisor.thread.join(2)
    assert supervisor.received == []  # nothing was sent


def test_the_environment_wins_over_the_supervisor(pair, monkeypatch) -> None:
    monkeypatch.setenv("DOWNWIND_VAR_V", "from the environment")
    monkeypatch.setenv("DOWNWIND_CONN_WAREHOUSE", "postgresql://u:p@envhost:5432/db")
    task_side, supervisor_side = pair
    supervisor = Supervisor(supervisor_side, _answers)
    client = PipeRuntimeClient(KEY, task_side, pid=1, hostname="h")
    assert client.get_variable("v") == "from the environment"
    assert client.get_connection("warehouse").host == "envhost"
    task_side.close()
    supervisor.thread.join(2)
    assert supervisor.received == []


def test_a_refused_call_raises_with_the_supervisors_message(pair) -> None:
    task_side, supervisor_side = pair
    Supervisor(supervisor_side, lambda op, args: (_ for _ in ()).throw(LookupError("no run r")))
    client = PipeRuntimeClient(KEY, task_side, pid=1, hostname="h")
    with pytest.raises(RuntimeClientError, match="start failed: LookupError: no run r"):
        client.start()


def test_an_answer_to_an_interrupted_call_is_skipped(pair) -> None:
    task_side, supervisor_side = pair
    client = PipeRuntimeClient(KEY, task_side, pid=1, hostname="h")
    supervisor_side.send((0, True, "stale answer of an earlier call"))  # seq 0 was never asked

    def answer() -> None:
        _, seq, _ = supervisor_side.recv()
        supervisor_side.send((seq, True, "fresh"))

    thread = threading.Thread(target=answer)
    thread.start()
    assert client.get_variable("anything") == "fresh"
    thread.join(2)


def test_nothing_is_sent_after_the_outcome(pair) -> None:
    task_side, _ = pair
    client = PipeRuntimeClient(KEY, task_side, pid=1, hostname="h")
    client.finish(TaskOutcome(TaskInstanceState.FAILED, error="boom"))
    with pytest.raises(RuntimeClientError, match="already reported its outcome"):
        client.heartbeat()


def test_a_vanished_supervisor_is_a_clear_error(pair) -> None:
    task_side, supervisor_side = pair
    supervisor_side.close()
    client = PipeRuntimeClient(KEY, task_side, pid=1, hostname="h")
    with pytest.raises(RuntimeClientError, match="the supervisor went away"):
        client.start()


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0, "exit code 0"),
        (70, "exit code 70"),
        (-9, "killed by signal 9 (SIGKILL) (out of memory? the kernel's OOM killer sends SIGKILL)"),
        (-11, "killed by signal 11 (SIGSEGV)"),
        (-200, "killed by signal 200"),
    ],
)
def test_exit_statuses_are_described(code: int, text: str) -> None:
    assert describe_exit(code) == text
