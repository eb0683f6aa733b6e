"""The template context of a task try: ``ds``, ``ti``, ``params``, ``var``, ``macros``..."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from downwind import macros
from downwind.exceptions import ConnectionNotFound, VariableNotFound
from downwind.runtime.masking import mask_connection
from downwind.runtime.variable import decode_json_variable, lookup_variable

if TYPE_CHECKING:
    from downwind.runtime.client import RuntimeClient, StartInfo
    from downwind.runtime.connection import Connection
    from downwind.runtime.task_instance import RuntimeTaskInstance
    from downwind.sdk.baseoperator import BaseOperator

_MISSING: Any = object()


class VariableAccessor:
    """``var.value`` / ``var.json`` in templates: ``{{ var.value.get('key', 'default') }}``."""

    def __init__(self, deserialize_json: bool) -> None:
        self._json = deserialize_json

    def get(self, key: str, default: Any = _MISSING) -> Any:
        value = lookup_variable(key)
        if value is None:
            if default is _MISSING:
                raise VariableNotFound(
                    f"variable '{key}' is not defined (set DOWNWIND_VAR_{key.upper()} "
                    f"or use var.{'json' if self._json else 'value'}.get('{key}', default))"
                )
            return default
        return decode_json_variable(key, value) if self._json else value

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return self.get(key)


class ConnectionAccessor:
    """``conn`` in templates: ``{{ conn.my_http.host }}``. The password (and secret
    extras) of a connection got here are masked in the task's log."""

    def __init__(self, client: RuntimeClient) -> None:
        self._client = client

    def get(self, conn_id: str, default: Any = _MISSING) -> Connection | Any:
        conn = self._client.get_connection(conn_id)
        if conn is None:
            if default is _MISSING:
                raise ConnectionNotFound(f"connection '{conn_id}' is not defined")
            return default
        mask_connection(conn)
        return conn

    def __getattr__(self, conn_id: str) -> Connection:
        if conn_id.startswith("__"):
            raise AttributeError(conn_id)
        return self.get(conn_id)


def build_context(
    task: BaseOperator,
    ti: RuntimeTaskInstance,
    start: StartInfo,
    client: RuntimeClient,
    params: dict[str, Any],
    *,
    test_mode: bool = False,
) -> dict[str, Any]:
    """The mapping templates are rendered with and that ``execute(context)`` receives."""
    run = start.run
    logical_date = run.logical_date
    ds = logical_date.strftime("%Y-%m-%d")
    ts_nodash = logical_date.strftime("%Y%m%dT%H%M%S")
    return {
        "dag": task.dag,
        "task": task,
        "ti": ti,
        "task_instance": ti,
        "run_id": run.run_id,
        "dag_run": run,
        "logical_date": logical_date,
        "data_interval_start": run.data_interval_start,
        "data_interval_end": run.data_interval_end,
        "ds": ds,
        "ds_nodash": ds.replace("-", ""),
        "ts": logical_date.isoformat(),
        "ts_nodash": ts_nodash,
        "ts_nodash_with_tz": logical_date.isoformat().replace("-", "").replace(":", ""),
        "prev_data_interval_start_success": run.prev_data_interval_start_success,
        "prev_data_interval_end_success": run.prev_data_interval_end_success,
        "params": params,
        "var": {"value": VariableAccessor(False), "json": VariableAccessor(True)},
        "conn": ConnectionAccessor(client),
        "macros": macros,
        "test_mode": test_mode,
        "try_number": start.try_number,
        "map_index": ti.map_index,
        "templates_dict": None,
        "inlets": [],
        "outlets": [],
    }
