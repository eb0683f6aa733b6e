"""Run a whole DAG run inside this process: ``downwind dags test`` and ``dag.test()``.

The main thread plays the scheduler: it decides which tasks are ready from their
trigger rules (event-driven, when an upstream task finishes) and hands them to a pool
of threads, each of which runs a task try through the same runner as the real
executors, with an in-memory runtime client.
"""

from __future__ import annotations

import heapq
import logging
import queue
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from downwind.exceptions import DownwindException
from downwind.runner.dag_callbacks import run_dag_callbacks
from downwind.runner.log_capture import TaskLogCapture
from downwind.runner.task_runner import run_task_try
from downwind.runtime import serde
from downwind.runtime.client import DagRunInfo, StartInfo, TaskInstanceKey, TaskOutcome
from downwind.runtime.memory import InMemoryClient, InMemoryStore
from downwind.scheduling.retry import retry_delay_for
from downwind.scheduling.run_decisions import run_outcome
from downwind.scheduling.trigger_rules import Decision, UpstreamStates, decide
from downwind.states import (
    TASK_FINISHED,
    Actor,
    DagRunState,
    TaskInstanceState,
    check_dag_run_transition,
    check_task_transition,
)

if TYPE_CHECKING:
    from downwind.sdk.dag import DAG

log = logging.getLogger("downwind.dag_test")
TI = TaskInstanceState


@dataclass(slots=True)
class TryRecord:
    """One finished try of a task instance."""

    try_number: int
    state: TaskInstanceState
    start_date: datetime | None
    end_date: datetime | None
    error: str | None = None


@dataclass(slots=True)
class TaskInstanceRecord:
    """A task instance of an in-process run."""

    task_id: str
    max_tries: int
    map_index: int = -1
    state: TaskInstanceState | None = None
    try_number: int = 0
    start_date: datetime | None = None
    end_date: datetime | None = None
    error: str | None = None
    tries: list[TryRecord] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        if self.start_date is None or self.end_date is None:
            return None
        return (self.end_date - self.start_date).total_seconds()


@dataclass
class InProcessRun:
    """The result of :func:`run_dag_in_process`."""

    dag_id: str
    info: DagRunInfo
    store: InMemoryStore
    task_instances: dict[str, TaskInstanceRecord]
    state: DagRunState = DagRunState.QUEUED
    start_date: datetime | None = None
    end_date: datetime | None = None

    @property
    def run_id(self) -> str:
        return self.info.run_id

    @property
    def logical_date(self) -> datetime:
        return self.info.logical_date

    @property
    def conf(self) -> dict[str, Any]:
        return self.info.conf

    def get_task_instance(self, task_id: str) -> TaskInstanceRecord:
        return self.task_instances[task_id]

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        """A task's XCom value after the run (``None`` if it pushed none)."""
        return self.store.pull_xcom(
            dag_id=self.dag_id, run_id=self.run_id, task_id=task_id, key=key, map_index=None
        )


class RunReporter(Protocol):
    """Receives the progress of an in-process run (for printing)."""

    def run_started(self, run: InProcessRun) -> None: ...

    def task_state(self, run: InProcessRun, ti: TaskInstanceRecord) -> None: ...

    def task_started(self, run: InProcessRun, task_id: str, try_number: int) -> None:
        """A try began (called from the thread that runs it, before its first log line)."""
        ...

    def task_log(self, task_id: str, line: str) -> None:
        """Called from the thread that runs the task."""
        ...

    def run_finished(self, run: InProcessRun) -> None: ...


def _now() -> datetime:
    return datetime.now(UTC)


def new_run_info(
    dag: DAG, logical_date: datetime | None, conf: Any, *, run_type: str = "manual"
) -> DagRunInfo:
    """The identity of a manual run of ``dag``; refuses a conf that is not a JSON object,
    cannot be serialized, or breaks the DAG's params."""
    if conf is None:
        conf = {}
    if not isinstance(conf, dict):
        raise DownwindException(
            f"run conf must be a JSON object (a dict), got {type(conf).__name__}"
        )
    conf = serde.loads(serde.dumps(conf))
    dag.params.resolve(conf)
    now = _now()
    if logical_date is None:
        logical_date = now.replace(microsecond=0)
    elif logical_date.tzinfo is None:
        logical_date = logical_date.replace(tzinfo=dag.timezone)
    logical_date = logical_date.astimezone(UTC)
    interval = dag.timetable.infer_manual_data_interval(logical_date)
    return DagRunInfo(
        dag_id=dag.dag_id,
        run_id=f"test__{logical_date.isoformat()}",
        logical_date=logical_date,
        data_interval_start=interval.start,
        data_interval_end=interval.end,
        run_type=run_type,
        conf=conf,
        start_date=now,
    )


class _InProcessScheduler:
    def __init__(
        self,
        dag: DAG,
        run: InProcessRun,
        reporter: RunReporter | None,
        *,
        wait_retry_delay: bool,
        max_workers: int,
    ) -> None:
        self.dag = dag
        self.run = run
        self.reporter = reporter
        self.wait_retry_delay = wait_retry_delay
        self.pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="dw-task")
        self.messages: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.upstream = {
            tid: UpstreamStates(total=len(task.upstream_task_ids))
            for tid, task in dag.task_dict.items()
        }
        self.retry_heap: list[tuple[float, str]] = []
        self.running = 0
        self.unfinished = len(dag.task_dict)
        self.capture = TaskLogCapture(reporter.task_log if reporter else _discard)

    # -- state changes (main thread only) ------------------------------------------------

    def _set(self, ti: TaskInstanceRecord, state: TaskInstanceState | None, actor: Actor) -> None:
        check_task_transition(ti.state, state, actor)
        ti.state = state
        if self.reporter is not None:
            self.reporter.task_state(self.run, ti)

    def _finish(self, task_id: str, state: TaskInstanceState, actor: Actor) -> None:
        """Put a task instance in a finished state and let its downstream react."""
        work = [(task_id, state, actor)]
        while work:
            tid, new_state, who = work.pop()
            ti = self.run.task_instances[tid]
            if ti.state in TASK_FINISHED:
                continue
            self._set(ti, new_state, who)
            self.unfinished -= 1
            for child in sorted(self.dag.task_dict[tid].downstream_task_ids):
                self.upstream[child].add(new_state)
                decision = self._decide(child)
                if decision is Decision.RUN:
                    self._queue(child)
                elif decision is Decision.SKIP:
                    work.append((child, TI.SKIPPED, Actor.SCHEDULER))
                elif decision is Decision.UPSTREAM_FAILED:
                    work.append((child, TI.UPSTREAM_FAILED, Actor.SCHEDULER))

    def _decide(self, task_id: str) -> Decision:
        if self.run.task_instances[task_id].state is not None:
            return Decision.WAIT
        return decide(self.dag.task_dict[task_id].trigger_rule, self.upstream[task_id])

    def _queue(self, task_id: str) -> None:
        ti = self.run.task_instances[task_id]
        if ti.state is None:
            self._set(ti, TI.SCHEDULED, Actor.SCHEDULER)
        self._set(ti, TI.QUEUED, Actor.SCHEDULER)
        ti.try_number += 1
        self.running += 1
        self.pool.submit(
            self._run_try, task_id, StartInfo(self.run.info, ti.try_number, ti.max_tries)
        )

    # -- worker threads ---------------------------------------------------------------

    def _run_try(self, task_id: str, start: StartInfo) -> None:
        skipped: list[str] = []
        key = TaskInstanceKey(self.dag.dag_id, self.run.run_id, task_id)
        client = _ReportingClient(key, self.run.store, start, on_skip=skipped.extend)
        client.messages = self.messages
        client.announce = self._announce
        try:
            with self.capture.task(task_id):
                outcome = run_task_try(self.dag.task_dict[task_id], client, test_mode=True)
        except BaseException as err:
            outcome = TaskOutcome(TI.FAILED, error=f"{type(err).__name__}: {err}")
        self.messages.put(("done", task_id, outcome, skipped, _now()))

    def _announce(self, task_id: str, try_number: int) -> None:
        if self.reporter is not None:
            self.reporter.task_started(self.run, task_id, try_number)

    # -- the loop ---------------------------------------------------------------------

    def execute(self) -> None:
        with self.capture:
            try:
                for task in self.dag.topological_sort():
                    if self._decide(task.task_id) is Decision.RUN:
                        self._queue(task.task_id)
                while self.unfinished:
                    self._handle(self._next_message())
                    self._release_due_retries()
            finally:
                self.pool.shutdown(wait=False, cancel_futures=True)

    def _next_message(self) -> tuple[Any, ...] | None:
        if self.running == 0 and not self.retry_heap:
            raise DownwindException("in-process run is stuck: no task can run (a bug)")
        timeout = None
        if self.retry_heap:
            timeout = max(self.retry_heap[0][0] - time.monotonic(), 0)
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            return None

    def _handle(self, message: tuple[Any, ...] | None) -> None:
        if message is None:
            return
        kind, task_id, *rest = message
        ti = self.run.task_instances[task_id]
        if kind == "started":
            ti.start_date, ti.end_date, ti.error = rest[0], None, None
            self._set(ti, TI.RUNNING, Actor.RUNNER)
            return
        outcome, skipped, ended = rest
        self.running -= 1
        ti.end_date = ended
        ti.error = outcome.error
        ti.tries.append(
            TryRecord(ti.try_number, outcome.state, ti.start_date, ended, outcome.error)
        )
        if ti.state is not TI.RUNNING:  # never started (the runner itself broke)
            self._set(ti, TI.RUNNING, Actor.RUNNER)
        for skip_id in skipped:
            if self.run.task_instances[skip_id].state is None:
                self._finish(skip_id, TI.SKIPPED, Actor.RUNNER)
        if outcome.state is TI.UP_FOR_RETRY:
            self._set(ti, TI.UP_FOR_RETRY, Actor.RUNNER)
            task = self.dag.task_dict[task_id]
            delay = timedelta(0)
            if self.wait_retry_delay:
                delay = retry_delay_for(
                    ti.try_number,
                    task.retry_delay,
                    exponential_backoff=task.retry_exponential_backoff,
                    max_retry_delay=task.max_retry_delay,
                )
            heapq.heappush(self.retry_heap, (time.monotonic() + delay.total_seconds(), task_id))
            return
        self._finish(task_id, outcome.state, Actor.RUNNER)

    def _release_due_retries(self) -> None:
        now = time.monotonic()
        while self.retry_heap and self.retry_heap[0][0] <= now:
            _, task_id = heapq.heappop(self.retry_heap)
            ti = self.run.task_instances[task_id]
            self._set(ti, TI.SCHEDULED, Actor.SCHEDULER)
            self._queue(task_id)


class _ReportingClient(InMemoryClient):
    """An in-memory client that tells the in-process scheduler when its try starts."""

    messages: queue.SimpleQueue[tuple[Any, ...]]
    announce: Any

    def start(self) -> StartInfo:
        info = super().start()
        self.messages.put(("started", self.key.task_id, _now()))
        self.announce(self.key.task_id, info.try_number)
        return info


def _discard(task_id: str, line: str) -> None:
    del task_id, line


def run_dag_in_process(
    dag: DAG,
    *,
    logical_date: datetime | None = None,
    conf: dict[str, Any] | None = None,
    wait_retry_delay: bool = False,
    reporter: RunReporter | None = None,
    store: InMemoryStore | None = None,
    max_workers: int | None = None,
) -> InProcessRun:
    """Run one DAG run of ``dag`` in this process and return it when it is finished.

    Independent tasks run in parallel threads (at most ``max_workers``, by default
    ``[core] parallelism``); retries happen at once unless ``wait_retry_delay``.
    """
    from downwind.config import get_config

    if reporter is None:
        from downwind.runner.console import ConsoleReporter

        reporter = ConsoleReporter()
    dag.validate()
    info = new_run_info(dag, logical_date, conf)
    run = InProcessRun(
        dag_id=dag.dag_id,
        info=info,
        store=store or InMemoryStore(),
        task_instances={
            tid: TaskInstanceRecord(task_id=tid, max_tries=task.retries)
            for tid, task in dag.task_dict.items()
        },
    )
    workers = max_workers or get_config().core.parallelism
    run.start_date = _now()
    check_dag_run_transition(run.state, DagRunState.RUNNING, Actor.SCHEDULER)
    run.state = DagRunState.RUNNING
    reporter.run_started(run)
    _InProcessScheduler(
        dag, run, reporter, wait_retry_delay=wait_retry_delay, max_workers=workers
    ).execute()
    states = {task_id: ti.state for task_id, ti in run.task_instances.items()}
    final = run_outcome(states, [t.task_id for t in dag.leaves]) or DagRunState.FAILED
    check_dag_run_transition(run.state, final, Actor.SCHEDULER)
    run.state = final
    run.end_date = _now()
    _dag_callback(dag, run)
    reporter.run_finished(run)
    return run


def _dag_callback(dag: DAG, run: InProcessRun) -> None:
    failed = run.state is DagRunState.FAILED
    run_dag_callbacks(dag, run.info, failed=failed, reason="task_failure" if failed else "success")
