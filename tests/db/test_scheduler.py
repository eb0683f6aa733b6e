"""The scheduler with the local executor on both metastores: catch-up, failures and
clearing, retries, parallelism, pools, crashed task processes."""

from __future__ import annotations

import itertools
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from scheduler_env import SchedulerEnv, all_runs_finished
from sqlalchemy import select

from downwind.metastore.models import Pool, TaskInstanceHistory, XComModel
from downwind.runtime import serde
from downwind.services.clear import clear_task_instances
from downwind.services.runs import trigger_dag_run

pytestmark = pytest.mark.usefixtures("db_home")


@pytest.fixture
def env(db_home: Path) -> SchedulerEnv:
    return SchedulerEnv(db_home)


def _midnight(days_ago: int) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def _xcom(env: SchedulerEnv, dag_id: str, run_id: str, task_id: str):
    with env.sessions() as session:
        text = session.scalar(
            select(XComModel.value).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id == run_id,
                XComModel.task_id == task_id,
                XComModel.key == "return_value",
            )
        )
    return None if text is None else serde.loads(text)


def test_catch_up_creates_each_missed_interval_in_order_with_its_ds(env: SchedulerEnv):
    start = _midnight(3)
    env.write_dag(
        "daily",
        f"""
        from datetime import datetime, timezone
        from downwind import DAG
        from downwind.operators.bash import BashOperator

        with DAG("daily", start_date=datetime.fromisoformat("{start.isoformat()}"),
                 schedule="@daily", catchup=True, max_active_runs=2):
            BashOperator(task_id="say_ds", bash_command="echo {{{{ ds }}}}")
        """,
    )
    env.parse()
    env.unpause("daily")
    env.run_until(all_runs_finished("daily", 3))
    runs = env.runs("daily")
    assert [r.logical_date for r in runs] == [
        start,
        start + timedelta(days=1),
        start + timedelta(days=2),
    ]
    assert [r.run_type for r in runs] == ["scheduled"] * 3
    assert {r.state for r in runs} == {"success"}
    for run in runs:
        assert _xcom(env, "daily", run.run_id, "say_ds") == run.logical_date.strftime("%Y-%m-%d")
    # never more than max_active_runs=2 at once
    for run in runs:
        active = [o for o in runs if o.start_date <= run.start_date < o.end_date]
        assert len(active) <= 2


def test_a_failure_marks_downstream_upstream_failed_and_clearing_reruns_only_those(
    env: SchedulerEnv, tmp_path: Path
):
    marker = tmp_path / "fixed"
    env.write_dag(
        "fragile",
        f"""
        from datetime import datetime
        from pathlib import Path
        from downwind import DAG
        from downwind.operators.python import PythonOperator

        def check():
            if not Path({str(marker)!r}).exists():
                raise ValueError("the input is not ready")

        with DAG("fragile", start_date=datetime(2026, 1, 1), schedule=None):
            first = PythonOperator(task_id="first", python_callable=lambda: "ok")
            middle = PythonOperator(task_id="middle", python_callable=check)
            last = PythonOperator(task_id="last", python_callable=lambda: "done")
            first >> middle >> last
        """,
    )
    env.parse()
    env.unpause("fragile")
    with env.sessions.begin() as session:
        run_id = trigger_dag_run(session, "fragile", now=datetime.now(UTC)).run_id
    env.run_until(all_runs_finished("fragile", 1))
    tis = env.task_instances("fragile", run_id)
    assert [tis[f"{run_id}/{t}"].state for t in ("first", "middle", "last")] == [
        "success",
        "failed",
        "upstream_failed",
    ]
    assert env.runs("fragile")[0].state == "failed"

    marker.touch()
    with env.sessions.begin() as session:
        cleared = clear_task_instances(session, "fragile", only_failed=True, now=datetime.now(UTC))
    assert sorted(ti.task_id for ti in cleared) == ["last", "middle"]
    env.run_until(all_runs_finished("fragile", 1))
    tis = env.task_instances("fragile", run_id)
    assert {
        t: (tis[f"{run_id}/{t}"].state, tis[f"{run_id}/{t}"].try_number)
        for t in ("first", "middle", "last")
    } == {
        "first": ("success", 1),  # not run again
        "middle": ("success", 2),
        "last": ("success", 1),
    }
    with env.sessions() as session:
        history = session.scalars(select(TaskInstanceHistory)).all()
    assert [(h.task_id, h.try_number, h.state) for h in history] == [("middle", 1, "failed")]


def test_retries_wait_their_delay_and_keep_the_earlier_try(env: SchedulerEnv, tmp_path: Path):
    counter = tmp_path / "tries"
    env.write_dag(
        "flaky",
        f"""
        from datetime import datetime, timedelta
        from pathlib import Path
        from downwind import DAG
        from downwind.operators.python import PythonOperator

        def flaky():
            path = Path({str(counter)!r})
            tries = int(path.read_text()) if path.exists() else 0
            path.write_text(str(tries + 1))
            if tries == 0:
                raise RuntimeError("first try fails")
            return tries + 1

        with DAG("flaky", start_date=datetime(2026, 1, 1), schedule=None):
            PythonOperator(task_id="flaky", python_callable=flaky, retries=2,
                           retry_delay=timedelta(seconds=1))
        """,
    )
    env.parse()
    env.unpause("flaky")
    with env.sessions.begin() as session:
        run_id = trigger_dag_run(session, "flaky", now=datetime.now(UTC)).run_id
    env.run_until(all_runs_finished("flaky", 1))
    ti = env.task_instances("flaky", run_id)[f"{run_id}/flaky"]
    assert (ti.state, ti.try_number) == ("success", 2)
    with env.sessions() as session:
        (first,) = session.scalars(select(TaskInstanceHistory)).all()
    assert (first.try_number, first.state) == (1, "up_for_retry")
    assert ti.start_date - first.end_date >= timedelta(seconds=0.9)
    assert _xcom(env, "flaky", run_id, "flaky") == 2


def test_independent_tasks_run_in_parallel(env: SchedulerEnv):
    env.write_dag(
        "wide",
        """
        import time
        from datetime import datetime
        from downwind import DAG
        from downwind.operators.python import PythonOperator

        with DAG("wide", start_date=datetime(2026, 1, 1), schedule=None):
            for name in ("left", "right"):
                PythonOperator(task_id=name, python_callable=lambda: time.sleep(1))
        """,
    )
    env.parse()
    env.unpause("wide")
    with env.sessions.begin() as session:
        run_id = trigger_dag_run(session, "wide", now=datetime.now(UTC)).run_id
    env.run_until(all_runs_finished("wide", 1), parallelism=2)
    tis = env.task_instances("wide", run_id)
    left, right = tis[f"{run_id}/left"], tis[f"{run_id}/right"]
    assert left.start_date < right.end_date and right.start_date < left.end_date


def test_a_pool_with_one_slot_runs_its_tasks_one_at_a_time(env: SchedulerEnv):
    env.write_dag(
        "pooled",
        """
        import time
        from datetime import datetime
        from downwind import DAG
        from downwind.operators.python import PythonOperator

        with DAG("pooled", start_date=datetime(2026, 1, 1), schedule=None):
            for i in range(3):
                PythonOperator(task_id=f"t{i}", pool="single",
                               python_callable=lambda: time.sleep(0.3))
        """,
    )
    with env.sessions.begin() as session:
        session.add(Pool(pool="single", slots=1, description="one at a time"))
    env.parse()
    env.unpause("pooled")
    with env.sessions.begin() as session:
        run_id = trigger_dag_run(session, "pooled", now=datetime.now(UTC)).run_id
    env.run_until(all_runs_finished("pooled", 1), parallelism=3)
    tis = sorted(env.task_instances("pooled", run_id).values(), key=lambda t: t.start_date)
    assert [t.state for t in tis] == ["success"] * 3
    for before, after in itertools.pairwise(tis):
        assert after.start_date >= before.end_date


def test_a_killed_task_process_is_detected_and_retried(env: SchedulerEnv, tmp_path: Path):
    pid_file = tmp_path / "pid"
    env.write_dag(
        "victim",
        f"""
        import os, time
        from datetime import datetime, timedelta
        from pathlib import Path
        from downwind import DAG
        from downwind.operators.python import PythonOperator

        def work(ti):
            if ti.try_number == 1:
                Path({str(pid_file)!r}).write_text(str(os.getpid()))
                time.sleep(60)
            return ti.try_number

        with DAG("victim", start_date=datetime(2026, 1, 1), schedule=None):
            PythonOperator(task_id="work", python_callable=work, retries=1,
                           retry_delay=timedelta(0))
        """,
    )
    env.parse()
    env.unpause("victim")
    with env.sessions.begin() as session:
        run_id = trigger_dag_run(session, "victim", now=datetime.now(UTC)).run_id

    killed = []

    def kill_then_wait(session) -> bool:
        if not killed and pid_file.exists() and pid_file.read_text():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
            killed.append(time.monotonic())
        return all_runs_finished("victim", 1)(session)

    env.run_until(kill_then_wait)
    ti = env.task_instances("victim", run_id)[f"{run_id}/work"]
    assert killed
    assert (ti.state, ti.try_number) == ("success", 2)
    with env.sessions() as session:
        (first,) = session.scalars(select(TaskInstanceHistory)).all()
    assert first.state == "up_for_retry"
    log = Path(
        env.home, "logs", "dag_id=victim", f"run_id={run_id}", "task_id=work", "attempt=1.log"
    ).read_text()
    assert "SIGKILL" in log


def test_max_active_tasks_limits_a_dags_concurrency(env: SchedulerEnv):
    env.write_dag(
        "narrow",
        """
        import time
        from datetime import datetime
        from downwind import DAG
        from downwind.operators.python import PythonOperator

        with DAG("narrow", start_date=datetime(2026, 1, 1), schedule=None, max_active_tasks=1):
            for i in range(3):
                PythonOperator(task_id=f"t{i}", python_callable=lambda: time.sleep(0.3))
        """,
    )
    env.parse()
    env.unpause("narrow")
    with env.sessions.begin() as session:
        run_id = trigger_dag_run(session, "narrow", now=datetime.now(UTC)).run_id
    env.run_until(all_runs_finished("narrow", 1), parallelism=3)
    tis = sorted(env.task_instances("narrow", run_id).values(), key=lambda t: t.start_date)
    assert [t.state for t in tis] == ["success"] * 3
    for before, after in itertools.pairwise(tis):
        assert after.start_date >= before.end_date


def test_a_paused_dags_triggered_run_waits_until_it_is_unpaused(env: SchedulerEnv):
    env.write_dag(
        "sleepy",
        """
        from datetime import datetime
        from downwind import DAG
        from downwind.operators.empty import EmptyOperator

        with DAG("sleepy", start_date=datetime(2026, 1, 1), schedule=None):
            EmptyOperator(task_id="only")
        """,
    )
    env.parse()  # new DAGs start paused
    with env.sessions.begin() as session:
        run_id = trigger_dag_run(session, "sleepy", now=datetime.now(UTC)).run_id

    polls = []

    def a_few_passes(session) -> bool:
        polls.append(1)
        return len(polls) > 20

    env.run_until(a_few_passes)
    assert env.runs("sleepy")[0].state == "queued"
    env.unpause("sleepy")
    env.run_until(all_runs_finished("sleepy", 1))
    assert env.runs("sleepy")[0].state == "success"
    assert env.runs("sleepy")[0].run_id == run_id


def test_a_killed_bash_task_takes_its_command_with_it(env: SchedulerEnv, tmp_path: Path):
    task_pid, sleep_pid = tmp_path / "task_pid", tmp_path / "sleep_pid"
    env.write_dag(
        "shell",
        f"""
        from datetime import datetime
        from downwind import DAG
        from downwind.operators.bash import BashOperator

        with DAG("shell", start_date=datetime(2026, 1, 1), schedule=None):
            BashOperator(
                task_id="long",
                bash_command="echo $PPID > {task_pid}; sleep 30 & echo $! > {sleep_pid}; wait",
            )
        """,
    )
    env.parse()
    env.unpause("shell")
    with env.sessions.begin() as session:
        trigger_dag_run(session, "shell", now=datetime.now(UTC))
    killed = []

    def kill_then_wait(session) -> bool:
        if not killed and sleep_pid.exists() and sleep_pid.read_text().strip():
            os.kill(int(task_pid.read_text()), signal.SIGKILL)
            killed.append(int(sleep_pid.read_text()))
        return all_runs_finished("shell", 1)(session)

    env.run_until(kill_then_wait)
    assert env.runs("shell")[0].state == "failed"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(killed[0]):
        time.sleep(0.05)
    assert not _alive(killed[0]), "the bash command outlived its killed task process"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_max_active_tis_per_dag_limits_a_task_across_runs(env: SchedulerEnv):
    env.write_dag(
        "single_file",
        """
        import time
        from datetime import datetime
        from downwind import DAG
        from downwind.operators.python import PythonOperator

        with DAG("single_file", start_date=datetime(2026, 1, 1), schedule=None):
            PythonOperator(task_id="write", python_callable=lambda: time.sleep(0.3),
                           max_active_tis_per_dag=1)
        """,
    )
    env.parse()
    env.unpause("single_file")
    with env.sessions.begin() as session:
        for day in (1, 2, 3):
            trigger_dag_run(
                session,
                "single_file",
                logical_date=datetime(2026, 1, day, tzinfo=UTC),
                now=datetime.now(UTC),
            )
    env.run_until(all_runs_finished("single_file", 3), parallelism=3)
    tis = sorted(env.task_instances("single_file").values(), key=lambda t: t.start_date)
    assert [t.state for t in tis] == ["success"] * 3
    for before, after in itertools.pairwise(tis):
        assert after.start_date >= before.end_date


def test_dag_callbacks_run_in_a_child_process_when_a_run_ends(env: SchedulerEnv, tmp_path: Path):
    record = tmp_path / "callbacks.txt"
    env.write_dag(
        "announced",
        f"""
        from datetime import datetime
        from downwind import DAG
        from downwind.operators.python import PythonOperator

        def note(context):
            with open({str(record)!r}, "a") as fh:
                fh.write(f"{{context['dag_run'].run_id}} {{context['reason']}}\\n")

        def work(params):
            if params["fail"]:
                raise RuntimeError("asked to fail")

        with DAG("announced", start_date=datetime(2026, 1, 1), schedule=None,
                 params={{"fail": False}}, on_success_callback=note,
                 on_failure_callback=note):
            PythonOperator(task_id="work", python_callable=work)
        """,
    )
    env.parse()
    env.unpause("announced")
    with env.sessions.begin() as session:
        good = trigger_dag_run(session, "announced", run_id="good", now=datetime.now(UTC))
        bad = trigger_dag_run(
            session, "announced", run_id="bad", conf={"fail": True}, now=datetime.now(UTC)
        )
        assert (good.run_id, bad.run_id) == ("good", "bad")

    def both_called(session) -> bool:
        return record.exists() and len(record.read_text().splitlines()) == 2

    env.run_until(both_called)
    assert sorted(record.read_text().splitlines()) == ["bad task_failure", "good success"]
    log = Path(env.home, "logs", "dag_id=announced", "run_id=bad", "dag_callbacks.log")
    assert "Running announced's callbacks for run bad (task_failure)" in log.read_text()
