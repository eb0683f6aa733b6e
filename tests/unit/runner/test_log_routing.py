"""What tasks print and log while running in parallel threads lands in their own task log."""

from __future__ import annotations

import logging
import sys
import threading

from downwind.operators.python import PythonOperator
from downwind.sdk.dag import DAG
from downwind.states import TaskInstanceState as TI


def test_parallel_tasks_output_is_prefixed_with_the_right_task_id(run_dag):
    barrier = threading.Barrier(2, timeout=5)

    def chatty(name: str):
        def run():
            for i in range(5):
                barrier.wait()  # both tasks write at the same moments
                print(f"{name} print {i}")
                logging.getLogger("user.code").info("%s log %d", name, i)
                sys.stderr.write(f"{name} stderr {i}\n")
            print(f"{name} unfinished line", end="")

        return run

    with DAG("routing", schedule=None) as dag:
        PythonOperator(task_id="alpha", python_callable=chatty("alpha"))
        PythonOperator(task_id="beta", python_callable=chatty("beta"))
    result = run_dag(dag)
    assert result.state("alpha") is TI.SUCCESS and result.state("beta") is TI.SUCCESS
    for own, other in (("alpha", "beta"), ("beta", "alpha")):
        log = result.log(own)
        for i in range(5):
            assert f"{own} print {i}" in log
            assert f"{own} stderr {i}" in log
            assert any(line.endswith(f"INFO - {own} log {i}") for line in log)
        assert f"{own} unfinished line" in log
        assert not any(other in line for line in log), f"{other}'s output in {own}'s log"


def test_output_of_other_threads_is_not_captured(run_dag, capsys, caplog):
    asked, answered = threading.Event(), threading.Event()

    def outsider():
        asked.wait(5)
        print("from a thread that is not a task")
        logging.getLogger("outsider").warning("outsider warning")
        answered.set()

    thread = threading.Thread(target=outsider)
    thread.start()

    def task():
        asked.set()
        assert answered.wait(5)
        print("from the task")

    with DAG("outsider", schedule=None) as dag:
        PythonOperator(task_id="t", python_callable=task)
    result = run_dag(dag)
    thread.join(5)
    assert result.state("t") is TI.SUCCESS
    assert "from the task" in result.log("t")
    assert "from a thread that is not a task" not in result.text
    assert "outsider warning" not in result.text
    assert "from a thread that is not a task" in capsys.readouterr().out
    # the record went to the root logger's own handlers (here pytest's), as without a run
    assert "outsider warning" in caplog.text
    assert "Running <Task(PythonOperator): t>" not in caplog.text  # a task's own record


def test_stdout_stderr_and_logging_are_restored_after_the_run(run_dag):
    root = logging.getLogger()
    before = (sys.stdout, sys.stderr, list(root.handlers), root.level)

    def noisy():
        print("x")
        raise RuntimeError("the run fails")

    with DAG("restore", schedule=None) as dag:
        PythonOperator(task_id="t", python_callable=noisy)
    result = run_dag(dag)
    assert result.state("t") is TI.FAILED
    assert (sys.stdout, sys.stderr, list(root.handlers), root.level) == before


def test_reporter_prints_status_lines_and_a_summary(run_dag):
    with DAG("summary", schedule=None) as dag:
        PythonOperator(task_id="good", python_callable=lambda: print("hello"))
        PythonOperator(task_id="bad", python_callable=lambda: 1 / 0)
    result = run_dag(dag)
    lines = result.text.splitlines()
    assert lines[0].startswith("DAG summary  run test__2026-01-01T00:00:00+00:00")
    assert "(2 tasks)" in lines[0]
    assert any(line.split() == ["running", "good"] for line in lines)
    assert any(line.split()[:2] == ["success", "good"] for line in lines)
    failed = next(line for line in lines if line.split()[:2] == ["failed", "bad"])
    assert "ZeroDivisionError: division by zero" in failed
    table = lines[lines.index("task  state    tries  duration") :]
    assert table[2].split()[:3] == ["good", "success", "1"]
    assert table[3].split()[:3] == ["bad", "failed", "1"]
    assert lines[-1].startswith("Run test__2026-01-01T00:00:00+00:00 FAILED in ")
    assert "\033[" not in result.text  # no color on a non-terminal stream


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_records_of_other_threads_still_reach_the_configured_handlers(run_dag):
    root = logging.getLogger()
    handler = _ListHandler()
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        asked, answered = threading.Event(), threading.Event()

        def outsider():
            asked.wait(5)
            logging.getLogger("outsider").info("outsider info")
            answered.set()

        thread = threading.Thread(target=outsider)
        thread.start()

        def task():
            asked.set()
            assert answered.wait(5)
            logging.getLogger("user.code").info("task info")

        with DAG("handlers", schedule=None) as dag:
            PythonOperator(task_id="t", python_callable=task)
        result = run_dag(dag)
        thread.join(5)
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)
    assert "outsider info" in handler.messages
    assert "task info" not in handler.messages
    assert any(line.endswith("INFO - task info") for line in result.log("t"))
    assert "outsider info" not in result.text
