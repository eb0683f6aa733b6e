"""``downwind db migrate``, ``downwind db check`` and ``downwind db reset``."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from downwind.config import get_config
from downwind.metastore.engine import display_url, get_engine, normalize_url, sqlite_path
from downwind.metastore.migrate import AppliedRevision, reset_database, schema_status, upgrade

_RUN_MIGRATE = "run `downwind db migrate`"


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _where() -> str:
    """The configured metastore URL, password masked."""
    conf = get_config()
    return display_url(normalize_url(conf.database.url, conf.home))


def _unreachable(where: str, err: DBAPIError) -> int:
    reason = str(err.orig).strip().splitlines()[0] if err.orig is not None else str(err)
    return _error(f"cannot reach the metastore at {where}: {reason}\n{_url_origin()}")


def _url_origin() -> str:
    """Where ``[database] url`` came from, so the user knows what to fix."""
    source = get_config().source("database", "url")
    if source == "default":
        where = "the default; set it in downwind.toml or with DOWNWIND__DATABASE__URL"
    elif source.startswith("env "):
        where = f"from the environment variable {source.removeprefix('env ')}"
    else:
        where = f"from {source}"
    return f"check [database] url ({where})"


def _print_applied(applied: list[AppliedRevision]) -> None:
    for step in applied:
        print(f"  applied {step.revision}: {step.description}")


def migrate(args: argparse.Namespace) -> int:
    """Bring the metastore to the latest schema; running it again does nothing."""
    del args
    where = _where()
    engine = get_engine()
    try:
        applied = upgrade(engine)
        head = schema_status(engine).head
    except DBAPIError as err:
        return _unreachable(where, err)
    if applied:
        print(f"Migrated the metastore at {where}:")
        _print_applied(applied)
        print(f"It is now at revision {head} (latest).")
    else:
        print(f"The metastore at {where} is already at the latest revision ({head}).")
    return 0


def check(args: argparse.Namespace) -> int:
    """Exit 0 when the metastore is reachable and at the latest revision, 1 otherwise."""
    del args
    conf = get_config()
    url = normalize_url(conf.database.url, conf.home)
    where = display_url(url)
    path = sqlite_path(url)
    if path is not None and not path.exists():  # don't create an empty file just to look
        return _error(f"there is no metastore at {where} yet: {_RUN_MIGRATE}")
    engine: Engine = get_engine()
    try:
        status = schema_status(engine)
    except DBAPIError as err:
        return _unreachable(where, err)
    if status.unknown:
        return _error(
            f"the metastore at {where} is at revision {', '.join(status.unknown)}, which this "
            f"downwind does not know (its latest is {status.head}): it was migrated by a newer "
            "downwind; upgrade downwind"
        )
    if not status.is_migrated:
        return _error(f"the metastore at {where} is not migrated: {_RUN_MIGRATE}")
    if not status.is_current:
        return _error(
            f"the metastore at {where} is at revision {', '.join(status.current)} but this "
            f"downwind needs {status.head}: {_RUN_MIGRATE}"
        )
    print(f"The metastore at {where} is reachable and at the latest revision ({status.head}).")
    return 0


def _confirmed(where: str) -> bool:
    print(
        f"This drops every downwind table of the metastore at {where}: all DAG runs, task "
        "history, XComs, variables, connections and pools are lost."
    )
    try:
        answer = input("Reset it? [y/N] ")
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def reset(args: argparse.Namespace) -> int:
    """Drop the metastore's tables and migrate again (asks first unless ``--yes``)."""
    where = _where()
    if not getattr(args, "yes", False):
        if not sys.stdin.isatty():
            return _error(
                f"refusing to reset the metastore at {where} without confirmation: stdin is "
                "not a terminal; pass --yes to reset it anyway"
            )
        if not _confirmed(where):
            print("Nothing was changed.")
            return 1
    engine = get_engine()
    try:
        applied = reset_database(engine)
    except DBAPIError as err:
        return _unreachable(where, err)
    print(f"Reset the metastore at {where}: dropped downwind's tables and migrated again:")
    _print_applied(applied)
    return 0
