"""Every configuration option downwind has, declared once.

This table is the single source of the options' names, types, defaults and docs: the
loader validates against it, ``downwind config list`` walks it, and the option table in
``docs/configuration.md`` is generated from it (``python -m downwind.config.reference``).
To add an option, add one :class:`Option` here and regenerate that table.
"""

from __future__ import annotations

from downwind.config.schema import Bool, Choice, Float, Int, Option, PathType, Str, Timezone

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
    Option(
        "core",
        "fernet_key",
        Str(),
        "",
        "Fernet key that encrypts connection passwords, connection extras and variables in "
        "the metastore. Empty: one is generated at first use and written here, in "
        "$DOWNWIND_HOME/downwind.toml (mode 0600). Comma-separated keys rotate: the first "
        "encrypts, all decrypt (then run `downwind rotate-fernet-key`). Give every host of "
        "one installation the same value (e.g. by DOWNWIND__CORE__FERNET_KEY).",
        secret=True,
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
    Option(
        "scheduler",
        "standalone_dag_processor",
        Bool(),
        False,
        "Run the DAG processor as its own process (`downwind dag-processor`) instead of "
        "inside the scheduler.",
    ),
    Option(
        "scheduler",
        "idle_sleep_time",
        Float(min=0.01),
        0.25,
        "Longest wait, in seconds, between two scheduler passes when nothing is ready. A "
        "task that ends wakes the scheduler at once; a run triggered from another process "
        "(the CLI, the API) is seen at the next pass.",
    ),
    Option(
        "scheduler",
        "scheduler_heartbeat_sec",
        Float(min=0.1),
        5.0,
        "Seconds between two heartbeats of the scheduler's job row.",
    ),
    Option(
        "scheduler",
        "scheduler_health_check_threshold",
        Float(min=1),
        30.0,
        "A scheduler whose last heartbeat is older than this many seconds is dead: another "
        "scheduler (or its own restart) adopts the task instances it had queued.",
    ),
    Option(
        "scheduler",
        "task_heartbeat_timeout",
        Float(min=1),
        60.0,
        "A running task instance whose process has not heartbeated for this many seconds "
        "is a zombie: it is retried while it has tries left, else failed.",
    ),
    Option(
        "scheduler",
        "zombie_detection_interval",
        Float(min=0.1),
        10.0,
        "Seconds between two searches for zombie task instances.",
    ),
    Option(
        "scheduler",
        "graceful_stop_timeout",
        Float(min=0),
        30.0,
        "On SIGINT/SIGTERM the scheduler waits this many seconds for running tries to end "
        "before it kills them.",
    ),
    # [executor]
    Option(
        "executor",
        "heartbeat_interval",
        Float(min=0.1),
        5.0,
        "Seconds between two heartbeats of a running task process (see "
        "[scheduler] task_heartbeat_timeout).",
    ),
    Option(
        "executor",
        "kill_grace",
        Float(min=0),
        5.0,
        "Seconds a killed task gets between SIGTERM (its on_kill runs) and SIGKILL.",
    ),
    Option(
        "executor",
        "timeout_grace",
        Float(min=0),
        10.0,
        "Seconds past its execution_timeout after which a task that does not stop by itself "
        "is killed with its process group.",
    ),
    Option(
        "executor",
        "dag_load_timeout",
        Float(min=0.1),
        30.0,
        "Seconds a worker may take to import a DAG file before the try fails.",
    ),
    Option(
        "executor",
        "idle_worker_timeout",
        Float(min=0.1),
        30.0,
        "Seconds after which a worker started for a burst of work (beyond the warm ones, "
        "as many as CPUs) stops again when it has had nothing to run.",
    ),
    # [dag_processor]
    Option(
        "dag_processor",
        "dag_file_processor_timeout",
        Float(min=0.1),
        50,
        "Seconds a DAG file may take to import before its parsing process is killed (with "
        "every process it started) and the file gets an import error saying it timed out.",
    ),
    Option(
        "dag_processor",
        "parsing_processes",
        Int(min=1),
        2,
        "DAG files parsed at once, each in its own child process.",
    ),
    Option(
        "dag_processor",
        "min_file_process_interval",
        Float(min=0),
        30,
        "Seconds after which a DAG file is parsed again even if it did not change (so DAGs "
        "that depend on helper modules, variables or the date stay current). A changed file "
        "is parsed at the next scan of the folder.",
    ),
    Option(
        "dag_processor",
        "refresh_interval",
        Float(min=0),
        5,
        "Seconds between two scans of the dags folder for new, changed and deleted files.",
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
    # [api]
    Option(
        "api",
        "host",
        Str(),
        "127.0.0.1",
        "Address the API server (`downwind api-server`) binds to; 0.0.0.0 serves every "
        "network interface.",
    ),
    Option("api", "port", Int(min=1), 8080, "TCP port the API server listens on."),
    Option(
        "api",
        "workers",
        Int(min=1),
        1,
        "Processes serving the API (uvicorn workers). Login rate limits are kept per process.",
    ),
    Option(
        "api",
        "base_url",
        Str(),
        "http://127.0.0.1:8080",
        "URL at which users reach the API server (behind a proxy: the proxy's URL); shown "
        "in messages and links.",
    ),
    Option(
        "api",
        "maximum_page_limit",
        Int(min=1),
        100,
        "Most items one page of a list endpoint returns, whatever `limit` asks for.",
    ),
    Option(
        "api",
        "fallback_page_limit",
        Int(min=1),
        50,
        "Items per page of a list endpoint when the request gives no `limit`.",
    ),
    Option("api", "access_log", Bool(), True, "Log one line per HTTP request."),
    Option(
        "api",
        "proxy_headers",
        Bool(),
        False,
        "Trust X-Forwarded-For / X-Forwarded-Proto from the addresses in forwarded_allow_ips "
        "(behind a reverse proxy), so the audit log and the login rate limit see the client's "
        "address.",
    ),
    Option(
        "api",
        "forwarded_allow_ips",
        Str(),
        "127.0.0.1",
        "Comma-separated addresses of the proxies whose X-Forwarded-* headers are trusted "
        "when proxy_headers is on (* trusts every address).",
    ),
    Option(
        "api",
        "cors_allowed_origins",
        Str(),
        "",
        "Comma-separated origins (e.g. https://tools.example.com) allowed to call the API "
        "from a browser; empty: CORS is off.",
    ),
    Option(
        "api",
        "max_request_body_bytes",
        Int(min=1),
        1048576,
        "Largest request body accepted; a larger one gets 413.",
    ),
    Option(
        "api",
        "expose_config",
        Bool(),
        False,
        "Serve the configuration (secrets masked) at /api/v2/config (not implemented yet).",
    ),
    # [api_auth]
    Option(
        "api_auth",
        "jwt_secret",
        Str(),
        "",
        "Key that signs the API's tokens (HS512), at least 64 characters. Empty: one is "
        "generated at first use and kept in $DOWNWIND_HOME/jwt_secret (mode 0600). Give "
        "every API server of one installation the same value (e.g. by "
        "DOWNWIND__API_AUTH__JWT_SECRET).",
        secret=True,
    ),
    Option(
        "api_auth",
        "jwt_expiration_time",
        Int(min=1),
        86400,
        "Seconds a token from POST /auth/token stays valid.",
    ),
    Option(
        "api_auth",
        "jwt_cli_expiration_time",
        Int(min=1),
        3600,
        "Seconds a token from POST /auth/token/cli stays valid.",
    ),
    Option(
        "api_auth",
        "login_max_failures",
        Int(min=1),
        5,
        "Failed logins allowed per client address and username within "
        "login_failure_window; further attempts get 429 until the window has passed.",
    ),
    Option(
        "api_auth",
        "login_failure_window",
        Int(min=1),
        60,
        "Seconds over which failed logins are counted (see login_max_failures).",
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
