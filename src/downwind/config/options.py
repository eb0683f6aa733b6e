"""Every configuration option downwind has, declared once.

This table is the single source of the options' names, types, defaults and docs: the
loader validates against it, ``downwind config list`` walks it, and the option table in
``docs/configuration.md`` is generated from it (``python -m downwind.config.reference``).
To add an option, add one :class:`Option` here and regenerate that table.
"""

from __future__ import annotations

from downwind.config.schema import Bool, Choice, Int, Option, PathType, Str, Timezone

__all__ = ["OPTIONS", "SECTIONS", "Option"]

OPTIONS: tuple[Option, ...] = (
    # [core]
    Option(
        "core",
        "dags_folder",
        PathType(),
        "{home}/dags",
        "Folder scanned for DAG files; it is put on sys.path so DAG files can import helpers.",
    ),
    Option(
        "core",
        "plugins_folder",
        PathType(),
        "{home}/plugins",
        "Folder of plugins and shared helper modules; also put on sys.path.",
    ),
    Option(
        "core",
        "load_examples",
        Bool(),
        True,
        "Load the example DAGs shipped with downwind.",
    ),
    Option(
        "core",
        "executor",
        Choice("sequential", "local", "celery"),
        "local",
        "Executor that runs task tries: sequential (one at a time, for debugging), local "
        "(a pool of worker processes on this machine) or celery (distributed workers).",
    ),
    Option(
        "core",
        "parallelism",
        Int(min=1),
        32,
        "Most task instances running at once across the whole installation.",
    ),
    Option(
        "core",
        "default_timezone",
        Timezone(),
        "UTC",
        "IANA time zone given to naive datetimes in DAG files (e.g. start_date).",
    ),
    Option(
        "core",
        "max_active_runs_per_dag",
        Int(min=1),
        16,
        "Default for a DAG's max_active_runs: most runs of one DAG running at once.",
    ),
    Option(
        "core",
        "max_active_tasks_per_dag",
        Int(min=1),
        16,
        "Default for a DAG's max_active_tasks: most task instances of one DAG running at once.",
    ),
    Option(
        "core",
        "dags_are_paused_at_creation",
        Bool(),
        True,
        "New DAGs start paused, as in Airflow; switch them on in the UI or with "
        "`downwind dags unpause`.",
    ),
    Option(
        "core",
        "default_task_retries",
        Int(min=0),
        0,
        "Default for a task's retries when neither the task nor default_args set it.",
    ),
    Option(
        "core",
        "default_task_retry_delay",
        Int(min=0),
        300,
        "Default for a task's retry_delay, in seconds.",
    ),
    Option(
        "core",
        "dag_discovery_safe_mode",
        Bool(),
        True,
        'Skip Python files in the dags folder that never mention "dag" (case-insensitive), '
        "so helper modules are not imported as DAG files.",
    ),
    # [scheduler]
    Option(
        "scheduler",
        "catchup_by_default",
        Bool(),
        True,
        "Default for a DAG's catchup. The classic Airflow behaviour: the scheduler creates "
        "one run for every interval since start_date that has not run yet, so a daily DAG "
        "started 14 days ago gets 14 catch-up runs. Set false to create only the latest run.",
    ),
    # [logging]
    Option(
        "logging",
        "base_log_folder",
        PathType(),
        "{home}/logs",
        "Folder where task logs are written, one file per task try.",
    ),
    Option(
        "logging",
        "colored_console",
        Bool(),
        True,
        "Color log and progress output when writing to a terminal.",
    ),
    # [database]
    Option(
        "database",
        "sqlite_busy_timeout",
        Int(min=0),
        30,
        "SQLite only: seconds a connection waits for another process's write lock before "
        "failing with 'database is locked'.",
    ),
    Option(
        "database",
        "pool_size",
        Int(min=1),
        5,
        "PostgreSQL only: connections each downwind process keeps open to the metastore.",
    ),
    Option(
        "database",
        "max_overflow",
        Int(min=0),
        10,
        "PostgreSQL only: extra connections a process may open beyond pool_size under load.",
    ),
    Option(
        "database",
        "pool_recycle",
        Int(min=0),
        1800,
        "PostgreSQL only: seconds after which a pooled connection is replaced, so idle "
        "connections cut by a firewall or proxy are not reused; 0 keeps them forever.",
    ),
    Option(
        "database",
        "url",
        Str(),
        "sqlite:///{home}/downwind.db",
        "SQLAlchemy URL of the metastore: sqlite:///PATH (a relative PATH is relative to "
        "$DOWNWIND_HOME) or postgresql://user:password@host/downwind (psycopg 3, installed by "
        "pip install 'downwind[postgres]'). Its password is masked when shown.",
        secret=True,
    ),
)

#: section names in declaration order
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(option.section for option in OPTIONS))
