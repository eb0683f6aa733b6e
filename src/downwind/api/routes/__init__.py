"""The API's routes, one module per resource; each module has a ``router``.

Every route declares its access rule in its ``dependencies``: ``requires(Permission.X)``
or, for the few open ones, ``public()`` (see :mod:`downwind.api.deps`); the app refuses to
start with a route that declares neither. A new resource adds its module to
:data:`API_V2_ROUTERS`.
"""

from __future__ import annotations

from downwind.api.routes import (
    backfills,
    connections,
    dag_runs,
    dag_sources,
    dag_stats,
    dag_tags,
    dag_versions,
    dags,
    event_logs,
    import_errors,
    monitor,
    pools,
    task_instances,
    task_logs,
    tasks,
    variables,
    version,
    xcom,
)

#: the routers served under ``/api/v2``
API_V2_ROUTERS = (
    version.router,
    monitor.router,
    dags.router,
    tasks.router,
    dag_sources.router,
    dag_tags.router,
    dag_stats.router,
    dag_versions.router,
    import_errors.router,
    event_logs.router,
    variables.router,
    connections.router,
    pools.router,
    backfills.router,
    dag_runs.router,
    task_instances.router,
    task_logs.router,
    xcom.router,
)
