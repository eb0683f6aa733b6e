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
            _dags_list,
            "dags_command:list_import_errors",
        ),
        "show": ("show a DAG's tasks and dependencies", _dags_show, "dags_command:show_dag"),
        "test": (
            "run one DAG run in this process, printing each task's progress and log",
            _dags_test,
            "test_command:test_dag",
        ),
    },
    "tasks": {
        "list": ("list the tasks of a DAG", _tasks_list, "dags_command:list_tasks"),
        "test": (
            "run one task in this process, ignoring its dependencies",
            _tasks_test,
            "test_command:test_task",
        ),
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
}


#: one-line help of each command group
GROUP_HELP = {
    "dags": "list, show and test DAGs",
    "tasks": "list and test the tasks of a DAG",
    "config": "show the effective configuration",
    "db": "migrate, check and reset the metastore",
}

EPILOG = """examples:
  downwind dags list
  downwind dags test download_rocket_launches 2026-01-01
  downwind tasks test download_rocket_launches notify 2026-01-01

Run `downwind COMMAND --help` for a command's subcommands and options."""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (cheap to build: no command module is imported)."""
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
    try:
        args = build_parser().parse_args(argv)
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
