"""Roles and what each may do, as in Airflow: Admin, Op, User and Viewer.

Each role has every permission of the role below it, plus its own:

- ``Viewer``: ``read`` -- DAGs, runs, task instances, logs, XComs, import errors, DAG
  sources, pools, the audit log, health;
- ``User``: and ``operate`` -- trigger, clear, mark states, pause, delete runs and DAGs;
- ``Op``: and ``configure`` -- read and write variables and connections, write pools;
- ``Admin``: and ``manage_users``.
"""

from __future__ import annotations

from enum import StrEnum

from downwind.exceptions import DownwindException

__all__ = ["Permission", "Role", "UnknownRole", "allows", "parse_role", "permissions_of"]


class Role(StrEnum):
    """A user's role; its value is the name stored in the metastore and shown to people."""

    ADMIN = "Admin"
    OP = "Op"
    USER = "User"
    VIEWER = "Viewer"


class Permission(StrEnum):
    """A kind of action that a role may or may not do."""

    #: see DAGs, runs, task instances, logs, XComs, import errors, sources, pools,
    #: event logs and health
    READ = "read"
    #: trigger, clear, mark state, pause; delete runs and DAGs
    OPERATE = "operate"
    #: read and write variables and connections; write pools
    CONFIGURE = "configure"
    #: create, change and delete users
    MANAGE_USERS = "manage_users"


class UnknownRole(DownwindException, ValueError):
    """A role name that is none of :class:`Role`'s; the message lists the roles."""


_VIEWER = frozenset({Permission.READ})
_USER = _VIEWER | {Permission.OPERATE}
_OP = _USER | {Permission.CONFIGURE}
_ADMIN = frozenset(Permission)

_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: _ADMIN,
    Role.OP: _OP,
    Role.USER: _USER,
    Role.VIEWER: _VIEWER,
}

_BY_LOWER_NAME = {role.value.lower(): role for role in Role}


def parse_role(text: str | Role) -> Role:
    """The role named ``text``, in any case (``"admin"`` is :attr:`Role.ADMIN`); raises
    :class:`UnknownRole` for any other name."""
    if isinstance(text, Role):
        return text
    role = _BY_LOWER_NAME.get(text.strip().lower()) if isinstance(text, str) else None
    if role is None:
        raise UnknownRole(
            f"unknown role {text!r}: the roles are {', '.join(role.value for role in Role)}"
        )
    return role


def permissions_of(role: Role | str) -> frozenset[Permission]:
    """Every permission of ``role`` (a :class:`Role` or its name, as stored)."""
    return _PERMISSIONS[parse_role(role)]


def allows(role: Role | str, permission: Permission) -> bool:
    """Whether ``role`` has ``permission``. A name that is no role (a damaged row) has no
    permission: the check on every request denies, it never fails."""
    try:
        return permission in permissions_of(role)
    except UnknownRole:
        return False
