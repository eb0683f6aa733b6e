"""The scheduler loop: create due runs, decide which task instances are ready, queue
them on the executor, and react at once when the executor reports a try's end.

Each pass is a few short transactions; the loop sleeps only while nothing is ready,
and the executor wakes it as soon as a try starts or ends (event-driven hand-offs,
polling as the fallback).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from downwind.config import Config
from downwind.executors.base import BaseExecutor, ExecutorEvent, TaskWorkload
from downwind.metastore.engine import write_transaction
from downwind.metastore.models import DagModel, DagRun, TaskInstance
from downwind.metastore.types import utcnow
from downwind.runner.log_paths import append_log_line, task_log_path
from downwind.runtime.client import DagRunInfo, TaskInstanceKey
from downwind.scheduler.backfills import advance_backfills
from downwind.scheduler.callbacks import DagCallbackLauncher
from downwind.scheduler.liveness import (
    adopt_orphans,
    end_job,
    find_zombies,
    heartbeat_job,
    register_job,
)
from downwind.scheduler.runs import (
    create_due_runs,
    finish_run_if_done,
    look_again,
    queued_runs_mark,
    start_queued_runs,
)
from downwind.scheduler.tasks import QueuedTry, key_of, queue_ready_tasks, update_task_states
from downwind.sdk.serialization import SerializedDAG
from downwind.services.dag_registry import load_serialized_dag
from downwind.services.task_runtime import DbRuntimeHandler, run_info
from downwind.states import (
    TASK_FINISHED,
    Actor,
    DagRunState,
    TaskInstanceState,
    check_dag_run_transition,
    check_task_transition,
)

TI = TaskInstanceState

log = logging.getLogger("downwind.scheduler")
_PARSE_POLL = 0.05
#: longest time the ends of tries wait to be decided together while the executor
#: still has queued work (see ``Scheduler._light_pass_due``)
_MAX_GATHER = 0.1


@dataclass
class SchedulerSettings:
    """Timings of the loop (from ``[scheduler]`` options)."""

    base_log_folder: Path
    #: longest wait for an executor event when nothing is ready
    poll_interval: float = 0.25
    #: how often the scheduler's job row is heartbeated
    heartbeat_interval: float = 5.0
    #: a scheduler whose heartbeat is older than this is dead (its work is adopted)
    health_check_threshold: timedelta = timedelta(seconds=30)
    #: a running task instance without heartbeat for this long is a zombie
    zombie_threshold: timedelta = timedelta(seconds=60)
    #: how often zombies are looked for
    zombie_check_interval: float = 10.0
    #: on stop, how long running tries may take to finish before they are killed
    graceful_stop_timeout: float = 30.0
    #: how long a DAG-level callback may run before it is killed
    dag_callback_timeout: float = 60.0
    #: how often an idle scheduler looks for runs triggered or cleared by others
    trigger_probe_interval: float = 0.02


def settings_from_config(conf: Config) -> SchedulerSettings:
    """The loop's timings from the ``[scheduler]`` and ``[logging]`` options."""
    options = conf.scheduler
    return SchedulerSettings(
        base_log_folder=conf.logging.base_log_folder,
        poll_interval=options.idle_sleep_time,
        heartbeat_interval=options.scheduler_heartbeat_sec,
        health_check_threshold=timedelta(seconds=options.scheduler_health_check_threshold),
        zombie_threshold=timedelta(seconds=options.task_heartbeat_timeout),
        zombie_check_interval=options.zombie_detection_interval,
        graceful_stop_timeout=options.graceful_stop_timeout,
        dag_callback_timeout=conf.dag_processor.dag_file_processor_timeout,
    )


class Scheduler:
    """One scheduler process: owns an executor and (optionally) a DAG processor step."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        executor: BaseExecutor,
        settings: SchedulerSettings,
        *,
        processor_step: Callable[[datetime], Any] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = session_factory
        self.executor = executor
        self.settings = settings
        self.processor_step = processor_step
        self.clock = clock
        self.handler = DbRuntimeHandler(session_factory, clock=clock)
        self.callbacks = DagCallbackLauncher(
            settings.base_log_folder, settings.dag_callback_timeout
        )
        #: DAG callbacks of runs that ended in the current pass, started once it commits
        self._ended: list[tuple[str, DagRunInfo, bool, str]] = []
        self.job_id: int | None = None
        self._last_heartbeat = 0.0
        self._last_zombie_check = 0.0
        self._last_full_pass = -float("inf")
        self._full_pass_due = True
        #: runs with a try that ended since the last pass (``(dag_id, run_id)``)
        self._dirty_runs: set[tuple[str, str]] = set()
        self._dirty_since = 0.0
        self._last_probe = 0.0
        #: what :func:`queued_runs_mark` read at the last full pass
        self._trigger_mark: Any = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Register the job, adopt what a dead scheduler left, start the executor."""
        now = self.clock()
        with write_transaction(self.sessions) as session:
            self.job_id = register_job(session, "scheduler", now).id
            requeued, lost = adopt_orphans(
                session, self.job_id, now, self.settings.health_check_threshold
            )
        if requeued or lost:
            log.info(
                "Adopted the work of a stopped scheduler: re-queued %d queued task "
                "instance(s); %d that were running stopped with it",
                requeued,
                len(lost),
            )
        for key in lost:
            self._crashed(key, "its scheduler stopped while it ran")
        self.executor.start(self.handler)
        self._last_heartbeat = time.monotonic()

    def stop(self) -> None:
        """Let running tries finish (up to ``graceful_stop_timeout``), then end the job."""
        if self.executor.running:
            log.info(
                "Waiting up to %g s for %d running task(s) to finish",
                self.settings.graceful_stop_timeout,
                len(self.executor.running),
            )
        self.executor.end(self.settings.graceful_stop_timeout)
        self.handler.flush()
        self.callbacks.close()
        if self.job_id is not None:
            with write_transaction(self.sessions) as session:
                end_job(session, self.job_id, self.clock())

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set."""
        self.start()
        failures = 0
        try:
            while not stop.is_set():
                try:
                    self.step()
                    failures = 0
                except OperationalError as err:
                    # The metastore is unreachable or busy: wait, then try the pass again.
                    failures += 1
                    delay = min(2.0 ** (failures - 1), 30.0)
                    log.error(
                        "scheduler pass failed (%s); retrying in %g s",
                        str(err.orig or err).splitlines()[0],
                        delay,
                    )
                    stop.wait(delay)
        finally:
            self.stop()

    # -- one pass ---------------------------------------------------------------------

    def step(self) -> list[ExecutorEvent]:
        """One pass, then wait for executor events.

        A *full* pass (due runs, backfills, queued runs, every running run) happens every
        ``poll_interval``, after a run ended, and as soon as the trigger probe sees a run
        queued by someone else. In between, a try's end costs a *light* pass over its
        own run only (its downstream decided and queued at once); a try's start costs no
        pass at all.
        """
        now = self.clock()
        mono = time.monotonic()
        parsing = False
        if self.processor_step is not None:
            parsing = bool(getattr(self.processor_step(now), "running", 0))
        full = self._full_pass_due or mono - self._last_full_pass >= self.settings.poll_interval
        workloads: list[TaskWorkload] = []
        events: list[ExecutorEvent] = []
        if full or self._light_pass_due(mono):
            # Answer the tries waiting on a reply (a start) before the pass, so that they
            # do not sit idle through it.
            events = self._note_events(self.executor.sync(0))
            workloads = self._pass(now, full)
            if full:
                self._last_full_pass = mono
        self._start_dag_callbacks()
        for workload in workloads:
            log.info("Queued %s try %d", _label(workload), workload.try_number)
            self.executor.queue_workload(workload)
        events += self._note_events(self.executor.sync(self._wait(mono, parsing)))
        if not events and not self._full_pass_due:
            self._probe_triggers()
        self._housekeeping()
        return events

    def _note_events(self, events: list[ExecutorEvent]) -> list[ExecutorEvent]:
        """Log the executor's events; the run of a try that ended has decisions to make."""
        for event in events:
            log.info("%s %s", _label_key(event.key), event.state or event.kind)
            if event.kind != "started":
                if not self._dirty_runs:
                    self._dirty_since = time.monotonic()
                self._dirty_runs.add((event.key.dag_id, event.key.run_id))
        return events

    def _pass(self, now: datetime, full: bool) -> list[TaskWorkload]:
        dirty, self._dirty_runs = self._dirty_runs, set()
        self.handler.flush()  # what the tries said, before deciding on it
        with write_transaction(self.sessions) as session:
            if full:
                create_due_runs(session, now)
                advance_backfills(session, now)
                start_queued_runs(session, now)
                self._trigger_mark = queued_runs_mark(session)
            ended = self._update_running_runs(session, now, None if full else dirty)
            queued = queue_ready_tasks(session, self.executor.open_slots, now, self.job_id)
        workloads = self._workloads(queued)
        # A run that ended may let a queued one start: look again at once.
        self._full_pass_due = ended > 0
        return workloads

    def _light_pass_due(self, mono: float) -> bool:
        """Tries ended: decide their runs now if the executor could use more work (or
        the ends have waited ``_MAX_GATHER`` s); else gather more ends into one pass."""
        if not self._dirty_runs:
            return False
        return self.executor.wants_work or mono - self._dirty_since >= _MAX_GATHER

    def _wait(self, mono: float, parsing: bool) -> float:
        """How long the executor may wait for events before the next pass."""
        if self._full_pass_due or self._light_pass_due(mono):
            return 0.0
        wait = max(self.settings.poll_interval - (mono - self._last_full_pass), 0.0)
        if self._dirty_runs:
            wait = min(wait, max(_MAX_GATHER - (mono - self._dirty_since), 0.0))
        if parsing:  # collect the DAG files being parsed soon after they are done
            wait = min(wait, _PARSE_POLL)
        return min(wait, self.settings.trigger_probe_interval)

    def _probe_triggers(self) -> None:
        """Start a full pass now if a run was triggered or cleared since the last one
        (a cheap indexed read, so that a trigger does not wait for ``poll_interval``)."""
        mono = time.monotonic()
        last_look = max(self._last_probe, self._last_full_pass)
        if mono - last_look < self.settings.trigger_probe_interval:
            return
        self._last_probe = mono
        with self.sessions() as session:
            mark = queued_runs_mark(session)
        if mark != self._trigger_mark:
            self._full_pass_due = True

    def _update_running_runs(
        self, session: Session, now: datetime, only: set[tuple[str, str]] | None
    ) -> int:
        """Decide the task states of the running runs (of ``only`` those runs, when
        given); return how many runs ended."""
        ended = 0
        query = select(DagRun).where(DagRun.state == DagRunState.RUNNING.value)
        if only is not None:
            query = query.where(tuple_(DagRun.dag_id, DagRun.run_id).in_(list(only)))
        for run in session.scalars(query).all():
            dag = load_serialized_dag(session, run.dag_id, run.dag_version_id)
            states = update_task_states(session, run, dag, now)
            timeout = dag.dagrun_timeout
            if timeout is not None and run.start_date and now - run.start_date > timeout:
                self._time_out_run(session, run, now)
                self._note_ended(session, run, dag, failed=True, reason="timed_out")
                ended += 1
                continue
            if states is None:  # nothing to decide and work still to do
                continue
            outcome = finish_run_if_done(session, run, dag, now, states)
            if outcome is not None:
                failed = outcome is DagRunState.FAILED
                reason = "task_failure" if failed else "success"
                self._note_ended(session, run, dag, failed=failed, reason=reason)
                ended += 1
        return ended

    def _note_ended(
        self, session: Session, run: DagRun, dag: SerializedDAG, *, failed: bool, reason: str
    ) -> None:
        """Remember a run that ended whose DAG has a callback for how it ended."""
        if not (dag.has_on_failure_callback if failed else dag.has_on_success_callback):
            return
        fileloc = session.scalar(select(DagModel.fileloc).where(DagModel.dag_id == run.dag_id))
        if fileloc:
            self._ended.append((fileloc, run_info(session, run), failed, reason))

    def _start_dag_callbacks(self) -> None:
        ended, self._ended = self._ended, []
        for fileloc, info, failed, reason in ended:
            try:
                self.callbacks.launch(fileloc, info, failed=failed, reason=reason)
            except OSError as err:
                log.error("cannot start the DAG callback of %s: %s", info.run_id, err)

    def _time_out_run(self, session: Session, run: DagRun, now: datetime) -> None:
        """``dagrun_timeout`` passed: unfinished tasks are stopped or skipped, run failed."""
        log.warning("Run %s of DAG %s timed out (dagrun_timeout)", run.run_id, run.dag_id)
        for ti in session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id
            )
        ):
            old = TI(ti.state) if ti.state is not None else None
            if old in TASK_FINISHED:
                continue
            if old in (TI.QUEUED, TI.RUNNING):
                self.executor.kill(key_of(ti), "the DAG run timed out (dagrun_timeout)")
            new = TI.SKIPPED if old in (None, TI.SCHEDULED) else TI.FAILED
            check_task_transition(old, new, Actor.SCHEDULER)
            ti.state = new.value
            ti.end_date = now
        check_dag_run_transition(DagRunState.RUNNING, DagRunState.FAILED, Actor.SCHEDULER)
        run.state = DagRunState.FAILED.value
        run.end_date = now
        look_again(session, run.dag_id)

    def _workloads(self, queued: list[QueuedTry]) -> list[TaskWorkload]:
        """What the executor needs to run each queued try."""
        return [
            TaskWorkload(
                key=item.key,
                ti_id=item.ti_id,
                try_number=item.try_number,
                dag_fileloc=item.dag_fileloc,
                queue=item.queue,
                priority=item.priority,
                log_path=str(
                    task_log_path(self.settings.base_log_folder, item.key, item.try_number)
                ),
            )
            for item in queued
        ]

    def _housekeeping(self) -> None:
        self.callbacks.reap()
        mono = time.monotonic()
        if mono - self._last_heartbeat >= self.settings.heartbeat_interval and self.job_id:
            with write_transaction(self.sessions) as session:
                heartbeat_job(session, self.job_id, self.clock())
            self._last_heartbeat = mono
        if mono - self._last_zombie_check >= self.settings.zombie_check_interval:
            self._last_zombie_check = mono
            with self.sessions() as session:
                zombies = find_zombies(
                    session, self.clock(), self.settings.zombie_threshold, self.executor.running
                )
            for key in zombies:
                log.warning("%s stopped heartbeating: treated as crashed", _label_key(key))
                self._crashed(
                    key,
                    "no heartbeat for more than "
                    f"{self.settings.zombie_threshold.total_seconds():g} s (its process is gone)",
                )

    def _crashed(self, key: TaskInstanceKey, reason: str) -> None:
        """A try whose process is gone: say so in its log, then retry or fail it."""
        with self.sessions() as session:
            try_number = session.scalar(
                select(TaskInstance.try_number).where(
                    TaskInstance.dag_id == key.dag_id,
                    TaskInstance.run_id == key.run_id,
                    TaskInstance.task_id == key.task_id,
                    TaskInstance.map_index == key.map_index,
                )
            )
        if try_number:
            path = task_log_path(self.settings.base_log_folder, key, try_number)
            append_log_line(path, f"The task process was lost: {reason}")
        self.handler.crashed(key, reason)


def _label(workload: TaskWorkload) -> str:
    return _label_key(workload.key)


def _label_key(key: Any) -> str:
    index = "" if key.map_index == -1 else f"[{key.map_index}]"
    return f"{key.dag_id}.{key.task_id}{index} ({key.run_id})"
