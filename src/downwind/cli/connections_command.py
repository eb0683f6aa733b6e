"""``downwind connections list|get|add|delete``: connections in the metastore.

Passwords and secret-looking extras are shown as ``***``.
"""

from __future__ import annotations

import argparse
import json

from downwind.cli.metastore_session import cli_user, metastore_session, now
from downwind.cli.output import print_json, print_table
from downwind.services.connections import (
    add_connection,
    build_connection,
    delete_connection,
    get_connection,
    list_connections,
    masked,
)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def list_(args: argparse.Namespace) -> int:
    """Every connection (passwords masked)."""
    with metastore_session() as session:
        shown = [masked(conn) for conn in list_connections(session)]
    if args.output == "json":
        print_json(shown)
    elif not shown:
        print("No connections defined.")
    else:
        columns = ["conn_id", "conn_type", "host", "port", "login", "schema", "description"]
        print_table(columns, [[_text(c[name]) for name in columns] for c in shown])
    return 0


def get(args: argparse.Namespace) -> int:
    """One connection's fields and URI (password masked)."""
    with metastore_session() as session:
        shown = masked(get_connection(session, args.conn_id))
    if args.output == "json":
        print_json(shown)
        return 0
    rows = []
    for name, value in shown.items():
        text = json.dumps(value) if name == "extra" else _text(value)
        rows.append([name, text])
    print_table(["field", "value"], rows)
    return 0


def add(args: argparse.Namespace) -> int:
    """Add a connection from ``--conn-uri`` or from ``--conn-type`` and other fields."""
    conn = build_connection(
        args.conn_id,
        uri=args.conn_uri,
        conn_type=args.conn_type,
        host=args.conn_host,
        port=args.conn_port,
        login=args.conn_login,
        password=args.conn_password,
        schema=args.conn_schema,
        extra=args.conn_extra,
        description=args.conn_description,
    )
    with metastore_session(write=True) as session:
        add_connection(session, conn, now=now(), owner=cli_user())
    print(f"Added connection '{conn.conn_id}': {masked(conn)['uri']}")
    return 0


def delete(args: argparse.Namespace) -> int:
    """Delete a connection."""
    with metastore_session(write=True) as session:
        delete_connection(session, args.conn_id, now=now(), owner=cli_user())
    print(f"Connection '{args.conn_id}' deleted.")
    return 0
