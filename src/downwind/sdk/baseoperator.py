"""``BaseOperator``: a task's definition, its arguments and its dependencies."""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from downwind.exceptions import DagDefinitionError
from downwind.sdk.context import current_dag
from downwind.sdk.trigger_rule import TriggerRule, parse_trigger_rule
from downwind.sdk.xcom_arg import XComArg, iter_xcom_args

if TYPE_CHECKING:
    from downwind.sdk.dag import DAG
    from downwind.sdk.params import ParamsDict

_TASK_ID_RE = re.compile(r"[A-Za-z0-9_.-]+")
_WEIGHT_RULES = ("downstream", "upstream", "absolute")
TaskCallback = Callable[[dict[str, Any]], Any]


def _as_timedelta(value: Any, name: str, task_id: str) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    raise DagDefinitionError(
        f"task '{task_id}': {name} must be a timedelta or a number of seconds, "
        f"got {type(value).__name__}"
    )


@functools.cache
def _accepted_arguments(cls: type) -> frozenset[str]:
    """Names of the keyword arguments the ``__init__`` methods of ``cls`` accept."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        init = getattr(init, "__wrapped__", init)
        for param in inspect.signature(init).parameters.values():
            if param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD):
                names.add(param.name)
    names.discard("self")
    return frozenset(names)


def _apply_defaults(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap an operator's ``__init__`` so ``default_args`` (the DAG's and the task's own)
    fill in the arguments it was not given, and XComArg arguments become dependencies."""

    @functools.wraps(init)
    def wrapper(self: BaseOperator, *args: Any, **kwargs: Any) -> None:
        if getattr(self, "_init_started", False):
            init(self, *args, **kwargs)
            return
        self._init_started = True
        if args:
            raise DagDefinitionError(
                f"{type(self).__name__} takes keyword arguments only (task_id=..., ...)"
            )
        dag = kwargs.get("dag") or current_dag()
        defaults = dict(dag.default_args) if dag is not None else {}
        defaults.update(kwargs.pop("default_args", None) or {})
        if defaults:
            accepted = _accepted_arguments(type(self))
            for key, value in defaults.items():
                if key == "params" and "params" in kwargs:
                    kwargs["params"] = {**(value or {}), **(kwargs["params"] or {})}
                elif key in accepted and key not in kwargs:
                    kwargs[key] = value
        init(self, **kwargs)
        self._set_xcom_arg_dependencies()

    wrapper._applies_defaults = True  # type: ignore[attr-defined]
    return wrapper


class BaseOperator:
    """Base class of every task. Subclasses implement :meth:`execute`.

    ``template_fields`` names the attributes rendered with Jinja2 before ``execute``;
    string values ending in one of ``template_ext`` are read from a template file.
    """

    template_fields: ClassVar[Sequence[str]] = ()
    template_ext: ClassVar[Sequence[str]] = ()
    template_fields_renderers: ClassVar[dict[str, str]] = {}
    ui_color: ClassVar[str] = "#fff"
    ui_fgcolor: ClassVar[str] = "#000"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_applies_defaults", False):
            cls.__init__ = _apply_defaults(init)  # type: ignore[method-assign]

    def __init__(
        self,
        *,
        task_id: str,
        dag: DAG | None = None,
        owner: str = "downwind",
        email: str | Iterable[str] | None = None,
        email_on_failure: bool = True,
        email_on_retry: bool = True,
        retries: int | None = None,
        retry_delay: timedelta | float | None = None,
        retry_exponential_backoff: bool = False,
        max_retry_delay: timedelta | float | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        depends_on_past: bool = False,
        trigger_rule: str | TriggerRule = TriggerRule.ALL_SUCCESS,
        execution_timeout: timedelta | float | None = None,
        pool: str = "default_pool",
        pool_slots: int = 1,
        priority_weight: int = 1,
        weight_rule: str = "downstream",
        queue: str = "default",
        max_active_tis_per_dag: int | None = None,
        params: dict[str, Any] | None = None,
        do_xcom_push: bool = True,
        multiple_outputs: bool = False,
        on_execute_callback: TaskCallback | list[TaskCallback] | None = None,
        on_success_callback: TaskCallback | list[TaskCallback] | None = None,
        on_failure_callback: TaskCallback | list[TaskCallback] | None = None,
        on_retry_callback: TaskCallback | list[TaskCallback] | None = None,
        on_skipped_callback: TaskCallback | list[TaskCallback] | None = None,
        doc_md: str | None = None,
        doc: str | None = None,
        task_display_name: str | None = None,
        executor_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise DagDefinitionError(
                f"invalid arguments were passed to {type(self).__name__} "
                f"(task_id: {task_id}): {', '.join(sorted(kwargs))}"
            )
        if not isinstance(task_id, str) or not _TASK_ID_RE.fullmatch(task_id) or len(task_id) > 250:
            raise DagDefinitionError(
                f"invalid task_id {task_id!r}: use letters, digits, '_', '-' and '.' "
                "(at most 250 characters)"
            )
        self.task_id = task_id
        self.owner = owner
        self.email = email
        self.email_on_failure = email_on_failure
        self.email_on_retry = email_on_retry
        if retries is None:
            from downwind.config import get_config

            retries = get_config().core.default_task_retries
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise DagDefinitionError(
                f"task '{task_id}': retries must be a whole number >= 0, got {retries!r}"
            )
        self.retries = retries
        if retry_delay is None:
            from downwind.config import get_config

            retry_delay = get_config().core.default_task_retry_delay
        self.retry_delay = _as_timedelta(retry_delay, "retry_delay", task_id)
        self.retry_exponential_backoff = retry_exponential_backoff
        self.max_retry_delay = _as_timedelta(max_retry_delay, "max_retry_delay", task_id)
        self.start_date = start_date
        self.end_date = end_date
        self.depends_on_past = depends_on_past
        self.trigger_rule = parse_trigger_rule(trigger_rule, task_id)
        self.execution_timeout = _as_timedelta(execution_timeout, "execution_timeout", task_id)
        self.pool = pool
        self.pool_slots = pool_slots
        self.priority_weight = priority_weight
        if weight_rule not in _WEIGHT_RULES:
            raise DagDefinitionError(
                f"task '{task_id}': unknown weight_rule {weight_rule!r}; "
                f"valid: {', '.join(_WEIGHT_RULES)}"
            )
        self.weight_rule = weight_rule
        self.queue = queue
        self.max_active_tis_per_dag = max_active_tis_per_dag
        self._params_arg = params or {}
        self.do_xcom_push = do_xcom_push
        self.multiple_outputs = multiple_outputs
        self.on_execute_callback = on_execute_callback
        self.on_success_callback = on_success_callback
        self.on_failure_callback = on_failure_callback
        self.on_retry_callback = on_retry_callback
        self.on_skipped_callback = on_skipped_callback
        self.doc_md = doc_md
        self.doc = doc
        self.task_display_name = task_display_name or task_id
        self.executor_config = executor_config or {}
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        self.dag: DAG | None = None
        dag = dag or current_dag()
        if dag is not None:
            dag.add_task(self)

    # -- the work ---------------------------------------------------------------------

    def execute(self, context: dict[str, Any]) -> Any:
        """Do the task's work; the return value is pushed to XCom as ``return_value``."""
        raise NotImplementedError(f"{type(self).__name__} must implement execute(context)")

    def on_kill(self) -> None:
        """Stop what :meth:`execute` started (a subprocess...) when the task is killed."""

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"downwind.task.{type(self).__name__}")

    @property
    def params(self) -> ParamsDict:
        """The task's params: the DAG's, updated by the task's own."""
        from downwind.sdk.params import ParamsDict

        merged = ParamsDict(self.dag.params if self.dag is not None else {})
        merged.update(self._params_arg)
        return merged

    @property
    def output(self) -> XComArg:
        """This task's return value, as an argument for another task."""
        return XComArg(self)

    @property
    def dag_id(self) -> str | None:
        return self.dag.dag_id if self.dag is not None else None

    @property
    def task_type(self) -> str:
        return type(self).__name__

    @property
    def upstream_list(self) -> list[BaseOperator]:
        return [self._require_dag().task_dict[t] for t in sorted(self.upstream_task_ids)]

    @property
    def downstream_list(self) -> list[BaseOperator]:
        return [self._require_dag().task_dict[t] for t in sorted(self.downstream_task_ids)]

    def get_direct_relatives(self, upstream: bool = False) -> list[BaseOperator]:
        return self.upstream_list if upstream else self.downstream_list

    def get_flat_relative_ids(self, *, upstream: bool = False) -> set[str]:
        """Ids of every task reachable downstream (or upstream) of this one."""
        dag = self._require_dag()
        found: set[str] = set()
        todo = [self.task_id]
        while todo:
            task = dag.task_dict[todo.pop()]
            for rel in task.upstream_task_ids if upstream else task.downstream_task_ids:
                if rel not in found:
                    found.add(rel)
                    todo.append(rel)
        return found

    def _require_dag(self) -> DAG:
        if self.dag is None:
            raise DagDefinitionError(f"task '{self.task_id}' is not assigned to a DAG")
        return self.dag

    # -- dependencies -----------------------------------------------------------------

    def set_downstream(self, other: Any) -> None:
        for task in _as_tasks(other):
            _relate(self, task)

    def set_upstream(self, other: Any) -> None:
        for task in _as_tasks(other):
            _relate(task, self)

    def __rshift__(self, other: Any) -> Any:
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> BaseOperator:
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> BaseOperator:
        self.set_downstream(other)
        return self

    def _set_xcom_arg_dependencies(self) -> None:
        for field in self.template_fields:
            for arg in iter_xcom_args(getattr(self, field, None)):
                if arg.operator is not self:
                    self.set_upstream(arg.operator)

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"


# Operators without an ``__init__`` of their own (EmptyOperator...) run this one, so it
# applies ``default_args`` too.
BaseOperator.__init__ = _apply_defaults(BaseOperator.__init__)  # type: ignore[method-assign]


def _as_tasks(other: Any) -> list[BaseOperator]:
    if isinstance(other, BaseOperator):
        return [other]
    if isinstance(other, XComArg):
        return [other.operator]
    if isinstance(other, (list, tuple, set, frozenset)):
        return [task for item in other for task in _as_tasks(item)]
    raise DagDefinitionError(
        f"cannot set a dependency on {other!r}: expected a task, an XComArg or a list of them"
    )


def _relate(upstream: BaseOperator, downstream: BaseOperator) -> None:
    if upstream is downstream:
        raise DagDefinitionError(f"task '{upstream.task_id}' cannot depend on itself")
    if upstream.dag is None and downstream.dag is not None:
        downstream.dag.add_task(upstream)
    elif downstream.dag is None and upstream.dag is not None:
        upstream.dag.add_task(downstream)
    elif upstream.dag is not downstream.dag:
        raise DagDefinitionError(
            "tried to set relationships between tasks in more than one DAG: "
            f"'{upstream.task_id}' ({upstream.dag_id}) and "
            f"'{downstream.task_id}' ({downstream.dag_id})"
        )
    upstream.downstream_task_ids.add(downstream.task_id)
    downstream.upstream_task_ids.add(upstream.task_id)


def chain(*elements: Any) -> None:
    """Set each element upstream of the next; an element may be a task or a list.

    Two adjacent lists must have the same length and are linked pairwise, as in Airflow.
    """
    for left, right in itertools.pairwise(elements):
        if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
            if len(left) != len(right):
                raise DagDefinitionError(
                    f"chain() cannot link lists of different lengths ({len(left)} and {len(right)})"
                )
            for up, down in zip(left, right, strict=True):
                _as_single(up).set_downstream(down)
        elif isinstance(left, (list, tuple)):
            for up in left:
                _as_single(up).set_downstream(right)
        else:
            _as_single(left).set_downstream(right)


def cross_downstream(from_tasks: Sequence[Any], to_tasks: Any) -> None:
    """Set every task of ``from_tasks`` upstream of every task of ``to_tasks``."""
    for task in from_tasks:
        _as_single(task).set_downstream(to_tasks)


def _as_single(item: Any) -> BaseOperator | XComArg:
    if isinstance(item, (BaseOperator, XComArg)):
        return item
    raise DagDefinitionError(f"cannot chain {item!r}: expected a task or an XComArg")
