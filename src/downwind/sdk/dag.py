"""``DAG``: a pipeline's tasks, schedule and run settings."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from downwind.exceptions import DagDefinitionError, DuplicateTaskIdFound
from downwind.sdk.context import pop_dag, push_dag, register_dag
from downwind.sdk.graph import TaskGraph, check_acyclic, topological_order

if TYPE_CHECKING:
    from downwind.sdk.baseoperator import BaseOperator
    from downwind.timetables import Timetable

_DAG_ID_RE = re.compile(r"[A-Za-z0-9_.-]+")
_NOTSET: Any = object()
DagCallback = Callable[[dict[str, Any]], Any]


def _as_aware(value: datetime | None, name: str, tz: tzinfo) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise DagDefinitionError(f"{name} must be a datetime, got {type(value).__name__}")
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def _dag_timezone(start_date: Any, default: ZoneInfo) -> tzinfo:
    """The DAG's timezone: that of an aware ``start_date`` (as in Airflow), else the
    configured default. UTC from ``datetime.UTC`` (what ``days_ago`` returns) is named
    ``ZoneInfo("UTC")``; a pytz or pendulum zone is taken by its name."""
    tz = start_date.tzinfo if isinstance(start_date, datetime) else None
    if tz is None or isinstance(tz, ZoneInfo):
        return tz or default
    if isinstance(tz, timezone):
        return ZoneInfo("UTC") if tz.utcoffset(None) == timedelta(0) else tz
    name = getattr(tz, "key", None) or getattr(tz, "zone", None) or getattr(tz, "name", None)
    if isinstance(name, str):
        try:
            return ZoneInfo(name)
        except (ValueError, KeyError, OSError):
            pass
    return tz


def _as_tags(tags: Iterable[str] | None, dag_id: str) -> list[str]:
    values = None if tags is None or isinstance(tags, str) else list(tags)
    if (tags is not None and values is None) or not all(isinstance(t, str) for t in values or ()):
        raise DagDefinitionError(
            f"DAG '{dag_id}': tags must be a list of strings, e.g. tags=[\"etl\"], got {tags!r}"
        )
    return sorted(set(values or ()))


class DAG(TaskGraph["BaseOperator"]):
    """A directed acyclic graph of tasks with a schedule.

    Use it as a context manager (``with DAG(...) as dag:``) or pass ``dag=dag`` to each
    task. ``schedule`` accepts ``None``, ``"@once"``, a preset (``"@daily"``...), a cron
    expression or a ``timedelta``; ``schedule_interval`` is its older name.
    """

    def __init__(
        self,
        dag_id: str,
        description: str | None = None,
        schedule: Any = _NOTSET,
        schedule_interval: Any = _NOTSET,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        catchup: bool | None = None,
        default_args: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        max_active_runs: int | None = None,
        max_active_tasks: int | None = None,
        tags: Iterable[str] | None = None,
        doc_md: str | None = None,
        dagrun_timeout: timedelta | None = None,
        on_success_callback: DagCallback | list[DagCallback] | None = None,
        on_failure_callback: DagCallback | list[DagCallback] | None = None,
        template_searchpath: str | Iterable[str] | None = None,
        template_undefined: type | None = None,
        user_defined_macros: dict[str, Any] | None = None,
        user_defined_filters: dict[str, Callable[..., Any]] | None = None,
        render_template_as_native_obj: bool = False,
        is_paused_upon_creation: bool | None = None,
        owner_links: dict[str, str] | None = None,
        fileloc: str | None = None,
    ) -> None:
        from downwind.config import get_config
        from downwind.sdk.params import ParamsDict
        from downwind.timetables import timetable_from_schedule

        if not isinstance(dag_id, str) or not _DAG_ID_RE.fullmatch(dag_id) or len(dag_id) > 250:
            raise DagDefinitionError(
                f"invalid dag_id {dag_id!r}: use letters, digits, '_', '-' and '.' "
                "(at most 250 characters)"
            )
        if schedule is not _NOTSET and schedule_interval is not _NOTSET:
            raise DagDefinitionError(
                f"DAG '{dag_id}': give either schedule or schedule_interval (its older name), "
                "not both"
            )
        conf = get_config()
        self.dag_id = dag_id
        self.description = description
        self.default_args = dict(default_args or {})
        if start_date is None:
            start_date = self.default_args.get("start_date")
        self.timezone: tzinfo = _dag_timezone(start_date, conf.timezone)
        self.start_date = _as_aware(start_date, "start_date", self.timezone)
        self.end_date = _as_aware(
            end_date or self.default_args.get("end_date"), "end_date", self.timezone
        )
        self.schedule = schedule if schedule is not _NOTSET else schedule_interval
        if self.schedule is _NOTSET:
            self.schedule = None
        try:
            self.timetable: Timetable = timetable_from_schedule(self.schedule, self.timezone)
        except DagDefinitionError as err:
            raise DagDefinitionError(f"DAG '{dag_id}': {err}") from None
        if self.timetable.can_be_scheduled and self.start_date is None:
            raise DagDefinitionError(
                f"DAG '{dag_id}' has schedule {self.timetable.summary!r} but no start_date"
            )
        self.catchup = conf.scheduler.catchup_by_default if catchup is None else bool(catchup)
        self.params = ParamsDict(params or {})
        self.max_active_runs = max_active_runs or conf.core.max_active_runs_per_dag
        self.max_active_tasks = max_active_tasks or conf.core.max_active_tasks_per_dag
        self.tags = _as_tags(tags, dag_id)
        self.doc_md = doc_md
        self.dagrun_timeout = dagrun_timeout
        self.on_success_callback = on_success_callback
        self.on_failure_callback = on_failure_callback
        if isinstance(template_searchpath, str):
            template_searchpath = [template_searchpath]
        self.template_searchpath = list(template_searchpath or [])
        self.template_undefined = template_undefined
        self.user_defined_macros = user_defined_macros or {}
        self.user_defined_filters = user_defined_filters or {}
        self.render_template_as_native_obj = render_template_as_native_obj
        self.is_paused_upon_creation = is_paused_upon_creation
        self.owner_links = owner_links or {}
        self.fileloc = fileloc or _caller_file()
        self.task_dict: dict[str, BaseOperator] = {}
        register_dag(self)

    # -- tasks ------------------------------------------------------------------------

    def add_task(self, task: BaseOperator) -> None:
        """Add ``task`` to this DAG; a second task with the same id is an error."""
        if task.task_id in self.task_dict and self.task_dict[task.task_id] is not task:
            raise DuplicateTaskIdFound(
                f"task id '{task.task_id}' has already been added to the DAG '{self.dag_id}'"
            )
        if task.dag is not None and task.dag is not self:
            raise DagDefinitionError(
                f"task '{task.task_id}' already belongs to DAG '{task.dag.dag_id}'"
            )
        task.dag = self
        if task.start_date is None:
            task.start_date = self.start_date
        where = f"task '{task.task_id}': "
        task.start_date = _as_aware(task.start_date, where + "start_date", self.timezone)
        task.end_date = _as_aware(task.end_date, where + "end_date", self.timezone)
        self.task_dict[task.task_id] = task

    def topological_sort(self) -> list[BaseOperator]:
        """Tasks ordered so that each comes after its upstream tasks."""
        upstream = {tid: t.upstream_task_ids for tid, t in self.task_dict.items()}
        return [self.task_dict[tid] for tid in topological_order(self.task_dict, upstream)]

    def check_cycle(self) -> None:
        """Raise :class:`~downwind.exceptions.DagCycleError` naming a cycle, if any."""
        downstream = {tid: t.downstream_task_ids for tid, t in self.task_dict.items()}
        check_acyclic(self.dag_id, downstream)

    def validate(self) -> None:
        """Check what cannot be checked while tasks are still being added."""
        self.check_cycle()
        for task in self.task_dict.values():
            # ``set - dict.keys()`` would copy the keys for every task: quadratic.
            missing = {
                rel
                for rel in (*task.upstream_task_ids, *task.downstream_task_ids)
                if rel not in self.task_dict
            }
            if missing:
                raise DagDefinitionError(
                    f"task '{task.task_id}' depends on tasks outside DAG '{self.dag_id}': "
                    f"{', '.join(sorted(missing))}"
                )

    # -- descriptions -----------------------------------------------------------------

    @property
    def owner(self) -> str:
        return ", ".join(sorted({t.owner for t in self.task_dict.values()})) or "downwind"

    @property
    def folder(self) -> str:
        return str(Path(self.fileloc).parent)

    # -- running ----------------------------------------------------------------------

    def test(
        self,
        logical_date: datetime | None = None,
        *,
        run_conf: dict[str, Any] | None = None,
        conf: dict[str, Any] | None = None,
        wait_retry_delay: bool = False,
        execution_date: datetime | None = None,
    ) -> Any:
        """Run one DAG run in this process (like ``downwind dags test``) and return it.

        Each task's progress and log are printed; the returned run has ``state``,
        ``task_instances`` and ``xcom(task_id)``. ``execution_date`` is Airflow 2's name
        of ``logical_date``.
        """
        from downwind.runner.dag_test import run_dag_in_process

        return run_dag_in_process(
            self,
            logical_date=logical_date if logical_date is not None else execution_date,
            conf=run_conf if run_conf is not None else conf,
            wait_retry_delay=wait_retry_delay,
        )

    # -- context manager --------------------------------------------------------------

    def __enter__(self) -> DAG:
        push_dag(self)
        return self

    def __exit__(self, *exc: object) -> None:
        pop_dag()

    def __repr__(self) -> str:
        return f"<DAG: {self.dag_id}>"

    def __hash__(self) -> int:
        return hash(self.dag_id)


def _caller_file() -> str:
    """The file of the code that created the DAG (the DAG file), for ``fileloc``."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith("downwind.") or module.startswith("downwind.example_dags"):
            return frame.f_code.co_filename
        frame = frame.f_back
    return "<unknown>"
