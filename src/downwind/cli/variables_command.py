"""``downwind variables list|get|set|delete|import|export``: variables in the metastore."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from downwind.cli.metastore_session import cli_user, metastore_session, now
from downwind.cli.output import print_json, print_table
from downwind.exceptions import DownwindException
from downwind.services.variables import (
    delete_variable,
    export_variables,
    get_variable,
    import_variables,
    list_variables,
    set_variable,
)


def list_(args: argparse.Namespace) -> int:
    """The keys (and descriptions) of every variable; values are not shown."""
    with metastore_session() as session:
        rows = [{"key": v.key, "description": v.description} for v in list_variables(session)]
    if args.output == "json":
        print_json(rows)
    elif not rows:
        print("No variables defined.")
    else:
        print_table(["key", "description"], [[r["key"], r["description"] or ""] for r in rows])
    return 0


def get(args: argparse.Namespace) -> int:
    """Print a variable's value (or ``--default``)."""
    with metastore_session() as session:
        if args.default is None:
            value = get_variable(session, args.key)
        else:
            value = get_variable(session, args.key, args.default)
    print(value)
    return 0


def set_(args: argparse.Namespace) -> int:
    """Create or replace a variable."""
    with metastore_session(write=True) as session:
        set_variable(
            session,
            args.key,
            args.value,
            description=args.description,
            now=now(),
            owner=cli_user(),
        )
    print(f"Variable '{args.key}' set.")
    return 0


def delete(args: argparse.Namespace) -> int:
    """Delete a variable."""
    with metastore_session(write=True) as session:
        delete_variable(session, args.key, now=now(), owner=cli_user())
    print(f"Variable '{args.key}' deleted.")
    return 0


def _read_json(file: str) -> Any:
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as err:
        raise DownwindException(f"cannot read {file}: {err.strerror or err}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DownwindException(f"{file} is not valid JSON: {err}") from None


def import_(args: argparse.Namespace) -> int:
    """Create or replace the variables of a JSON file (``-``: stdin); all or nothing."""
    data = _read_json(args.file)
    with metastore_session(write=True) as session:
        created, updated = import_variables(session, data, now=now(), owner=cli_user())
    total = created + updated
    print(
        f"Imported {total} variable{'' if total == 1 else 's'} from {args.file} "
        f"({created} created, {updated} updated)."
    )
    return 0


def export(args: argparse.Namespace) -> int:
    """Write every variable to a JSON file (``-``: stdout)."""
    with metastore_session() as session:
        data = export_variables(session)
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if args.file == "-":
        sys.stdout.write(text)
        return 0
    try:
        Path(args.file).write_text(text, encoding="utf-8")
    except OSError as err:
        raise DownwindException(f"cannot write {args.file}: {err.strerror or err}") from None
    print(f"Exported {len(data)} variable{'' if len(data) == 1 else 's'} to {args.file}.")
    return 0
