"""Users in the metastore on SQLite and PostgreSQL: create, sign in, change, delete."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from metastore_dags import NOW
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from downwind.metastore.models import AuditLog, UserModel
from downwind.security.passwords import verify_password
from downwind.services.errors import AlreadyExists, InvalidInput, UserNotFound
from downwind.services.users import (
    authenticate,
    create_user,
    delete_user,
    ensure_admin,
    get_user,
    list_users,
    reset_password,
    set_active,
    set_role,
)

LATER = NOW + timedelta(hours=1)


def test_a_created_user_has_a_hash_not_the_password(session: Session) -> None:
    user = create_user(session, "ada", "correct horse", "op", now=NOW, owner="root")
    assert (user.username, user.role, user.is_active) == ("ada", "Op", True)
    assert (user.created_at, user.password_changed_at, user.last_login) == (NOW, NOW, None)
    assert user.password_hash != "correct horse"
    assert user.password_hash.startswith("scrypt$")
    assert verify_password("correct horse", user.password_hash)
    assert "scrypt" not in repr(user) and "correct horse" not in repr(user)
    session.commit()
    stored = session.execute(text("SELECT * FROM users")).all()
    assert stored and all("correct horse" not in str(value) for row in stored for value in row)
    assert get_user(session, "ada") is user
    assert [u.username for u in list_users(session)] == ["ada"]


def test_users_are_listed_by_username(session: Session) -> None:
    for name in ("carol", "ada", "bob"):
        create_user(session, name, "password1", "Viewer", now=NOW)
    assert [u.username for u in list_users(session)] == ["ada", "bob", "carol"]


def test_a_taken_username_is_refused(session: Session) -> None:
    create_user(session, "ada", "password1", "User", now=NOW)
    with pytest.raises(AlreadyExists, match=r"^user 'ada' already exists$"):
        create_user(session, "ada", "password2", "Admin", now=NOW)
    assert get_user(session, "ada").role == "User"


def test_an_unknown_role_is_refused_naming_the_roles(session: Session) -> None:
    with pytest.raises(InvalidInput) as info:
        create_user(session, "ada", "password1", "superuser", now=NOW)
    assert str(info.value) == "unknown role 'superuser': the roles are Admin, Op, User, Viewer"
    assert list_users(session) == []


def test_a_short_password_is_refused(session: Session) -> None:
    with pytest.raises(InvalidInput) as info:
        create_user(session, "ada", "short", "User", now=NOW)
    assert str(info.value) == (
        "the password is too short: it must have at least 8 characters, it has 5"
    )
    assert list_users(session) == []


@pytest.mark.parametrize("username", ["", " ", "ada lovelace", "ada\n", "tab\there", "u" * 251])
def test_a_malformed_username_is_refused(session: Session, username: str) -> None:
    with pytest.raises(InvalidInput, match="it must be 1 to 250 characters without spaces"):
        create_user(session, username, "password1", "User", now=NOW)


def test_authenticate_checks_the_password_and_records_the_login(session: Session) -> None:
    create_user(session, "ada", "correct horse", "Op", now=NOW)
    assert authenticate(session, "ada", "wrong horse", now=LATER) is None
    assert get_user(session, "ada").last_login is None
    user = authenticate(session, "ada", "correct horse", now=LATER)
    assert user is not None and user.username == "ada"
    assert user.last_login == LATER


def test_authenticate_refuses_an_unknown_or_inactive_user(session: Session) -> None:
    assert authenticate(session, "nobody", "correct horse", now=NOW) is None
    create_user(session, "ada", "correct horse", "Op", now=NOW)
    set_active(session, "ada", False, now=NOW)
    assert authenticate(session, "ada", "correct horse", now=LATER) is None
    assert get_user(session, "ada").last_login is None
    set_active(session, "ada", True, now=NOW)
    assert authenticate(session, "ada", "correct horse", now=LATER) is not None


def test_authenticate_refuses_a_username_of_another_case(session: Session) -> None:
    create_user(session, "ada", "correct horse", "Op", now=NOW)
    assert authenticate(session, "Ada", "correct horse", now=NOW) is None


def test_reset_password_replaces_the_old_one(session: Session) -> None:
    create_user(session, "ada", "first password", "User", now=NOW)
    user = reset_password(session, "ada", "second password", now=LATER)
    assert user.password_changed_at == LATER
    assert authenticate(session, "ada", "first password", now=LATER) is None
    assert authenticate(session, "ada", "second password", now=LATER) is not None
    with pytest.raises(InvalidInput, match="too short"):
        reset_password(session, "ada", "x", now=LATER)
    assert authenticate(session, "ada", "second password", now=LATER) is not None


def test_set_role(session: Session) -> None:
    create_user(session, "ada", "password1", "Viewer", now=NOW)
    assert set_role(session, "ada", "ADMIN", now=NOW).role == "Admin"
    with pytest.raises(InvalidInput, match="unknown role 'root'"):
        set_role(session, "ada", "root", now=NOW)
    assert get_user(session, "ada").role == "Admin"


def test_delete_user(session: Session) -> None:
    create_user(session, "ada", "password1", "Viewer", now=NOW)
    delete_user(session, "ada", now=NOW)
    assert list_users(session) == []
    assert authenticate(session, "ada", "password1", now=NOW) is None


@pytest.mark.parametrize(
    "change",
    [
        lambda s: get_user(s, "ghost"),
        lambda s: delete_user(s, "ghost", now=NOW),
        lambda s: reset_password(s, "ghost", "password1", now=NOW),
        lambda s: set_role(s, "ghost", "Op", now=NOW),
        lambda s: set_active(s, "ghost", False, now=NOW),
    ],
)
def test_an_unknown_user_is_not_found(
    session: Session, change: Callable[[Session], object]
) -> None:
    with pytest.raises(UserNotFound, match=r"^user 'ghost' does not exist$"):
        change(session)


def test_changes_are_audited_without_passwords(session: Session) -> None:
    create_user(session, "ada", "first password", "Viewer", now=NOW, owner="root")
    reset_password(session, "ada", "second password", now=NOW, owner="root")
    set_role(session, "ada", "Op", now=NOW, owner="root")
    set_active(session, "ada", False, now=NOW, owner="root")
    hashes = [get_user(session, "ada").password_hash]
    delete_user(session, "ada", now=NOW, owner="root")
    events = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert [(a.event, a.owner, a.extra["username"]) for a in events] == [
        ("user.create", "root", "ada"),
        ("user.reset_password", "root", "ada"),
        ("user.set_role", "root", "ada"),
        ("user.set_active", "root", "ada"),
        ("user.delete", "root", "ada"),
    ]
    assert events[0].extra == {"username": "ada", "role": "Viewer"}
    assert events[2].extra == {"username": "ada", "old_role": "Viewer", "role": "Op"}
    for event in events:
        for secret in ("first password", "second password", "scrypt", *hashes):
            assert secret not in str(event.extra)


def test_ensure_admin_creates_admin_once(session: Session) -> None:
    password = ensure_admin(session, now=NOW)
    assert password is not None and len(password) >= 16
    admin = get_user(session, "admin")
    assert admin.role == "Admin"
    assert authenticate(session, "admin", password, now=NOW) is admin
    assert ensure_admin(session, now=LATER) is None
    assert [u.username for u in list_users(session)] == ["admin"]


def test_ensure_admin_does_nothing_when_an_admin_exists(session: Session) -> None:
    create_user(session, "ada", "password1", "Admin", now=NOW)
    assert ensure_admin(session, now=NOW) is None
    assert [u.username for u in list_users(session)] == ["ada"]


def test_ensure_admin_leaves_a_user_named_admin_alone(session: Session) -> None:
    create_user(session, "admin", "password1", "Viewer", now=NOW)
    assert ensure_admin(session, now=NOW) is None
    assert get_user(session, "admin").role == "Viewer"
    assert authenticate(session, "admin", "password1", now=NOW) is not None


def test_the_users_table_keeps_usernames_unique(session: Session) -> None:
    from sqlalchemy.exc import IntegrityError

    create_user(session, "ada", "password1", "User", now=NOW)
    session.commit()
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(
            UserModel(
                username="ada",
                password_hash="x",
                role="User",
                created_at=NOW,
                password_changed_at=NOW,
            )
        )
        session.flush()


def test_an_unknown_user_is_checked_against_a_hash_like_a_real_one() -> None:
    # Refusing an unknown user costs one scrypt with today's parameters, as a wrong
    # password does: the answer time does not tell which usernames exist.
    from downwind.security.passwords import hash_password
    from downwind.services.users import _DUMMY_HASH

    assert _DUMMY_HASH.split("$")[:4] == hash_password("any password").split("$")[:4]
    assert not verify_password("", _DUMMY_HASH)
