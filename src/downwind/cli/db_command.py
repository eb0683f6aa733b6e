"""``downwind db migrate``, ``downwind db check`` and ``downwind db reset``."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import DBAPIError

from downwind.cli.metastore_session import (
    MetastoreNotReady,
    MetastoreUnreachable,
    check_metastore_ready,
)
from downwind.config import get_config
from downwind.metastore.engine import display_url, get_engine, normalize_url
from downwind.metastore.migrate import AppliedRevision, head_revision, reset_database, upgrade

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
        head = head_revision()
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
    try:
        check_metastore_ready()
    except MetastoreUnreachable as err:
        return _error(f"{err}\n{_url_origin()}")
    except MetastoreNotReady as err:
        return _error(str(err))
    print(
        f"The metastore at {_where()} is reachable and at the latest revision ({head_revision()})."
    )
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
