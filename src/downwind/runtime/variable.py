"""``Variable``: key/value settings that task code and templates read at run time."""

from __future__ import annotations

import json
import os
from typing import Any

from downwind.exceptions import DownwindException, VariableNotFound
from downwind.runtime.current import current_client
from downwind.runtime.masking import is_sensitive_name, mask_secret

_NOTSET: Any = object()


def lookup_variable(key: str) -> str | None:
    """The raw value of variable ``key``: through the running task's client, else from the
    ``DOWNWIND_VAR_<KEY>`` environment variable. The value of a sensitive key (see
    :func:`~downwind.runtime.masking.is_sensitive_name`) is masked in the task's log."""
    client = current_client()
    if client is not None:
        value = client.get_variable(key)
    else:
        from downwind.runtime.variables import variable_from_env

        value = variable_from_env(key, os.environ)
    if value is not None and is_sensitive_name(key):
        mask_secret(value)
    return value


def decode_json_variable(key: str, value: str) -> Any:
    """``value`` of variable ``key`` decoded from JSON, or an error naming the variable.
    The strings inside the value of a sensitive key are masked in the task's log."""
    try:
        decoded = json.loads(value)
    except ValueError as err:
        raise DownwindException(f"variable '{key}' does not hold valid JSON: {err}") from None
    if is_sensitive_name(key):
        mask_secret(decoded)
    return decoded


class Variable:
    """Read (and set) variables, as in Airflow: ``Variable.get("key", default_var=None)``."""

    @staticmethod
    def get(
        key: str,
        default_var: Any = _NOTSET,
        deserialize_json: bool = False,
        *,
        default: Any = _NOTSET,
    ) -> Any:
        """The value of ``key`` (JSON-decoded if ``deserialize_json``), or the default.

        Without a default, an undefined variable raises
        :class:`~downwind.exceptions.VariableNotFound`.
        """
        value = lookup_variable(key)
        if value is None:
            if default_var is not _NOTSET:
                return default_var
            if default is not _NOTSET:
                return default
            raise VariableNotFound(
                f"variable '{key}' is not defined (define it, or set the environment "
                f"variable DOWNWIND_VAR_{key.upper()})"
            )
        return decode_json_variable(key, value) if deserialize_json else value

    @staticmethod
    def set(key: str, value: Any, serialize_json: bool = False) -> None:
        """Set ``key`` from task code (through the running task's client)."""
        client = current_client()
        if client is None:
            raise DownwindException(
                "Variable.set() works inside a running task; outside one use "
                "`downwind variables set`"
            )
        client.set_variable(key, json.dumps(value) if serialize_json else str(value))
