"""The ``downwind`` command: argument parsing and dispatch.

Only :mod:`argparse` is imported up front so that ``downwind --help`` stays fast; each
command's module is imported when that command runs. A command handler takes the
parsed :class:`argparse.Namespace` and returns the process exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

Configure = Callable[[argparse.ArgumentParser], None]


def _no_args(parser: argparse.ArgumentParser) -> None:
    del parser


def _output_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=("table", "json"),
        default="table",
        help="output format (default: table)",
    )


def _dags_list(p: argparse.ArgumentParser) -> None:
    _output_arg(p)


def _dags_list_import_errors(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--local",
        action="store_true",
        help="parse the dags folder here instead of reading what the DAG processor recorded",
    )
    _output_arg(p)


def _dags_show(p: argparse.ArgumentParser) -> None:
    p.add_argument("dag_id")
    p.add_argument("--dot", action="store_true", help="print the graph in Graphviz dot syntax")


def _logical_date_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "logical_date",
        nargs="?",
        help="logical date of the run (YYYY-MM-DD or ISO 8601; default: now)",
    )


def _dags_test(p: argparse.ArgumentParser) -> None:
    p.add_argument("dag_id")
    _logical_date_arg(p)
    p.add_argument("-c", "--conf", help="run conf as a JSON object, e.g. '{\"n\": 3}'")
    p.add_argument(
        "--wait-retry-delay",
        action="store_true",
        help="wait each task's retry delay before retrying (skipped by default)",
    )
    p.add_argument(
        "--no-db",
        action="store_true",
        help="leave the metastore alone: do not record the run, and read variables and "
        "connections from the environment only (by default, with a migrated metastore, "
        "both come from it too and the run is recorded)",
    )
    p.add_argument("--no-color", action="store_true", help="plain output without colors")


def _tasks_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("dag_id")
    p.add_argument("-t", "--tree", action="store_true", help="show the tasks as a tree")


def _tasks_test(p: argparse.ArgumentParser) -> None:
    p.add_argument("dag_id")
    p.add_argument("task_id")
    _logical_date_arg(p)
    p.add_argument("-c", "--conf", help="run conf as a JSON object")
    p.add_argument("--no-color", action="store_true", help="plain output without colors")


def _db_reset(p: argparse.ArgumentParser) -> None:
    p.add_argument("-y", "--yes", action="store_true", help="reset without asking")


def _dag_id_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("dag_id")


def _run_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("dag_id")
    p.add_argument("run_id")


def _task_instance_arg(p: argparse.ArgumentParser) -> None:
    _run_arg(p)
    p.add_argument("task_id")
    p.add_argument(
        "--map-index", metavar="N", help="map index of a mapped task instance (default: -1)"
    )


def _date_range_args(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "-s", "--start-date", metavar="DATE", help=f"only {what} with a logical date from DATE on"
    )
    p.add_argument(
        "-e", "--end-date", metavar="DATE", help=f"only {what} with a logical date up to DATE"
    )


def _dags_trigger(p: argparse.ArgumentParser) -> None:
    p.add_argument("dag_id")
    p.add_argument("-c", "--conf", help="run conf as a JSON object, e.g. '{\"n\": 3}'")
    p.add_argument(
        "-l",
        "--logical-date",
        metavar="DATE",
        help="logical date of the run (YYYY-MM-DD or ISO 8601; default: now)",
    )
    p.add_argument("-r", "--run-id", help="run id (default: manual__<logical date in ISO 8601>)")
    _output_arg(p)


def _dags_list_runs(p: argparse.ArgumentParser) -> None:
    p.add_argument("dag_id")
    p.add_argument("--state", help="only runs in this state (queued, running, success, failed)")
    p.add_argument("--run-type", help="only runs of this type (scheduled, manual, backfill)")
    _date_range_args(p, "runs")
    _output_arg(p)


def _dags_backfill(p: argparse.ArgumentParser) -> None:
    p.add_argument("dag_id")
    p.add_argument(
        "-s",
        "--start-date",
        metavar="DATE",
        required=True,
        help="first logical date (YYYY-MM-DD or ISO 8601; naive: in the DAG's time zone)",
    )
    p.add_argument(
        "-e", "--end-date", metavar="DATE", required=True, help="last logical date, included"
    )
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--reset-dagruns",
        action="store_true",
        help="run every existing finished run in the range again (reprocess behavior completed)",
    )
    again.add_argument(
        "--rerun-failed-tasks",
        action="store_true",
        help="run the failed tasks of failed runs in the range again (reprocess behavior failed)",
    )
    again.add_argument(
        "--reprocess-behavior",
        choices=("none", "failed", "completed"),
        help="what to do with existing runs, as in Airflow 3 (default: none, keep them)",
    )
    p.add_argument(
        "--max-active-runs",
        type=int,
        metavar="N",
        help="at most N runs of the backfill queued or running at a time (default: 10)",
    )
    p.add_argument("-c", "--conf", help="conf of the backfill's runs, as a JSON object")
    p.add_argument(
        "--dry-run", action="store_true", help="print what the backfill would do; change nothing"
    )
    p.add_argument(
        "--follow", action="store_true", help="then print its progress until it finishes"
    )
    _output_arg(p)


def _backfill_id_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", metavar="BACKFILL_ID")


def _backfills_get(p: argparse.ArgumentParser) -> None:
    _backfill_id_arg(p)
    _output_arg(p)


def _backfills_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--dag-id", help="only the backfills of this DAG")
    p.add_argument("--active", action="store_true", help="only the unfinished ones")
    _output_arg(p)


def _dags_set_state(p: argparse.ArgumentParser) -> None:
    _run_arg(p)
    p.add_argument("state", metavar="STATE", help="success or failed")


def _tasks_states(p: argparse.ArgumentParser) -> None:
    _run_arg(p)
    _output_arg(p)


def _tasks_set_state(p: argparse.ArgumentParser) -> None:
    _task_instance_arg(p)
    p.add_argument("state", metavar="STATE", help="success, failed or skipped")


def _tasks_list_tries(p: argparse.ArgumentParser) -> None:
    _task_instance_arg(p)
    _output_arg(p)


def _tasks_logs(p: argparse.ArgumentParser) -> None:
    _task_instance_arg(p)
    p.add_argument(
        "--try",
        dest="try_number",
        metavar="N",
        help="print the log of try N (default: the latest try)",
    )
    p.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing new lines until the try is no longer queued or running",
    )


def _tasks_clear(p: argparse.ArgumentParser) -> None:
    p.add_argument("dag_id")
    p.add_argument("-t", "--task-regex", metavar="REGEX", help="only tasks whose id matches REGEX")
    p.add_argument(
        "-f", "--only-failed", action="store_true", help="only failed and upstream_failed ones"
    )
    p.add_argument(
        "-d", "--downstream", action="store_true", help="also every task downstream of those"
    )
    p.add_argument(
        "-u", "--upstream", action="store_true", help="also every task upstream of those"
    )
    _date_range_args(p, "runs")
    p.add_argument(
        "--run-id",
        action="append",
        metavar="RUN_ID",
        help="only this run (repeat for several)",
    )
    p.add_argument("-y", "--yes", action="store_true", help="clear without asking")


def _variables_get(p: argparse.ArgumentParser) -> None:
    p.add_argument("key")
    p.add_argument("-d", "--default", help="print this when the variable is not defined")


def _variables_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("key")
    p.add_argument("value")
    p.add_argument("--description", help="what the variable is for")


def _key_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("key")


def _file_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="a JSON file (- for stdin/stdout)")


def _conn_id_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("conn_id")


def _connections_get(p: argparse.ArgumentParser) -> None:
    p.add_argument("conn_id")
    _output_arg(p)


def _connections_add(p: argparse.ArgumentParser) -> None:
    p.add_argument("conn_id")
    p.add_argument(
        "--conn-uri", metavar="URI", help="the whole connection, e.g. postgresql://u:p@host/db"
    )
    p.add_argument("--conn-type", metavar="TYPE", help="connection type, e.g. postgres, http")
    p.add_argument("--conn-host", metavar="HOST")
    p.add_argument("--conn-port", metavar="PORT")
    p.add_argument("--conn-login", metavar="LOGIN")
    p.add_argument("--conn-password", metavar="PASSWORD")
    p.add_argument("--conn-schema", metavar="SCHEMA")
    p.add_argument("--conn-extra", metavar="JSON", help="extra options as a JSON object")
    p.add_argument("--conn-description", metavar="TEXT")


def _pool_name_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("name")


def _pools_get(p: argparse.ArgumentParser) -> None:
    p.add_argument("name")
    _output_arg(p)


def _pools_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("name")
    p.add_argument("slots", metavar="SLOTS", help="number of slots (0 or more)")
    p.add_argument("description", metavar="DESCRIPTION")


def _username_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-u", "--username", required=True, help="the user's name")


def _role_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-r", "--role", required=True, help="Admin, Op, User or Viewer (any case)")


def _password_args(p: argparse.ArgumentParser) -> None:
    given = p.add_mutually_exclusive_group()
    given.add_argument(
        "-p",
        "--password",
        help="the password (seen in the process list and shell history: prefer the others)",
    )
    given.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin",
    )
    p.epilog = "Without --password or --password-stdin, the password is asked for twice."


def _users_create(p: argparse.ArgumentParser) -> None:
    _username_arg(p)
    _role_arg(p)
    _password_args(p)


def _users_delete(p: argparse.ArgumentParser) -> None:
    _username_arg(p)
    p.add_argument("-y", "--yes", action="store_true", help="delete without asking")


def _users_reset_password(p: argparse.ArgumentParser) -> None:
    _username_arg(p)
    _password_args(p)


def _users_set_role(p: argparse.ArgumentParser) -> None:
    _username_arg(p)
    _role_arg(p)


def _dag_processor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true", help="parse every DAG file once and exit")


def _api_server(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="address to bind (default: [api] host, 127.0.0.1)")
    p.add_argument(
        "-p",
        "--port",
        type=int,
        metavar="PORT",
        help="port to listen on (default: [api] port, 8080)",
    )
    p.add_argument(
        "-w",
        "--workers",
        type=int,
        metavar="N",
        help="server processes (default: [api] workers, 1)",
    )


def _config_get_value(p: argparse.ArgumentParser) -> None:
    p.add_argument("section")
    p.add_argument("key")


def _config_list(p: argparse.ArgumentParser) -> None:
    _output_arg(p)
    p.add_argument("--section", help="only this section")


#: group -> command -> (help, configure parser, "module:function" handler)
COMMANDS: dict[str, dict[str, tuple[str, Configure, str]]] = {
    "dags": {
        "list": ("list the DAGs in the dags folder", _dags_list, "dags_command:list_dags"),
        "list-import-errors": (
            "list DAG files that failed to load, with their tracebacks",
            _dags_list_import_errors,
            "dags_command:list_import_errors",
        ),
        "show": ("show a DAG's tasks and dependencies", _dags_show, "dags_command:show_dag"),
        "test": (
            "run one DAG run in this process, printing each task's progress and log",
            _dags_test,
            "test_command:test_dag",
        ),
        "trigger": (
            "create a manual run of a DAG (the scheduler runs it)",
            _dags_trigger,
            "runs_command:trigger",
        ),
        "pause": ("pause a DAG: no runs are started", _dag_id_arg, "runs_command:pause"),
        "unpause": (
            "unpause a DAG: it runs on its schedule",
            _dag_id_arg,
            "runs_command:unpause",
        ),
        "backfill": (
            "run a DAG over past logical dates (the scheduler runs it)",
            _dags_backfill,
            "backfill_command:backfill",
        ),
        "list-runs": (
            "list the runs of a DAG, newest first",
            _dags_list_runs,
            "runs_command:list_runs",
        ),
        "state": ("print the state of a DAG run", _run_arg, "runs_command:run_state"),
        "set-state": (
            "mark a DAG run success or failed, with its unfinished tasks",
            _dags_set_state,
            "runs_command:set_run_state",
        ),
    },
    "tasks": {
        "list": ("list the tasks of a DAG", _tasks_list, "dags_command:list_tasks"),
        "test": (
            "run one task in this process, ignoring its dependencies",
            _tasks_test,
            "test_command:test_task",
        ),
        "states-for-dag-run": (
            "list the state of every task instance of a DAG run",
            _tasks_states,
            "tasks_command:states_for_dag_run",
        ),
        "state": (
            "print the state of a task instance",
            _task_instance_arg,
            "tasks_command:task_state",
        ),
        "set-state": (
            "mark a task instance success, failed or skipped",
            _tasks_set_state,
            "tasks_command:set_task_state",
        ),
        "list-tries": (
            "list every try of a task instance",
            _tasks_list_tries,
            "tasks_command:list_tries",
        ),
        "logs": (
            "print the log of a task instance's try; follow it with --follow",
            _tasks_logs,
            "logs_command:task_logs",
        ),
        "clear": (
            "clear task instances so that they run again (asks first)",
            _tasks_clear,
            "tasks_command:clear",
        ),
    },
    "backfills": {
        "list": (
            "list the backfills, newest first, with their progress",
            _backfills_list,
            "backfill_command:list_",
        ),
        "get": ("show a backfill and its progress", _backfills_get, "backfill_command:get"),
        "pause": (
            "pause a backfill: none of its runs is created or started",
            _backfill_id_arg,
            "backfill_command:pause",
        ),
        "unpause": ("unpause a backfill", _backfill_id_arg, "backfill_command:unpause"),
        "cancel": (
            "cancel a backfill: its queued runs fail, its running runs finish",
            _backfill_id_arg,
            "backfill_command:cancel",
        ),
    },
    "variables": {
        "list": ("list the variables' keys", _output_arg, "variables_command:list_"),
        "get": ("print a variable's value", _variables_get, "variables_command:get"),
        "set": ("create or replace a variable", _variables_set, "variables_command:set_"),
        "delete": ("delete a variable", _key_arg, "variables_command:delete"),
        "import": (
            "create or replace the variables of a JSON file",
            _file_arg,
            "variables_command:import_",
        ),
        "export": (
            "write every variable to a JSON file",
            _file_arg,
            "variables_command:export",
        ),
    },
    "connections": {
        "list": (
            "list the connections (passwords masked)",
            _output_arg,
            "connections_command:list_",
        ),
        "get": (
            "show a connection (password masked)",
            _connections_get,
            "connections_command:get",
        ),
        "add": (
            "add a connection from --conn-uri or from fields",
            _connections_add,
            "connections_command:add",
        ),
        "delete": ("delete a connection", _conn_id_arg, "connections_command:delete"),
    },
    "pools": {
        "list": ("list the pools and their slots in use", _output_arg, "pools_command:list_"),
        "get": ("show a pool and its slots in use", _pools_get, "pools_command:get"),
        "set": ("create a pool or change its slots", _pools_set, "pools_command:set_"),
        "delete": ("delete an unused pool", _pool_name_arg, "pools_command:delete"),
    },
    "users": {
        "create": (
            "create a user of the API and UI with a role",
            _users_create,
            "users_command:create",
        ),
        "list": ("list the users and their roles", _output_arg, "users_command:list_"),
        "delete": ("delete a user (asks first)", _users_delete, "users_command:delete"),
        "reset-password": (
            "give a user a new password",
            _users_reset_password,
            "users_command:reset_password_",
        ),
        "set-role": ("give a user another role", _users_set_role, "users_command:set_role_"),
    },
    "db": {
        "migrate": ("create or upgrade the metastore's tables", _no_args, "db_command:migrate"),
        "check": (
            "exit 0 if the metastore is reachable and at the latest schema",
            _no_args,
            "db_command:check",
        ),
        "reset": (
            "drop the metastore's tables and migrate again (asks first)",
            _db_reset,
            "db_command:reset",
        ),
    },
    "config": {
        "list": (
            "show every option's effective value and where it came from",
            _config_list,
            "config_command:list_config",
        ),
        "get-value": (
            "print one option's effective value",
            _config_get_value,
            "config_command:get_value",
        ),
    },
}

#: commands without a group: name -> (help, configure, handler)
TOP_LEVEL: dict[str, tuple[str, Configure, str]] = {
    "version": ("print downwind's version", _no_args, "info_command:version"),
    "dag-processor": (
        "parse the DAG files and store them in the metastore",
        _dag_processor,
        "dag_processor_command:run",
    ),
    "scheduler": (
        "run the scheduler (and the DAG processor) until stopped",
        _no_args,
        "scheduler_command:scheduler",
    ),
    "standalone": (
        "set up what is missing, then run the scheduler and the API server together",
        _no_args,
        "standalone_command:standalone",
    ),
    "api-server": (
        "serve the REST API (Airflow's /api/v2) until stopped",
        _api_server,
        "api_server_command:api_server",
    ),
    "webserver": ("alias of api-server", _api_server, "api_server_command:api_server"),
    "rotate-fernet-key": (
        "encrypt every stored secret again with the first key of [core] fernet_key",
        _no_args,
        "rotate_fernet_key_command:rotate_fernet_key",
    ),
}


#: one-line help of each command group
GROUP_HELP = {
    "dags": "list, show, test, trigger and pause DAGs; their runs",
    "tasks": "list and test the tasks of a DAG; their states and logs; clear them",
    "backfills": "follow, pause and cancel backfills (`dags backfill` starts one)",
    "variables": "manage the variables in the metastore",
    "connections": "manage the connections in the metastore",
    "pools": "manage the pools in the metastore",
    "users": "manage who may sign in to the API and UI, and their roles",
    "config": "show the effective configuration",
    "db": "migrate, check and reset the metastore",
}

EPILOG = """examples:
  downwind dags list
  downwind dags test download_rocket_launches 2026-01-01
  downwind tasks test download_rocket_launches notify 2026-01-01
  downwind dags trigger download_rocket_launches --conf '{"limit": 5}'
  downwind tasks clear download_rocket_launches --only-failed

Run `downwind COMMAND --help` for a command's subcommands and options."""


def build_parser(only_group: str | None = None) -> argparse.ArgumentParser:
    """The argument parser (no command module is imported).

    With ``only_group``, the other groups are listed but get no subcommands: building
    every subcommand's parser is most of the cost of starting a command.
    """
    parser = argparse.ArgumentParser(
        prog="downwind",
        description="downwind: author, schedule and monitor workflows (Airflow-style DAGs).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for group, commands in COMMANDS.items():
        help_text = GROUP_HELP.get(group, f"{group} commands")
        group_parser = groups.add_parser(group, help=help_text, description=help_text)
        if only_group is not None and group != only_group:
            continue
        sub = group_parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
        for name, (help_text, configure, handler) in commands.items():
            cmd = sub.add_parser(name, help=help_text, description=help_text)
            configure(cmd)
            cmd.set_defaults(handler=handler)
    for name, (help_text, configure, handler) in TOP_LEVEL.items():
        cmd = groups.add_parser(name, help=help_text, description=help_text)
        configure(cmd)
        cmd.set_defaults(handler=handler)
    return parser


def _resolve(handler: str) -> Callable[[argparse.Namespace], int]:
    module_name, _, function = handler.partition(":")
    module = importlib.import_module(f"downwind.cli.{module_name}")
    return getattr(module, function)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``downwind`` console script; returns the exit status.

    Errors a user can fix (unknown DAG, malformed date, bad conf...) are one
    ``error: ...`` line on stderr and status 1; a usage error is argparse's message and
    status 2; ``--help`` is status 0.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    group = argv[0] if argv and argv[0] in COMMANDS else None
    try:
        args = build_parser(group).parse_args(argv)
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    from downwind.exceptions import DownwindException

    try:
        status = _resolve(args.handler)(args)
        # Flush here, not at interpreter exit, so a closed pipe is handled below.
        sys.stdout.flush()
        return status
    except DownwindException as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as Unix tools do, and
        # keep Python from complaining when it flushes stdout at exit.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
