"""The local executor with real processes: warm workers, one forked process per try.

An in-memory runtime handler plays the scheduler's side (it records every call and
answers from dicts); DAG files are written to ``tmp_path``.
"""

from __future__ import annotations

import os
import signal
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from downwind.executors import ExecutorError, TaskWorkload, create_executor
from downwind.executors.base import ExecutorEvent
from downwind.executors.local import LocalExecutor
from downwind.executors.memory import InMemoryRuntimeHandler
from downwind.executors.sequential import SequentialExecutor
from downwind.runner.log_paths import task_log_path
from downwind.runtime import serde
from downwind.runtime.client import DagRunInfo, TaskInstanceKey
from downwind.runtime.connection import Connection
from downwind.states import TaskInstanceState as TI

DAG_ID = "exec_dag"
RUN_ID = "manual__2026-01-01"
DATE = datetime(2026, 1, 1, tzinfo=UTC)

DAG_SOURCE = """
import logging, os, signal, subprocess, sys, time
from datetime import datetime, timedelta
from pathlib import Path

from downwind import DAG, Variable
from downwind.operators.bash import BashOperator
from downwind.operators.python import BranchPythonOperator, PythonOperator

SCRATCH = Path({scratch!r})


def _hello():
    print("hello on stdout")
    print("hello on stderr", file=sys.stderr)
    logging.getLogger("user.code").info("a log line from the task")
    return {{"pid": os.getpid()}}


def _producer(ti):
    ti.xcom_push(key="extra", value=[1, 2])
    Variable.set("written", "by the producer")
    return {{"n": 41, "when": datetime(2026, 1, 1)}}


def _consumer(ti):
    got = ti.xcom_pull(task_ids="producer")
    return {{
        "n": got["n"] + 1,
        "when": got["when"].isoformat(),
        "extra": ti.xcom_pull(task_ids="producer", key="extra"),
        "greeting": Variable.get("greeting"),
        "written": Variable.get("written"),
        "missing": Variable.get("missing", default_var="default"),
    }}


def _window(name):
    started = time.time()
    time.sleep(0.3)
    return [started, time.time()]


def _bad_xcom():
    return object()


def _spawn_and_sleep():
    child = subprocess.Popen(["sleep", "60"])
    (SCRATCH / "grandchild.pid").write_text(str(child.pid))
    time.sleep(60)


def _sleep(seconds):
    (SCRATCH / "sleeping").write_text(str(os.getpid()))
    time.sleep(seconds)


def _ignore_sigterm():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    (SCRATCH / "sleeping").write_text(str(os.getpid()))
    time.sleep(60)


def _leave_strays():
    same_group = subprocess.Popen(["sleep", "60"])
    own_session = subprocess.Popen(["sleep", "60"], start_new_session=True)
    # a daemon: double fork, new session, its parent gone
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess; p = subprocess.Popen(['sleep', '60'], start_new_session=True,"
         " stdout=subprocess.DEVNULL);"
         " print(p.pid)"],
        stdout=subprocess.PIPE, text=True,
    )
    daemon = int(parent.communicate()[0])
    pids = [same_group.pid, own_session.pid, daemon]
    (SCRATCH / "strays").write_text(" ".join(map(str, pids)))


def _version():
    return "v1"


with DAG(dag_id="{dag_id}", start_date=datetime(2026, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="hello", python_callable=_hello)
    PythonOperator(task_id="producer", python_callable=_producer)
    PythonOperator(task_id="consumer", python_callable=_consumer)
    BashOperator(
        task_id="templated",
        bash_command=(
            "echo host={{{{ conn.warehouse.host }}}} greeting={{{{ var.value.greeting }}}}"
        ),
    )
    BranchPythonOperator(task_id="branch", python_callable=lambda: "left") >> [
        PythonOperator(task_id="left", python_callable=lambda: None),
        PythonOperator(task_id="right", python_callable=lambda: None),
    ]
    PythonOperator(task_id="window_a", python_callable=_window, op_args=["a"])
    PythonOperator(task_id="window_b", python_callable=_window, op_args=["b"])
    PythonOperator(task_id="bad_xcom", python_callable=_bad_xcom)
    PythonOperator(
        task_id="timeout",
        python_callable=_spawn_and_sleep,
        execution_timeout=timedelta(seconds=0.5),
    )
    PythonOperator(task_id="sleep", python_callable=_sleep, op_args=[60])
    PythonOperator(task_id="short_sleep", python_callable=_sleep, op_args=[0.3])
    PythonOperator(task_id="strays", python_callable=_leave_strays)
    PythonOperator(task_id="stubborn", python_callable=_ignore_sigterm)
    BashOperator(
        task_id="bash_sleep",
        bash_command="sleep 60 & echo $! > {scratch}/bash_child.pid; wait",
    )
    PythonOperator(task_id="version", python_callable=_version)
    [PythonOperator(task_id=f"noop_{{i}}", python_callable=lambda: None) for i in range(3)]
"""


# -- harness -------------------------------------------------------------------------


class Harness:
    """An executor, its in-memory handler, and helpers to drive them like a scheduler."""

    def __init__(self, tmp_path: Path, executor: LocalExecutor) -> None:
        self.tmp_path = tmp_path
        self.scratch = tmp_path / "scratch"
        self.scratch.mkdir(exist_ok=True)
        self.dag_file = tmp_path / "dags" / "exec_dag.py"
        self.dag_file.parent.mkdir(exist_ok=True)
        self.write_dag(DAG_SOURCE)
        self.logs = tmp_path / "logs"
        self.handler = InMemoryRuntimeHandler(runs=[DagRunInfo(DAG_ID, RUN_ID, DATE, DATE, DATE)])
        self.handler.store.variables["greeting"] = "hi"
        self.handler.store.connections["warehouse"] = Connection(
            "warehouse", conn_type="postgres", host="db.example", password="s3cret"
        )
        self.executor = executor
        self.events: list[ExecutorEvent] = []
        self.pids: set[int] = set()

    def write_dag(self, source: str) -> None:
        text = textwrap.dedent(source).format(scratch=str(self.scratch), dag_id=DAG_ID)
        self.dag_file.write_text(text)

    def key(self, task_id: str) -> TaskInstanceKey:
        return TaskInstanceKey(DAG_ID, RUN_ID, task_id)

    def queue(self, task_id: str, *, try_number: int = 1, priority: int = 1, **kw) -> None:
        key = self.key(task_id)
        self.executor.queue_workload(
            TaskWorkload(
                key=key,
                ti_id=f"id-{task_id}",
                try_number=try_number,
                dag_fileloc=kw.get("dag_fileloc", str(self.dag_file)),
                log_path=str(task_log_path(self.logs, key, try_number)),
                priority=priority,
            )
        )

    def log_text(self, task_id: str, try_number: int = 1) -> str:
        return task_log_path(self.logs, self.key(task_id), try_number).read_text()

    def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; events so far: {self.events}")
            self.events.extend(self.executor.sync(0.05))
            self.pids.update(self.executor.worker_pids)
            self.pids.update(s.pid for s in self.handler.starts.values())

    def ended(self, task_id: str) -> ExecutorEvent | None:
        key = self.key(task_id)
        return next(
            (e for e in self.events if e.key == key and e.kind in ("finished", "crashed")), None
        )

    def run(self, *task_ids: str, timeout: float = 10.0) -> dict[str, ExecutorEvent]:
        for task_id in task_ids:
            self.queue(task_id)
        self.wait_until(lambda: all(self.ended(t) for t in task_ids), timeout)
        return {t: self.ended(t) for t in task_ids}  # type: ignore[misc]

    def started(self, task_id: str) -> bool:
        return any(e.key == self.key(task_id) and e.kind == "started" for e in self.events)


@pytest.fixture
def make_harness(downwind_home: Path, tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(parallelism: int = 2, executor_class: type = LocalExecutor, **options) -> Harness:
        options.setdefault("kill_grace", 0.5)
        options.setdefault("timeout_grace", 1.0)
        if executor_class is SequentialExecutor:
            executor = SequentialExecutor(**options)
        else:
            executor = executor_class(parallelism, **options)
        harness = Harness(tmp_path, executor)
        executor.start(harness.handler)
        harness.pids.update(executor.worker_pids)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.executor.terminate()


def _state(pid: int) -> str | None:
    """The process state letter (R, S, Z...), or None if there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def _gone(pid: int, timeout: float = 5.0) -> bool:
    """Whether ``pid`` disappears (reaped, not a zombie) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _state(pid) is None:
            return True
        time.sleep(0.02)
    return False


def _killed(pid: int, timeout: float = 5.0) -> bool:
    """Whether ``pid`` is dead within ``timeout``: gone, or a zombie. For processes whose
    parent is gone (an orphaned grandchild of a try), reaping is the init process's job,
    which on some systems takes a second or two."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _state(pid) in (None, "Z"):
            return True
        time.sleep(0.02)
    return False


def _pid_from(path: Path, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text().strip())
        time.sleep(0.02)
    raise AssertionError(f"{path} was never written")


# -- a try's life --------------------------------------------------------------------


def test_xcoms_variables_and_connections_go_through_the_handler(make_harness) -> None:
    h = make_harness()

    ended = h.run("producer")
    assert ended["producer"].kind == "finished"
    assert ended["producer"].state is TI.SUCCESS
    ended = h.run("consumer", "templated")

    assert ended["consumer"].state is TI.SUCCESS, ended["consumer"].reason
    value = serde.loads(h.handler.store.xcoms[(DAG_ID, RUN_ID, "consumer", -1, "return_value")])
    assert value == {
        "n": 42,
        "when": "2026-01-01T00:00:00",
        "extra": [1, 2],
        "greeting": "hi",
        "written": "by the producer",
        "missing": "default",
    }
    # XComs arrive serialized by the one serializer (the datetime is tagged)
    pushed = h.handler.store.xcoms[(DAG_ID, RUN_ID, "producer", -1, "return_value")]
    assert serde.loads(pushed) == {"n": 41, "when": datetime(2026, 1, 1)}
    assert h.handler.store.variables["written"] == "by the producer"
    # the connection and the variable reached the template; rendered fields came back
    assert h.handler.rendered_fields[h.key("templated")]["bash_command"] == (
        "echo host=db.example greeting=hi"
    )
    assert "host=db.example greeting=hi" in h.log_text("templated")
    # the handler saw the producer's try in order: start first, finish last
    producer_calls = [name for name, key, _ in h.handler.calls if key == h.key("producer")]
    assert producer_calls[0] == "start"
    assert producer_calls[-1] == "finish"
    assert producer_calls.count("push_xcom") == 2
    start = h.handler.starts[h.key("producer")]
    assert start.try_number == 1
    assert start.pid not in h.executor.worker_pids  # a process of its own
    kinds = [e.kind for e in h.events if e.key == h.key("producer")]
    assert kinds == ["started", "finished"]


def test_branching_skips_through_the_handler(make_harness) -> None:
    h = make_harness()
    ended = h.run("branch")
    assert ended["branch"].state is TI.SUCCESS
    assert h.handler.skipped[h.key("branch")] == ["right"]


def test_log_file_holds_the_tries_prints_and_log_lines(make_harness) -> None:
    h = make_harness()
    assert h.run("hello")["hello"].state is TI.SUCCESS

    path = h.logs / f"dag_id={DAG_ID}" / f"run_id={RUN_ID}" / "task_id=hello" / "attempt=1.log"
    text = path.read_text()
    assert "hello on stdout" in text
    assert "hello on stderr" in text
    assert "{user.code} INFO - a log line from the task" in text
    assert "Running <Task(PythonOperator): hello>, try 1 of 1" in text
    assert "Returned value" in text
    # nothing else wrote into it (one file per try, from its own process)
    pid = serde.loads(h.handler.store.xcoms[(DAG_ID, RUN_ID, "hello", -1, "return_value")])["pid"]
    assert f"Task process {pid} " in text


def test_a_value_the_serializer_refuses_fails_the_try_naming_its_type(make_harness) -> None:
    h = make_harness()
    ended = h.run("bad_xcom")["bad_xcom"]
    assert ended.kind == "finished"
    assert ended.state is TI.FAILED
    assert "SerializationError" in ended.reason
    assert "object" in ended.reason
    assert (DAG_ID, RUN_ID, "bad_xcom", -1, "return_value") not in h.handler.store.xcoms


def test_parallel_tries_overlap(make_harness) -> None:
    h = make_harness(parallelism=2)
    began = time.monotonic()
    ended = h.run("window_a", "window_b")
    elapsed = time.monotonic() - began

    assert all(e.state is TI.SUCCESS for e in ended.values())
    a = serde.loads(h.handler.store.xcoms[(DAG_ID, RUN_ID, "window_a", -1, "return_value")])
    b = serde.loads(h.handler.store.xcoms[(DAG_ID, RUN_ID, "window_b", -1, "return_value")])
    assert max(a[0], b[0]) < min(a[1], b[1]), "the two 0.3 s tries did not overlap"
    assert elapsed < 0.6 + 1.0


def test_sequential_executor_runs_one_try_at_a_time_by_priority(make_harness) -> None:
    h = make_harness(executor_class=SequentialExecutor)
    assert h.executor.parallelism == 1
    h.queue("short_sleep")
    h.wait_until(lambda: h.started("short_sleep"))
    # a backlog of ``queue_ahead`` tries may wait for the worker
    assert h.executor.open_slots == h.executor.queue_ahead == 16
    h.queue("noop_0", priority=1)
    h.queue("noop_1", priority=5)
    h.wait_until(lambda: h.ended("noop_0") is not None)

    starts = [e.key.task_id for e in h.events if e.kind == "started"]
    assert starts == ["short_sleep", "noop_1", "noop_0"]
    a_end = h.ended("short_sleep").at
    assert all(
        e.at >= a_end for e in h.events if e.kind == "started" and e.key.task_id != "short_sleep"
    )


def test_workers_can_be_spawned_instead_of_forked_from_a_server(make_harness) -> None:
    h = make_harness(parallelism=1, start_method="spawn")
    assert h.run("hello")["hello"].state is TI.SUCCESS
    assert "hello on stdout" in h.log_text("hello")


# -- stopping tries ------------------------------------------------------------------


def test_execution_timeout_stops_the_try_and_its_process_group(make_harness) -> None:
    h = make_harness()
    ended = h.run("timeout")["timeout"]

    assert ended.kind == "finished"
    assert ended.state is TI.FAILED
    assert "TaskTimeout" in ended.reason
    grandchild = _pid_from(h.scratch / "grandchild.pid")
    assert _killed(grandchild), "the subprocess the task started outlived its try"
    assert "timed out" in h.log_text("timeout")


def test_processes_a_successful_try_leaves_running_are_killed_and_reaped(make_harness) -> None:
    h = make_harness()
    assert h.run("strays")["strays"].state is TI.SUCCESS
    pids = [int(pid) for pid in (h.scratch / "strays").read_text().split()]
    assert len(pids) == 3
    assert all(_gone(pid) for pid in pids)  # killed, and no zombie left behind


def test_kill_stops_a_running_try_and_its_command(make_harness) -> None:
    h = make_harness()
    h.queue("bash_sleep")
    h.wait_until(lambda: h.started("bash_sleep"))
    sleeper = _pid_from(h.scratch / "bash_child.pid")

    h.executor.kill(h.key("bash_sleep"), "the user marked it failed")
    h.wait_until(lambda: h.ended("bash_sleep") is not None, timeout=5)

    ended = h.ended("bash_sleep")
    assert ended.kind == "finished"  # the try handled SIGTERM and reported
    assert ended.state is TI.FAILED
    assert "TaskTerminated" in ended.reason
    assert _killed(sleeper), "the bash command's child survived the kill"
    log = h.log_text("bash_sleep")
    assert "Stopping the task process group: the user marked it failed" in log
    assert "Received SIGTERM" in log
    assert h.executor.running == set()


def test_kill_escalates_to_sigkill_when_sigterm_is_ignored(make_harness) -> None:
    h = make_harness(kill_grace=0.3)
    h.queue("stubborn")
    h.wait_until(lambda: h.started("stubborn") and (h.scratch / "sleeping").exists())

    h.executor.kill(h.key("stubborn"), "dagrun_timeout")
    h.wait_until(lambda: h.ended("stubborn") is not None, timeout=5)

    ended = h.ended("stubborn")
    assert ended.kind == "crashed"
    assert ended.state is None
    assert "dagrun_timeout" in ended.reason
    assert "SIGKILL" in ended.reason
    assert h.handler.crashes[h.key("stubborn")] == ended.reason
    assert ended.reason in h.log_text("stubborn")


def test_killing_a_queued_workload_reports_it_crashed_without_start(make_harness) -> None:
    h = make_harness(parallelism=1)
    h.queue("short_sleep")
    h.queue("noop_0")
    h.executor.kill(h.key("noop_0"), "cleared by the user")
    h.wait_until(lambda: h.ended("short_sleep") is not None)

    assert h.ended("noop_0").kind == "crashed"
    assert "killed before it started: cleared by the user" in h.ended("noop_0").reason
    assert h.key("noop_0") not in h.handler.starts


# -- crashes -------------------------------------------------------------------------


def test_a_try_killed_by_a_signal_is_reported_crashed_and_logged(make_harness) -> None:
    h = make_harness()
    h.queue("sleep")
    h.wait_until(lambda: h.started("sleep"))
    pid = h.handler.starts[h.key("sleep")].pid

    os.kill(pid, signal.SIGKILL)
    h.wait_until(lambda: h.ended("sleep") is not None)

    ended = h.ended("sleep")
    assert ended.kind == "crashed"
    assert "killed by signal 9 (SIGKILL)" in ended.reason
    assert h.handler.crashes[h.key("sleep")] == ended.reason
    assert h.key("sleep") not in h.handler.outcomes
    assert "killed by signal 9 (SIGKILL)" in h.log_text("sleep")
    assert _gone(pid)
    # the worker carries on
    assert h.run("noop_0")["noop_0"].state is TI.SUCCESS


def test_a_dead_worker_is_reported_and_replaced(make_harness) -> None:
    h = make_harness(parallelism=1)
    h.queue("sleep")
    h.wait_until(lambda: h.started("sleep"))
    task_pid = h.handler.starts[h.key("sleep")].pid
    [worker] = h.executor.worker_pids

    os.kill(worker, signal.SIGKILL)
    h.wait_until(lambda: h.ended("sleep") is not None)

    ended = h.ended("sleep")
    assert ended.kind == "crashed"
    assert f"worker process ({worker}) died" in ended.reason
    assert "SIGKILL" in ended.reason
    assert "The task process was lost" in h.log_text("sleep")
    assert _killed(task_pid), "the try's process outlived its worker"
    [replacement] = h.executor.worker_pids
    assert replacement != worker
    assert h.run("noop_0")["noop_0"].state is TI.SUCCESS


def test_a_try_refused_at_start_is_reported_crashed(make_harness) -> None:
    h = make_harness()
    h.handler.runs.clear()  # the scheduler no longer knows this run
    ended = h.run("noop_0")["noop_0"]
    assert ended.kind == "crashed"
    assert "could not start" in ended.reason
    assert "no DAG run" in ended.reason
    assert "no DAG run" in h.log_text("noop_0")


# -- loading the task ----------------------------------------------------------------


def test_a_dag_file_edited_between_tries_is_reloaded(make_harness) -> None:
    h = make_harness(parallelism=1)
    assert h.run("version")["version"].state is TI.SUCCESS
    first = h.handler.store.xcoms[(DAG_ID, RUN_ID, "version", -1, "return_value")]

    h.write_dag(DAG_SOURCE.replace('return "v1"', 'return "v2 (edited)"'))
    stat = h.dag_file.stat()
    os.utime(h.dag_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    h.events.clear()
    assert h.run("version")["version"].state is TI.SUCCESS

    assert serde.loads(first) == "v1"
    second = h.handler.store.xcoms[(DAG_ID, RUN_ID, "version", -1, "return_value")]
    assert serde.loads(second) == "v2 (edited)"


def test_an_unknown_task_fails_the_try_with_a_clear_error(make_harness) -> None:
    h = make_harness()
    h.handler.max_tries = 1
    ended = h.run("no_such_task")["no_such_task"]
    assert ended.kind == "finished"
    assert ended.state is TI.UP_FOR_RETRY  # retried like any failure while tries remain
    assert "task 'no_such_task' not found in DAG 'exec_dag'" in ended.reason
    assert "TaskLoadError" in ended.reason


def test_a_broken_dag_file_fails_the_try_with_its_error(make_harness) -> None:
    h = make_harness()
    broken = h.tmp_path / "dags" / "broken.py"
    broken.write_text("from downwind import DAG\n\ndef oops(:\n    pass\n")
    h.queue("noop_0", dag_fileloc=str(broken))
    h.wait_until(lambda: h.ended("noop_0") is not None)

    ended = h.ended("noop_0")
    assert ended.kind == "finished"
    assert ended.state is TI.FAILED
    assert f"DAG file {broken} failed to import" in ended.reason
    assert "SyntaxError" in ended.reason
    assert "def oops(:" in h.log_text("noop_0")  # the full error is in the log


def test_a_missing_dag_file_fails_the_try(make_harness) -> None:
    h = make_harness()
    h.queue("noop_0", dag_fileloc=str(h.tmp_path / "gone.py"))
    h.wait_until(lambda: h.ended("noop_0") is not None)
    ended = h.ended("noop_0")
    assert ended.state is TI.FAILED
    assert "cannot read DAG file" in ended.reason


# -- liveness and shutdown -----------------------------------------------------------


def test_running_tries_heartbeat(make_harness) -> None:
    h = make_harness(heartbeat_interval=0.05)
    assert h.run("short_sleep")["short_sleep"].state is TI.SUCCESS
    assert h.handler.heartbeats.get(h.key("short_sleep"), 0) >= 2
    calls = [name for name, key, _ in h.handler.calls if key == h.key("short_sleep")]
    assert calls.index("start") < calls.index("heartbeat") < calls.index("finish")


def test_end_waits_for_running_tries_and_leaves_no_process(make_harness) -> None:
    h = make_harness()
    h.queue("short_sleep")
    h.queue("noop_0")
    h.wait_until(lambda: h.started("short_sleep"))
    pids = set(h.pids) | set(h.executor.worker_pids)
    pids |= {s.pid for s in h.handler.starts.values()}

    h.executor.end(timeout=10)

    assert h.handler.outcomes[h.key("short_sleep")].state is TI.SUCCESS
    assert h.handler.outcomes[h.key("noop_0")].state is TI.SUCCESS
    assert pids
    for pid in pids:
        assert _gone(pid), f"process {pid} is left ({_state(pid)})"
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    zombies = [int(pid) for pid in children if _state(int(pid)) == "Z"]
    assert zombies == []


def test_end_with_a_deadline_stops_what_still_runs(make_harness) -> None:
    h = make_harness(kill_grace=0.3)
    h.queue("sleep")
    h.wait_until(lambda: h.started("sleep"))
    pid = h.handler.starts[h.key("sleep")].pid
    began = time.monotonic()

    h.executor.end(timeout=0.2)

    assert time.monotonic() - began < 4
    assert h.key("sleep") in h.handler.outcomes or h.key("sleep") in h.handler.crashes
    assert _gone(pid)


# -- misuse --------------------------------------------------------------------------


def test_queueing_a_key_that_is_still_running_is_refused(make_harness) -> None:
    h = make_harness()
    h.queue("short_sleep")
    with pytest.raises(ExecutorError, match="already queued or running"):
        h.queue("short_sleep", try_number=2)
    assert h.executor.running == {h.key("short_sleep")}
    assert h.executor.open_slots == 2 + 16 - 1  # parallelism 2 plus a backlog of 16, minus 1


def test_bad_options_are_refused_with_a_clear_message() -> None:
    with pytest.raises(ExecutorError, match="parallelism must be at least 1, got 0"):
        LocalExecutor(0)
    with pytest.raises(ExecutorError, match="start_method must be one of forkserver, spawn"):
        LocalExecutor(2, start_method="fork")
    with pytest.raises(ExecutorError, match="kill_grace must be positive"):
        LocalExecutor(2, kill_grace=0)
    with pytest.raises(ExecutorError, match="unknown executor 'celery2'"):
        create_executor("celery2")
    with pytest.raises(ExecutorError, match="start the executor before queueing work"):
        LocalExecutor(1).queue_workload(
            TaskWorkload(
                key=TaskInstanceKey("d", "r", "t"),
                ti_id="x",
                try_number=1,
                dag_fileloc="/nowhere.py",
                log_path="/tmp/x.log",
            )
        )


DRIVER = """
import sys, time
from datetime import UTC, datetime
from downwind.executors import TaskWorkload
from downwind.executors.local import LocalExecutor
from downwind.executors.memory import InMemoryRuntimeHandler
from downwind.runtime.client import DagRunInfo, TaskInstanceKey

date = datetime(2026, 1, 1, tzinfo=UTC)
handler = InMemoryRuntimeHandler(runs=[DagRunInfo({dag_id!r}, {run_id!r}, date, date, date)])
executor = LocalExecutor(1, kill_grace=0.5)
executor.start(handler)
key = TaskInstanceKey({dag_id!r}, {run_id!r}, "sleep")
executor.queue_workload(TaskWorkload(
    key=key, ti_id="x", try_number=1, dag_fileloc={dag_file!r}, log_path={log!r}))
while key not in handler.starts:
    executor.sync(0.1)
print(executor.worker_pids[0], handler.starts[key].pid, flush=True)
time.sleep(60)
"""


def test_tries_and_workers_die_with_the_executors_process(
    downwind_home: Path, tmp_path: Path
) -> None:
    """If the scheduler is killed, its tries must not run on unsupervised: a restarted
    scheduler resets them and would otherwise run them twice at once."""
    import subprocess
    import sys

    harness = Harness(tmp_path, LocalExecutor(1))  # only for its DAG file
    driver = tmp_path / "driver.py"
    driver.write_text(
        DRIVER.format(
            dag_id=DAG_ID,
            run_id=RUN_ID,
            dag_file=str(harness.dag_file),
            log=str(tmp_path / "sleep.log"),
        )
    )
    process = subprocess.Popen(
        [sys.executable, str(driver)], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        line = process.stdout.readline()
        worker, task = (int(pid) for pid in line.split())
        assert _state(worker) not in (None, "Z")
        assert _state(task) not in (None, "Z")

        process.kill()
        process.wait(5)

        assert _killed(worker, timeout=5), "the worker outlived the executor's process"
        assert _killed(task, timeout=5), "the try outlived the executor's process"
    finally:
        process.kill()
        process.wait(5)


@pytest.mark.slow
def test_a_try_that_outruns_its_timeout_regardless_is_killed_by_its_worker(
    make_harness,
) -> None:
    h = make_harness(timeout_grace=0.5, kill_grace=0.3)
    h.write_dag(
        DAG_SOURCE
        + """
def _deaf():
    signal.signal(signal.SIGALRM, signal.SIG_IGN)  # the task's own timeout cannot fire
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(60)


PythonOperator(
    task_id="deaf", python_callable=_deaf, execution_timeout=timedelta(seconds=0.3), dag=dag
)
"""
    )
    began = time.monotonic()
    ended = h.run("deaf")["deaf"]

    assert ended.kind == "crashed"
    assert "past its execution_timeout" in ended.reason
    assert "SIGKILL" in ended.reason
    assert time.monotonic() - began < 5
    assert "past its execution_timeout" in h.log_text("deaf")


def test_workers_started_for_a_burst_stop_again_once_idle(make_harness) -> None:
    h = make_harness(parallelism=4, idle_worker_timeout=0.3)
    warm = h.executor.warm_workers
    assert warm < 4 and len(h.executor.worker_pids) == warm
    for task_id in ("short_sleep", "window_a", "window_b", "hello"):
        h.queue(task_id)
    h.wait_until(lambda: len(h.executor.worker_pids) == 4)
    h.wait_until(lambda: all(h.ended(t) for t in ("short_sleep", "window_a", "window_b", "hello")))
    h.wait_until(lambda: len(h.executor.worker_pids) == warm, timeout=5)
    h.queue("noop_0")  # the warm workers still serve
    h.wait_until(lambda: h.ended("noop_0") is not None)
    assert h.ended("noop_0").kind == "finished"
