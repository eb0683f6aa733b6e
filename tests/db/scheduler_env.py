"""A real scheduler on a real metastore for tests: DAG files in a folder, the DAG
processor, the local executor's worker processes, the scheduler loop in a thread."""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from downwind.config import get_config
from downwind.dag_processing.manager import DagProcessorManager
from downwind.executors.local import LocalExecutor
from downwind.metastore.engine import get_engine, session_factory
from downwind.metastore.migrate import upgrade
from downwind.metastore.models import DagModel, DagRun, TaskInstance
from downwind.scheduler.loop import Scheduler, SchedulerSettings


class SchedulerEnv:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.dags_folder = home / "dags"
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        upgrade(get_engine())
        self.sessions = session_factory(get_engine())

    def write_dag(self, name: str, source: str) -> Path:
        path = self.dags_folder / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        return path

    def parse(self) -> None:
        with DagProcessorManager.from_config(get_config()) as manager:
            manager.run_once(self.sessions, datetime.now(UTC))

    def unpause(self, *dag_ids: str) -> None:
        with self.sessions.begin() as session:
            for dag_id in dag_ids:
                session.get(DagModel, dag_id).is_paused = False

    def run_until(
        self,
        done: Callable[[Session], bool],
        *,
        timeout: float = 30.0,
        parallelism: int = 2,
        settings: dict[str, Any] | None = None,
    ) -> None:
        """Run a scheduler until ``done(session)`` is true; fail after ``timeout`` s."""
        conf = get_config()
        executor = LocalExecutor(
            parallelism, dags_folder=conf.core.dags_folder, heartbeat_interval=1.0
        )
        scheduler = Scheduler(
            self.sessions,
            executor,
            SchedulerSettings(
                base_log_folder=conf.logging.base_log_folder, poll_interval=0.2, **(settings or {})
            ),
        )
        stop = threading.Event()
        errors: list[BaseException] = []

        def target() -> None:
            try:
                scheduler.run(stop)
            except BaseException as err:  # surfaced in the test
                errors.append(err)

        thread = threading.Thread(target=target, name="scheduler")
        thread.start()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not errors:
                with self.sessions() as session:
                    if done(session):
                        return
                time.sleep(0.05)
            raise AssertionError(f"not done after {timeout} s: {self.describe()}")
        finally:
            stop.set()
            thread.join(60)
            if errors:
                raise errors[0]

    # -- reading ----------------------------------------------------------------------

    def runs(self, dag_id: str) -> list[DagRun]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.logical_date)
                )
            )

    def task_instances(self, dag_id: str, run_id: str | None = None) -> dict[str, TaskInstance]:
        with self.sessions() as session:
            query = select(TaskInstance).where(TaskInstance.dag_id == dag_id)
            if run_id is not None:
                query = query.where(TaskInstance.run_id == run_id)
            return {f"{ti.run_id}/{ti.task_id}": ti for ti in session.scalars(query)}

    def describe(self) -> str:
        with self.sessions() as session:
            runs = [(r.dag_id, r.run_id, r.state) for r in session.scalars(select(DagRun))]
            tis = [
                (t.run_id, t.task_id, t.state, t.try_number)
                for t in session.scalars(select(TaskInstance))
            ]
        return f"runs={runs} task_instances={tis}"


def all_runs_finished(dag_id: str, count: int) -> Callable[[Session], bool]:
    def done(session: Session) -> bool:
        states = session.scalars(select(DagRun.state).where(DagRun.dag_id == dag_id)).all()
        return len(states) >= count and all(s in ("success", "failed") for s in states)

    return done
