"""``downwind users create|list|delete|reset-password|set-role``: who may sign in to the
API and UI, and with which role."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime
from typing import Any

from downwind.cli.metastore_session import cli_user, metastore_session, now
from downwind.cli.output import print_json, print_table
from downwind.exceptions import DownwindException
from downwind.metastore.models import UserModel
from downwind.security.roles import UnknownRole, parse_role
from downwind.services.users import (
    create_user,
    delete_user,
    get_user,
    list_users,
    reset_password,
    set_role,
)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _cell(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat(timespec="seconds")


def _read_password(args: argparse.Namespace) -> str:
    """The password from ``--password``, one line of stdin (``--password-stdin``), or
    asked twice on the terminal."""
    if args.password is not None:
        return args.password
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise DownwindException("--password-stdin: stdin is empty, expected the password")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise DownwindException(
            "no password given and stdin is not a terminal to ask for it: pass --password "
            "or --password-stdin"
        )
    password = getpass.getpass("Password: ")
    if getpass.getpass("Repeat the password: ") != password:
        raise DownwindException("the two passwords differ; nothing was changed")
    return password


def _check_role(role: str) -> str:
    """The role's canonical name; an unknown role fails before a password is asked for."""
    try:
        return parse_role(role).value
    except UnknownRole as err:
        raise DownwindException(str(err)) from None


def create(args: argparse.Namespace) -> int:
    """Create a user with a role and a password."""
    role = _check_role(args.role)
    password = _read_password(args)
    with metastore_session(write=True) as session:
        create_user(session, args.username, password, role, now=now(), owner=cli_user())
    print(f"Created user '{args.username}' with role {role}.")
    return 0


def _record(user: UserModel) -> dict[str, Any]:
    """A user as the JSON output shows it (never the password hash)."""
    return {
        "username": user.username,
        "role": user.role,
        "is_active": user.is_active,
        "created_at": _iso(user.created_at),
        "last_login": _iso(user.last_login),
    }


def _row(user: UserModel) -> list[str]:
    return [
        user.username,
        user.role,
        "yes" if user.is_active else "no",
        _cell(user.created_at),
        _cell(user.last_login),
    ]


def list_(args: argparse.Namespace) -> int:
    """Every user with their role, whether they may sign in, and when they last did."""
    with metastore_session() as session:
        users = list_users(session)
        records = [_record(user) for user in users]
        rows = [_row(user) for user in users]
    if args.output == "json":
        print_json(records)
    elif not rows:
        print("No users.")
    else:
        print_table(["username", "role", "active", "created", "last_login"], rows)
    return 0


def _confirmed(username: str) -> bool:
    try:
        answer = input(f"Delete user '{username}'? [y/N] ")
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def delete(args: argparse.Namespace) -> int:
    """Delete a user (asks first unless ``--yes``)."""
    if not args.yes:
        with metastore_session() as session:
            get_user(session, args.username)  # an unknown user fails before the question
        if not sys.stdin.isatty():
            raise DownwindException(
                f"refusing to delete user '{args.username}' without confirmation: stdin is "
                "not a terminal; pass --yes to delete it"
            )
        if not _confirmed(args.username):
            print("Nothing was deleted.")
            return 1
    with metastore_session(write=True) as session:
        delete_user(session, args.username, now=now(), owner=cli_user())
    print(f"Deleted user '{args.username}'.")
    return 0


def reset_password_(args: argparse.Namespace) -> int:
    """Give a user a new password."""
    with metastore_session() as session:
        get_user(session, args.username)  # an unknown user fails before the password prompt
    password = _read_password(args)
    with metastore_session(write=True) as session:
        reset_password(session, args.username, password, now=now(), owner=cli_user())
    print(f"Changed the password of user '{args.username}'.")
    return 0


def set_role_(args: argparse.Namespace) -> int:
    """Give a user another role."""
    with metastore_session(write=True) as session:
        user = set_role(session, args.username, args.role, now=now(), owner=cli_user())
        role = user.role
    print(f"User '{args.username}' now has role {role}.")
    return 0
