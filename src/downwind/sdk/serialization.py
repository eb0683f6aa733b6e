"""Serialized DAGs: the JSON description that the scheduler, API and UI work from.

DAG files are user code, imported only by the DAG processor, task runners and the CLI
commands a user points at their own files. Everything else reads what
:func:`serialize_dag` stores: the DAG's settings and schedule, and each task's
dependencies and attributes. :func:`deserialize_dag` turns that back into a
:class:`SerializedDAG` (read-only, no user code needed), and :func:`dag_hash` names a
version of it. The format is described in ``docs/serialization.md``.

Keys whose value equals the format's default are left out (the defaults below are part
of format version :data:`FORMAT_VERSION`, not read from the configuration, so a stored
DAG means the same thing wherever it is read). Dates are stored as ISO 8601 in UTC;
durations as seconds.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from downwind.exceptions import DagDefinitionError, SerializationError
from downwind.sdk.graph import TaskGraph, check_acyclic
from downwind.sdk.params import ParamsDict
from downwind.sdk.trigger_rule import TriggerRule
from downwind.sdk.xcom_arg import Resolvable
from downwind.timetables import Timetable, deserialize_timetable
from downwind.timetables.cron import timezone_from_name, timezone_name

if TYPE_CHECKING:
    from downwind.sdk.baseoperator import BaseOperator
    from downwind.sdk.dag import DAG

__all__ = [
    "FORMAT_VERSION",
    "SerializedDAG",
    "SerializedTask",
    "canonical_json",
    "dag_hash",
    "deserialize_dag",
    "serialize_dag",
]

#: The version of the format :func:`serialize_dag` writes (the ``__version`` key).
FORMAT_VERSION = 1

_WEIGHT_RULES = ("downstream", "upstream", "absolute")
_TASK_CALLBACKS = ("on_execute", "on_success", "on_failure", "on_retry", "on_skipped")
_DAG_CALLBACKS = ("on_success", "on_failure")
_ADDRESS_RE = re.compile(r" at 0x[0-9a-fA-F]+")
_MISSING: Any = object()


# Value conversions: (to JSON, from JSON). Each raises ValueError naming what it expected.


def _checker(kinds: tuple[type, ...], expected: str, optional: bool = False) -> Callable:
    def check(value: Any) -> Any:
        if (optional and value is None) or (
            isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        ):
            return value
        raise ValueError(f"expected {expected}, got {type(value).__name__} {value!r}")

    return check


_int = _checker((int,), "a whole number")
_opt_int = _checker((int,), "a whole number or null", optional=True)
_bool = _checker((bool,), "true or false")
_opt_bool = _checker((bool,), "true, false or null", optional=True)
_str = _checker((str,), "a string")
_opt_str = _checker((str,), "a string or null", optional=True)


def _seconds(value: timedelta | float | None) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    elif not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"expected a timedelta, got {type(value).__name__} {value!r}")
    return int(value) if float(value).is_integer() else value


def _timedelta(value: Any) -> timedelta | None:
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"expected a number of seconds, got {type(value).__name__} {value!r}")
    return timedelta(seconds=value)


def _str_list(value: Any) -> list[str]:
    if type(value) is list and all(type(item) is str for item in value):
        return list(value)  # the common case, checked quickly
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise ValueError(f"expected a list of strings, got {type(value).__name__} {value!r}")
    items = list(value)
    for item in items:
        _str(item)
    return items


def _str_tuple(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of strings, got {type(value).__name__} {value!r}")
    return tuple(_str_list(value))


def _email_out(value: Any) -> str | list[str] | None:
    if value is None or isinstance(value, str):
        return value
    return _str_list(value)


def _email_in(value: Any) -> str | list[str] | None:
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise ValueError(f"expected a string, a list of strings or null, got {value!r}")
    return _str_list(value)


def _str_dict(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object of strings, got {type(value).__name__}")
    return {_str(k): _str(v) for k, v in value.items()}


def _trigger_rule_out(value: Any) -> str:
    return TriggerRule(value).value


def _trigger_rule_in(value: Any) -> TriggerRule:
    try:
        return TriggerRule(value)
    except ValueError:
        valid = ", ".join(rule.value for rule in TriggerRule)
        raise ValueError(f"expected one of {valid}, got {value!r}") from None


def _weight_rule(value: Any) -> str:
    if value not in _WEIGHT_RULES:
        raise ValueError(f"expected one of {', '.join(_WEIGHT_RULES)}, got {value!r}")
    return value


class _Field:
    """One stored attribute: its key, how it converts, and the default that is omitted.

    ``default`` is the JSON default; ``value`` the Python value it loads as (immutable, so
    every object without a value of its own can share it).
    """

    __slots__ = ("default", "dump", "key", "load", "value")

    def __init__(
        self, key: str, dump: Callable[[Any], Any], load: Callable[[Any], Any], default: Any
    ) -> None:
        self.key = key
        self.dump = dump
        self.load = load
        self.default = default
        self.value = load(default)

    def to_json(self, value: Any) -> Any:
        """``value`` as JSON, or ``_MISSING`` when it equals the default."""
        # Type-strict: ``retries=True`` or ``priority_weight=1.0`` is stored as written.
        default = self.value
        if value is default or (type(value) is type(default) and value == default):
            return _MISSING
        try:
            data = self.dump(value)
        except ValueError as err:
            raise ValueError(f"{self.key}: {err}") from None
        default = self.default
        if data is default or (type(data) is type(default) and data == default):
            return _MISSING
        return data

    def from_json(self, data: Any) -> Any:
        try:
            return self.load(data)
        except ValueError as err:
            raise ValueError(f"{self.key}: {err}") from None


# Scalar and simple task attributes, stored under their attribute's name.
_TASK_FIELDS = (
    _Field("trigger_rule", _trigger_rule_out, _trigger_rule_in, "all_success"),
    _Field("retries", _int, _int, 0),
    _Field("retry_delay", _seconds, _timedelta, 300),
    _Field("retry_exponential_backoff", _bool, _bool, False),
    _Field("max_retry_delay", _seconds, _timedelta, None),
    _Field("execution_timeout", _seconds, _timedelta, None),
    _Field("depends_on_past", _bool, _bool, False),
    _Field("pool", _str, _str, "default_pool"),
    _Field("pool_slots", _int, _int, 1),
    _Field("priority_weight", _int, _int, 1),
    _Field("weight_rule", _weight_rule, _weight_rule, "downstream"),
    _Field("queue", _str, _str, "default"),
    _Field("max_active_tis_per_dag", _opt_int, _opt_int, None),
    _Field("owner", _str, _str, "downwind"),
    _Field("email", _email_out, _email_in, None),
    _Field("email_on_failure", _bool, _bool, True),
    _Field("email_on_retry", _bool, _bool, True),
    _Field("doc_md", _opt_str, _opt_str, None),
    _Field("template_fields", _str_list, _str_tuple, []),
    _Field("template_ext", _str_list, _str_tuple, []),
    _Field("ui_color", _str, _str, "#fff"),
    _Field("ui_fgcolor", _str, _str, "#000"),
    _Field("do_xcom_push", _bool, _bool, True),
    _Field("multiple_outputs", _bool, _bool, False),
)

# Scalar and simple DAG attributes, stored under their attribute's name.
_DAG_FIELDS = (
    _Field("description", _opt_str, _opt_str, None),
    _Field("doc_md", _opt_str, _opt_str, None),
    _Field("catchup", _bool, _bool, True),
    _Field("max_active_runs", _int, _int, 16),
    _Field("max_active_tasks", _int, _int, 16),
    _Field("dagrun_timeout", _seconds, _timedelta, None),
    _Field("owner", _str, _str, "downwind"),
    _Field("template_searchpath", _str_list, _str_list, []),
    _Field("is_paused_upon_creation", _opt_bool, _opt_bool, None),
    _Field("owner_links", _str_dict, _str_dict, {}),
)

_TASK_FIELDS_BY_KEY = {field.key: field for field in _TASK_FIELDS}
_TASK_KEYS = frozenset(
    {f.key for f in _TASK_FIELDS}
    | {f"has_{name}_callback" for name in _TASK_CALLBACKS}
    | {
        "task_id",
        "task_type",
        "task_module",
        "upstream_task_ids",
        "downstream_task_ids",
        "start_date",
        "end_date",
        "task_display_name",
        "template_values",
    }
)
_DAG_KEYS = frozenset(
    {f.key for f in _DAG_FIELDS}
    | {f"has_{name}_callback" for name in _DAG_CALLBACKS}
    | {
        "__version",
        "dag_id",
        "fileloc",
        "timezone",
        "start_date",
        "end_date",
        "timetable",
        "tags",
        "params",
        "tasks",
    }
)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC).isoformat()


def _parse_iso(value: Any, tz: tzinfo) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 date string, got {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.utcoffset() is None:
        raise ValueError(f"expected a date with a UTC offset, got {value!r}")
    return parsed.astimezone(tz)


def _has_callback(callback: Any) -> bool:
    return callback is not None and not (isinstance(callback, (list, tuple)) and not callback)


def _display(value: Any, nested: bool = False) -> str:
    """A deterministic text for a templated field's value (the UI's template view).

    Strings stay as they are; containers are written like their ``repr`` (sets sorted);
    callables by qualified name; other objects by ``repr`` without memory addresses, so
    the text (and the DAG's hash) is the same in every process.
    """
    if isinstance(value, str):
        return repr(value) if nested else str.__str__(value)
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, Resolvable):
        return repr(value)
    if isinstance(value, Mapping):
        items = (f"{_display(k, True)}: {_display(v, True)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_display(v, True) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(_display(v, True) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, (set, frozenset)):
        if not value:
            return f"{type(value).__name__}()"
        return "{" + ", ".join(sorted(_display(v, True) for v in value)) + "}"
    if callable(value) and isinstance(getattr(value, "__qualname__", None), str):
        module = getattr(value, "__module__", None)
        return f"{module}.{value.__qualname__}" if module else value.__qualname__
    return _ADDRESS_RE.sub("", repr(value))


def _template_values(task: BaseOperator) -> dict[str, str]:
    values = {}
    for field in task.template_fields:
        try:
            values[field] = _display(getattr(task, field, None))
        except RecursionError:
            values[field] = "<nested too deeply to show>"
    return values


# Serializing --------------------------------------------------------------------------------


def serialize_dag(dag: DAG | SerializedDAG) -> dict[str, Any]:
    """A JSON-able, deterministic description of ``dag`` (a DAG or a :class:`SerializedDAG`).

    Keys are sorted, tasks are listed in topological order (ties broken by task id, so the
    order in which a file creates its tasks does not matter), and keys equal to their
    default are left out. Raises :class:`~downwind.exceptions.DagDefinitionError` naming
    the DAG (and task) when something cannot be stored.
    """
    dag_id = dag.dag_id
    try:
        data = _serialize_dag_fields(dag)
    except (ValueError, TypeError, DagDefinitionError) as err:  # SerializationError is a TypeError
        raise DagDefinitionError(f"DAG '{dag_id}' cannot be serialized: {err}") from None
    tasks = []
    for task_id in _ordered_task_ids(dag):
        task = dag.task_dict[task_id]
        try:
            tasks.append(_serialize_task(task, dag.start_date))
        except (ValueError, TypeError) as err:
            raise DagDefinitionError(
                f"DAG '{dag_id}', task '{task_id}' cannot be serialized: {err}"
            ) from None
    data["tasks"] = tasks
    return dict(sorted(data.items()))


def _serialize_dag_fields(dag: DAG | SerializedDAG) -> dict[str, Any]:
    timetable = dag.timetable.serialize()
    try:
        deserialize_timetable(json.loads(json.dumps(timetable)))
    except (DagDefinitionError, TypeError, ValueError) as err:
        raise ValueError(
            f"its timetable {type(dag.timetable).__name__} cannot be stored and read back ({err})"
        ) from None
    data: dict[str, Any] = {
        "__version": FORMAT_VERSION,
        "dag_id": dag.dag_id,
        "fileloc": dag.fileloc,
        "timetable": timetable,
    }
    tz = timezone_name(dag.timezone)
    if tz != "UTC":
        data["timezone"] = tz
    for key in ("start_date", "end_date"):
        value = _iso(getattr(dag, key))
        if value is not None:
            data[key] = value
    for field in _DAG_FIELDS:
        value = field.to_json(getattr(dag, field.key))
        if value is not _MISSING:
            data[field.key] = value
    tags = sorted(_str_list(dag.tags))
    if tags:
        data["tags"] = tags
    params = dag.params.dump()
    if params:
        data["params"] = params
    serialized = isinstance(dag, SerializedDAG)
    for name in _DAG_CALLBACKS:
        key = f"has_{name}_callback"
        if getattr(dag, key) if serialized else _has_callback(getattr(dag, f"{name}_callback")):
            data[key] = True
    return data


def _serialize_task(
    task: BaseOperator | SerializedTask, dag_start: datetime | None
) -> dict[str, Any]:
    serialized = isinstance(task, SerializedTask)
    task_id = task.task_id
    data: dict[str, Any] = {"task_id": task_id}
    if serialized:
        data["task_type"] = task.task_type
        data["task_module"] = task.task_module
    else:
        data["task_type"] = type(task).__name__
        data["task_module"] = type(task).__module__
    if task.upstream_task_ids:
        data["upstream_task_ids"] = sorted(task.upstream_task_ids)
    if task.downstream_task_ids:
        data["downstream_task_ids"] = sorted(task.downstream_task_ids)
    for field in _TASK_FIELDS:
        value = field.to_json(getattr(task, field.key))
        if value is not _MISSING:
            data[field.key] = value
    # Aware datetimes compare as instants, like their UTC ISO texts.
    if task.start_date is not dag_start and task.start_date != dag_start:
        data["start_date"] = _iso(task.start_date)
    if task.end_date is not None:
        data["end_date"] = _iso(task.end_date)
    if task.task_display_name != task_id:
        data["task_display_name"] = _str(task.task_display_name)
    for name in _TASK_CALLBACKS:
        key = f"has_{name}_callback"
        if getattr(task, key) if serialized else _has_callback(getattr(task, f"{name}_callback")):
            data[key] = True
    values = task.template_values if serialized else _template_values(task)
    if values:
        data["template_values"] = dict(values)
    return dict(sorted(data.items()))


def _ordered_task_ids(dag: DAG | SerializedDAG) -> list[str]:
    """Task ids in topological order, ties broken by id (Kahn's algorithm with a heap)."""
    task_dict = dag.task_dict
    waiting: dict[str, int] = {}
    for task_id, task in task_dict.items():
        outside = [t for t in task.upstream_task_ids if t not in task_dict]
        outside += [t for t in task.downstream_task_ids if t not in task_dict]
        if outside:
            raise DagDefinitionError(
                f"task '{task_id}' depends on tasks outside DAG '{dag.dag_id}': "
                f"{', '.join(sorted(outside))}"
            )
        waiting[task_id] = len(task.upstream_task_ids)
    ready = sorted(task_id for task_id, count in waiting.items() if count == 0)
    order: list[str] = []
    while ready:
        task_id = heapq.heappop(ready)
        order.append(task_id)
        for child in task_dict[task_id].downstream_task_ids:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, child)
    if len(order) != len(task_dict):
        check_acyclic(dag.dag_id, {tid: t.downstream_task_ids for tid, t in task_dict.items()})
        raise DagDefinitionError(  # acyclic but inconsistent: an edge recorded on one side only
            f"DAG '{dag.dag_id}': upstream and downstream task ids do not match"
        )
    return order


def canonical_json(data: Mapping[str, Any]) -> str:
    """The canonical JSON text of serialized data: sorted keys, compact separators."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def dag_hash(data: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of :func:`canonical_json` of ``data``: the DAG version's name.

    The same DAG always gives the same hash; any change of structure, schedule or task
    attribute gives another. ``start_date`` takes part, so a DAG with
    ``start_date=days_ago(14)`` gets a new version once a day (parses within one day agree).
    """
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


# Deserializing ------------------------------------------------------------------------------


def deserialize_dag(data: Mapping[str, Any]) -> SerializedDAG:
    """The :class:`SerializedDAG` described by ``data`` (the output of :func:`serialize_dag`,
    possibly after a JSON round trip).

    Raises :class:`~downwind.exceptions.SerializationError` naming the DAG, the task and
    the key when the data is malformed or of an unknown format version.
    """
    if not isinstance(data, Mapping):
        raise SerializationError(
            f"a serialized DAG must be a JSON object, got {type(data).__name__}"
        )
    dag_id = data.get("dag_id")
    label = f"serialized DAG {dag_id!r}" if isinstance(dag_id, str) else "serialized DAG"
    version = data.get("__version")
    if version != FORMAT_VERSION:
        raise SerializationError(
            f"{label} has format version {version!r}; this downwind reads version "
            f"{FORMAT_VERSION} (parse the DAG file again to store it in this version)"
        )
    try:
        return SerializedDAG._from_data(data)
    except KeyError as err:
        raise SerializationError(f"malformed {label}: missing key {err.args[0]!r}") from None
    except (TypeError, ValueError, DagDefinitionError) as err:
        raise SerializationError(f"malformed {label}: {err}") from None


def _check_keys(data: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = [key for key in data if key not in allowed]
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")


_NO_IDS: frozenset[str] = frozenset()


def _load_ids(value: Any, dag: SerializedDAG) -> frozenset[str]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of task ids, got {value!r}")
    return frozenset(_str_list(value))


def _load_flag(value: Any, dag: SerializedDAG) -> bool:
    return _bool(value)


# Task keys other than _TASK_FIELDS, and how they load (task_id, task_type and task_module
# are read first).
_SPECIAL_TASK_KEYS: dict[str, Callable[[Any, SerializedDAG], Any]] = {
    "upstream_task_ids": _load_ids,
    "downstream_task_ids": _load_ids,
    "start_date": lambda value, dag: _parse_iso(value, dag.timezone),
    "end_date": lambda value, dag: _parse_iso(value, dag.timezone),
    "task_display_name": lambda value, dag: _str(value),
    "template_values": lambda value, dag: _str_dict(value),
    **{f"has_{name}_callback": _load_flag for name in _TASK_CALLBACKS},
}


class SerializedTask:
    """A task as the scheduler, API and UI see it: attributes only, no user code.

    Attributes have the types a :class:`~downwind.sdk.baseoperator.BaseOperator` has
    (``timedelta`` delays, a :class:`TriggerRule`, sets of task ids); callbacks are known
    only as ``has_on_*_callback`` booleans and templated fields as their text in
    ``template_values``. Attributes cannot be reassigned.
    """

    # Attributes at their default are not stored per task: the class holds the defaults
    # (set from _TASK_FIELDS below), the instance only what differs.
    if TYPE_CHECKING:
        trigger_rule: TriggerRule
        retries: int
        retry_delay: timedelta
        retry_exponential_backoff: bool
        max_retry_delay: timedelta | None
        execution_timeout: timedelta | None
        depends_on_past: bool
        pool: str
        pool_slots: int
        priority_weight: int
        weight_rule: str
        queue: str
        max_active_tis_per_dag: int | None
        owner: str
        email: str | list[str] | None
        email_on_failure: bool
        email_on_retry: bool
        doc_md: str | None
        template_fields: tuple[str, ...]
        template_ext: tuple[str, ...]
        ui_color: str
        ui_fgcolor: str
        do_xcom_push: bool
        multiple_outputs: bool
        dag: SerializedDAG
        task_id: str
        task_type: str
        task_module: str
        upstream_task_ids: frozenset[str]
        downstream_task_ids: frozenset[str]
        start_date: datetime | None
        task_display_name: str
        template_values: dict[str, str]

    has_on_execute_callback: bool = False
    has_on_success_callback: bool = False
    has_on_failure_callback: bool = False
    has_on_retry_callback: bool = False
    has_on_skipped_callback: bool = False
    end_date: datetime | None = None

    def __init__(self, dag: SerializedDAG, data: Mapping[str, Any]) -> None:
        if not data.keys() <= _TASK_KEYS:
            _check_keys(data, _TASK_KEYS)
        task_id = _str(data["task_id"])
        values: dict[str, Any] = {
            "dag": dag,
            "task_id": task_id,
            "task_type": _str(data["task_type"]),
            "task_module": _str(data["task_module"]),
            "task_display_name": task_id,
            "start_date": dag.start_date,
            "template_values": {},
        }
        fields = _TASK_FIELDS_BY_KEY
        for key, item in data.items():
            field = fields.get(key)
            if field is not None:
                values[key] = field.from_json(item)
            elif key in _SPECIAL_TASK_KEYS:
                try:
                    values[key] = _SPECIAL_TASK_KEYS[key](item, dag)
                except ValueError as err:
                    raise ValueError(f"{key}: {err}") from None
        values.setdefault("upstream_task_ids", _NO_IDS)
        values.setdefault("downstream_task_ids", _NO_IDS)
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"SerializedTask is read-only: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"SerializedTask is read-only: cannot delete {name!r}")

    @property
    def dag_id(self) -> str:
        return self.dag.dag_id

    @property
    def priority_weight_total(self) -> int:
        """The priority the scheduler orders by, from ``priority_weight`` and ``weight_rule``:
        ``downstream`` adds every task downstream (each counted once), ``upstream`` every
        task upstream, ``absolute`` nothing."""
        return self.dag._weight_map()[self.task_id]

    @property
    def upstream_list(self) -> list[SerializedTask]:
        return [self.dag.task_dict[t] for t in sorted(self.upstream_task_ids)]

    @property
    def downstream_list(self) -> list[SerializedTask]:
        return [self.dag.task_dict[t] for t in sorted(self.downstream_task_ids)]

    def get_flat_relative_ids(self, *, upstream: bool = False) -> set[str]:
        """Ids of every task reachable downstream (or upstream) of this one."""
        task_dict = self.dag.task_dict
        found: set[str] = set()
        todo = [self.task_id]
        while todo:
            task = task_dict[todo.pop()]
            for rel in task.upstream_task_ids if upstream else task.downstream_task_ids:
                if rel not in found:
                    found.add(rel)
                    todo.append(rel)
        return found

    def __repr__(self) -> str:
        return f"<SerializedTask({self.task_type}): {self.task_id}>"


for _field in _TASK_FIELDS:
    setattr(SerializedTask, _field.key, _field.value)
del _field


class SerializedDAG(TaskGraph["SerializedTask"]):
    """A DAG as the scheduler, API and UI see it, built by :func:`deserialize_dag`.

    Offers what scheduling needs (``timetable``, dates, limits, ``params``, the task
    graph, ``priority_weight_totals()``) without importing the DAG file. Callbacks are
    known only as ``has_on_success_callback`` / ``has_on_failure_callback``. Attributes
    cannot be reassigned.
    """

    __slots__ = (
        *(field.key for field in _DAG_FIELDS),
        *(f"has_{name}_callback" for name in _DAG_CALLBACKS),
        "_weights",
        "dag_id",
        "end_date",
        "fileloc",
        "params",
        "start_date",
        "tags",
        "task_dict",
        "timetable",
        "timezone",
    )

    if TYPE_CHECKING:  # the attributes set from _DAG_FIELDS
        description: str | None
        doc_md: str | None
        catchup: bool
        max_active_runs: int
        max_active_tasks: int
        dagrun_timeout: timedelta | None
        owner: str
        template_searchpath: list[str]
        is_paused_upon_creation: bool | None
        owner_links: dict[str, str]
        has_on_success_callback: bool
        has_on_failure_callback: bool
        dag_id: str
        fileloc: str
        timezone: tzinfo
        start_date: datetime | None
        end_date: datetime | None
        timetable: Timetable
        tags: list[str]
        params: ParamsDict
        task_dict: dict[str, SerializedTask]
        _weights: dict[str, int] | None

    def __init__(self) -> None:
        raise TypeError("build a SerializedDAG with deserialize_dag(data)")

    @classmethod
    def _from_data(cls, data: Mapping[str, Any]) -> SerializedDAG:
        self = object.__new__(cls)
        setter = object.__setattr__
        _check_keys(data, _DAG_KEYS)
        setter(self, "dag_id", _str(data["dag_id"]))
        setter(self, "fileloc", _str(data["fileloc"]))
        tz = timezone_from_name(_str(data.get("timezone", "UTC")))
        setter(self, "timezone", tz)
        for key in ("start_date", "end_date"):
            try:
                setter(self, key, _parse_iso(data.get(key), tz))
            except ValueError as err:
                raise ValueError(f"{key}: {err}") from None
        setter(self, "timetable", deserialize_timetable(data["timetable"]))
        for field in _DAG_FIELDS:
            value = data.get(field.key, _MISSING)
            setter(self, field.key, field.from_json(field.default if value is _MISSING else value))
        tags = data.get("tags", [])
        if not isinstance(tags, list):
            raise ValueError(f"tags: expected a list of strings, got {tags!r}")
        setter(self, "tags", _str_list(tags))
        params = data.get("params", {})
        if not isinstance(params, Mapping) or not all(
            isinstance(item, Mapping) for item in params.values()
        ):
            raise ValueError(f"params: expected an object of param descriptions, got {params!r}")
        setter(self, "params", ParamsDict.from_dump(params))
        for name in _DAG_CALLBACKS:
            key = f"has_{name}_callback"
            setter(self, key, _bool(data.get(key, False)))
        setter(self, "_weights", None)
        tasks = data.get("tasks", [])
        if not isinstance(tasks, list):
            raise ValueError(f"tasks: expected a list, got {type(tasks).__name__}")
        task_dict: dict[str, SerializedTask] = {}
        for index, item in enumerate(tasks):
            if not isinstance(item, Mapping):
                raise ValueError(f"tasks[{index}]: expected an object, got {item!r}")
            try:
                task = SerializedTask(self, item)
            except KeyError as err:
                raise ValueError(f"task {_task_label(item, index)}: missing key {err}") from None
            except (TypeError, ValueError) as err:
                raise ValueError(f"task {_task_label(item, index)}: {err}") from None
            if task.task_id in task_dict:
                raise ValueError(f"task id {task.task_id!r} appears twice")
            task_dict[task.task_id] = task
        setter(self, "task_dict", task_dict)
        self._check_graph()
        return self

    def _check_graph(self) -> None:
        """Every edge is recorded on both ends and the stored order is topological."""
        task_dict = self.task_dict
        seen: set[str] = set()
        for task_id, task in task_dict.items():
            for up in task.upstream_task_ids:
                if up not in task_dict:
                    raise ValueError(f"task {task_id!r}: unknown upstream task {up!r}")
                if task_id not in task_dict[up].downstream_task_ids:
                    raise ValueError(
                        f"task {task_id!r} lists {up!r} upstream, but {up!r} does not list "
                        f"{task_id!r} downstream"
                    )
                if up not in seen:
                    raise ValueError(
                        f"tasks are not in topological order: {task_id!r} comes before its "
                        f"upstream task {up!r}"
                    )
            for down in task.downstream_task_ids:
                if down not in task_dict:
                    raise ValueError(f"task {task_id!r}: unknown downstream task {down!r}")
                if task_id not in task_dict[down].upstream_task_ids:
                    raise ValueError(
                        f"task {task_id!r} lists {down!r} downstream, but {down!r} does not "
                        f"list {task_id!r} upstream"
                    )
            seen.add(task_id)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"SerializedDAG is read-only: cannot set {name!r}")

    # -- the task graph ---------------------------------------------------------------

    def topological_sort(self) -> list[SerializedTask]:
        """Tasks ordered so that each comes after its upstream tasks (the stored order)."""
        return list(self.task_dict.values())

    def priority_weight_totals(self) -> dict[str, int]:
        """``{task_id: priority_weight_total}`` for every task, computed once per DAG."""
        return dict(self._weight_map())

    def _weight_map(self) -> dict[str, int]:
        weights = self._weights
        if weights is None:
            weights = _priority_weight_totals(self)
            object.__setattr__(self, "_weights", weights)
        return weights

    @property
    def folder(self) -> str:
        return str(Path(self.fileloc).parent)

    def __repr__(self) -> str:
        return f"<SerializedDAG: {self.dag_id}>"


def _task_label(item: Mapping[str, Any], index: int) -> str:
    task_id = item.get("task_id")
    return repr(task_id) if isinstance(task_id, str) else f"#{index}"


# Priority weights ---------------------------------------------------------------------------


def _priority_weight_totals(dag: SerializedDAG) -> dict[str, int]:
    """Each task's own weight plus those of every task downstream / upstream of it
    (by its weight rule), each related task counted once even when reached by several
    paths (a diamond's far end counts once)."""
    tasks = dag.tasks
    weights = [t.priority_weight for t in tasks]
    rules = {t.weight_rule for t in tasks}
    masks: list[list[tuple[int, int]]] = []  # built on first need, shared by both directions

    def get_masks() -> list[tuple[int, int]]:
        if not masks:
            masks.append(_weight_masks(weights))
        return masks[0]

    below = _reach_sums(tasks, weights, get_masks, downstream=True) if "downstream" in rules else []
    above = _reach_sums(tasks, weights, get_masks, downstream=False) if "upstream" in rules else []
    totals = {}
    for i, task in enumerate(tasks):
        rule = task.weight_rule
        if rule == "downstream":
            totals[task.task_id] = below[i]
        elif rule == "upstream":
            totals[task.task_id] = above[i]
        else:
            totals[task.task_id] = weights[i]
    return totals


def _reach_sums(
    tasks: list[SerializedTask],
    weights: list[int],
    get_masks: Callable[[], list[tuple[int, int]]],
    *,
    downstream: bool,
) -> list[int]:
    """For each task, the summed weight of itself and every task it reaches.

    The set of tasks each task reaches is a bitset (a Python int) built from its direct
    relatives' sets in one pass over the topological order. Where those sets are
    disjoint (a tree, a fan-out) the sums simply add up; where they overlap the sum is
    taken over the bitset with a few ``bit_count`` calls (see :func:`_weight_masks`).
    """
    n = len(tasks)
    index = {t.task_id: i for i, t in enumerate(tasks)}
    reach = [0] * n
    counts = [0] * n
    sums = [0] * n
    # Walking the topological order backwards, every downstream task's set is complete
    # before its upstream tasks need it (and forwards for the upstream sets).
    for i in range(n - 1, -1, -1) if downstream else range(n):
        task = tasks[i]
        bits, count, total = 1 << i, 1, weights[i]
        for rel in task.downstream_task_ids if downstream else task.upstream_task_ids:
            j = index[rel]
            bits |= reach[j]
            count += counts[j]
            total += sums[j]
        real = bits.bit_count()
        if real != count:  # the relatives share tasks: count each one once
            total = sum(m * (bits & mask).bit_count() for m, mask in get_masks())
        reach[i], counts[i], sums[i] = bits, real, total
    return sums


def _weight_masks(weights: list[int]) -> list[tuple[int, int]]:
    """``(multiplier, bitmask)`` pairs such that the summed weight of the tasks in a
    bitset ``S`` is ``sum(m * (S & mask).bit_count())``: one mask per distinct weight, or
    one per bit of the weights when that makes fewer masks."""
    rev = weights[::-1]  # bit i of a mask is task i: the string starts with the last task
    distinct = sorted(set(weights))
    base = distinct[0]
    width = (distinct[-1] - base).bit_length()
    # One int() of a bit string per mask: linear, where or-ing bit by bit is quadratic.
    if len(distinct) <= width + 1:
        return [(w, int("".join(["1" if x == w else "0" for x in rev]), 2)) for w in distinct if w]
    shifted = [x - base for x in rev]
    pairs = [(base, (1 << len(weights)) - 1)] if base else []
    for bit in range(width):
        pairs.append((1 << bit, int("".join(["1" if x >> bit & 1 else "0" for x in shifted]), 2)))
    return pairs
