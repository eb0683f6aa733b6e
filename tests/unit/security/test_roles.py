"""Roles and their permissions: every role x permission, and role names."""

from __future__ import annotations

import itertools

import pytest

from downwind.exceptions import DownwindException
from downwind.security.roles import (
    Permission,
    Role,
    UnknownRole,
    allows,
    parse_role,
    permissions_of,
)

READ, OPERATE, CONFIGURE, MANAGE_USERS = (
    Permission.READ,
    Permission.OPERATE,
    Permission.CONFIGURE,
    Permission.MANAGE_USERS,
)

#: what each role may do; everything absent is refused
ALLOWED = {
    Role.VIEWER: {READ},
    Role.USER: {READ, OPERATE},
    Role.OP: {READ, OPERATE, CONFIGURE},
    Role.ADMIN: {READ, OPERATE, CONFIGURE, MANAGE_USERS},
}


@pytest.mark.parametrize("permission", list(Permission))
@pytest.mark.parametrize("role", list(Role))
def test_every_role_and_permission(role: Role, permission: Permission) -> None:
    assert allows(role, permission) is (permission in ALLOWED[role])


def test_the_table_covers_every_role() -> None:
    assert set(ALLOWED) == set(Role)
    for role in Role:
        assert permissions_of(role) == frozenset(ALLOWED[role])


def test_each_role_has_what_the_role_below_has() -> None:
    ladder = [Role.VIEWER, Role.USER, Role.OP, Role.ADMIN]
    for lower, higher in itertools.pairwise(ladder):
        assert permissions_of(lower) < permissions_of(higher)


def test_a_stored_role_name_works_like_the_role() -> None:
    assert allows("Admin", Permission.MANAGE_USERS)
    assert not allows("Viewer", Permission.OPERATE)
    assert permissions_of("Op") == permissions_of(Role.OP)


def test_names_and_values_are_airflows() -> None:
    assert [role.value for role in Role] == ["Admin", "Op", "User", "Viewer"]
    assert [p.value for p in Permission] == ["read", "operate", "configure", "manage_users"]


@pytest.mark.parametrize(
    ("text", "role"),
    [
        ("Admin", Role.ADMIN),
        ("admin", Role.ADMIN),
        ("ADMIN", Role.ADMIN),
        ("op", Role.OP),
        ("user", Role.USER),
        (" Viewer ", Role.VIEWER),
        (Role.OP, Role.OP),
    ],
)
def test_parse_role_ignores_case(text: str, role: Role) -> None:
    assert parse_role(text) is role


@pytest.mark.parametrize("text", ["", "root", "Admins", "Public"])
def test_an_unknown_role_lists_the_roles(text: str) -> None:
    with pytest.raises(UnknownRole) as info:
        parse_role(text)
    assert str(info.value) == f"unknown role {text!r}: the roles are Admin, Op, User, Viewer"
    assert isinstance(info.value, DownwindException) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("permission", list(Permission))
def test_a_name_that_is_no_role_is_denied_everything(permission: Permission) -> None:
    assert allows("Superuser", permission) is False
    assert allows("", permission) is False
    with pytest.raises(UnknownRole):
        permissions_of("Superuser")
