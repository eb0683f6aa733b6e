"""Variables from the environment: ``DOWNWIND_VAR_<KEY>`` overrides the metastore, as in Airflow.

This is only the lookup layer; the ``Variable`` class that task code uses asks the runtime
client, which consults the environment first through :func:`variable_from_env`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["VAR_ENV_PREFIX", "variable_from_env"]

VAR_ENV_PREFIX = "DOWNWIND_VAR_"


def variable_from_env(key: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of ``DOWNWIND_VAR_<KEY upper>``, or ``None`` if it is not set.

    ``environ`` defaults to ``os.environ``; the value is returned as is (an empty string is a
    value, not "unset").
    """
    env = os.environ if environ is None else environ
    return env.get(VAR_ENV_PREFIX + key.upper())
