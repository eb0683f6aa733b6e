"""Users of the API and UI: create, list, change, delete, and check a sign-in.

Passwords are stored only as scrypt hashes (:mod:`downwind.security.passwords`); every
change is audited (``user.create``, ``user.delete``, ``user.reset_password``,
``user.set_role``, ``user.set_active``) with the username and never a password or hash.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from downwind.metastore.models import UserModel
from downwind.metastore.models.base import ID_LEN
from downwind.security.passwords import (
    generate_password,
    hash_password,
    password_problem,
    verify_password,
)
from downwind.security.roles import Role, UnknownRole, parse_role
from downwind.services.audit import record_action
from downwind.services.errors import AlreadyExists, InvalidInput, UserNotFound

__all__ = [
    "DEFAULT_ADMIN_USERNAME",
    "authenticate",
    "create_user",
    "delete_user",
    "ensure_admin",
    "get_user",
    "list_users",
    "reset_password",
    "set_active",
    "set_role",
]

#: the user that :func:`ensure_admin` creates
DEFAULT_ADMIN_USERNAME = "admin"


def _check_username(username: object) -> str:
    if (
        not isinstance(username, str)
        or not username
        or len(username) > ID_LEN
        or not username.isprintable()
        or any(char.isspace() for char in username)
    ):
        raise InvalidInput(
            f"invalid username {username!r}: it must be 1 to {ID_LEN} characters without spaces"
        )
    return username


def _check_password(password: object) -> str:
    problem = password_problem(password)
    if problem is not None:
        raise InvalidInput(problem)
    assert isinstance(password, str)
    return password


def _role(role: str) -> Role:
    try:
        return parse_role(role)
    except UnknownRole as err:
        raise InvalidInput(str(err)) from None


def _find(session: Session, username: str) -> UserModel | None:
    return session.scalar(select(UserModel).where(UserModel.username == username))


def get_user(session: Session, username: str) -> UserModel:
    """The user named ``username``; raises :class:`~downwind.services.errors.UserNotFound`."""
    user = _find(session, username)
    if user is None:
        raise UserNotFound(f"user '{username}' does not exist")
    return user


def list_users(session: Session) -> list[UserModel]:
    """Every user, by username."""
    return list(session.scalars(select(UserModel).order_by(UserModel.username)))


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    *,
    now: datetime,
    owner: str | None = None,
) -> UserModel:
    """Create an active user with ``role`` (any case: ``op`` is ``Op``).

    Raises :class:`~downwind.services.errors.InvalidInput` for a malformed username, a
    password shorter than 8 characters or an unknown role, and
    :class:`~downwind.services.errors.AlreadyExists` when the username is taken.
    """
    _check_username(username)
    checked_role = _role(role)
    _check_password(password)
    if _find(session, username) is not None:
        raise AlreadyExists(f"user '{username}' already exists")
    user = UserModel(
        username=username,
        password_hash=hash_password(password),
        role=checked_role.value,
        is_active=True,
        created_at=now,
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    record_action(
        session,
        "user.create",
        owner=owner,
        now=now,
        extra={"username": username, "role": checked_role.value},
    )
    return user


def delete_user(
    session: Session, username: str, *, now: datetime, owner: str | None = None
) -> None:
    """Delete the user named ``username``."""
    session.delete(get_user(session, username))
    record_action(session, "user.delete", owner=owner, now=now, extra={"username": username})


def reset_password(
    session: Session, username: str, password: str, *, now: datetime, owner: str | None = None
) -> UserModel:
    """Give ``username`` a new password (the same policy as :func:`create_user`)."""
    user = get_user(session, username)
    user.password_hash = hash_password(_check_password(password))
    user.password_changed_at = now
    record_action(
        session, "user.reset_password", owner=owner, now=now, extra={"username": username}
    )
    return user


def set_role(
    session: Session, username: str, role: str, *, now: datetime, owner: str | None = None
) -> UserModel:
    """Give ``username`` another role."""
    user = get_user(session, username)
    new_role = _role(role)
    old_role = user.role
    user.role = new_role.value
    record_action(
        session,
        "user.set_role",
        owner=owner,
        now=now,
        extra={"username": username, "old_role": old_role, "role": new_role.value},
    )
    return user


def set_active(
    session: Session, username: str, active: bool, *, now: datetime, owner: str | None = None
) -> UserModel:
    """Let ``username`` sign in again (``active``) or not any more; the user is kept."""
    user = get_user(session, username)
    user.is_active = active
    record_action(
        session,
        "user.set_active",
        owner=owner,
        now=now,
        extra={"username": username, "active": active},
    )
    return user


#: verified against when the username is unknown, so that an unknown user takes as long
#: to refuse as a wrong password (no user enumeration by timing); the hash of a random
#: password that was thrown away, with the parameters of new hashes
_DUMMY_HASH = (
    "scrypt$16384$8$1$4D97NkWEA2oD08M/NjbQdg==$ejVQrdI4A3ZLYl7pJHnCPEEMLTOd1zNfZsidjyxj6yY="
)


def authenticate(
    session: Session, username: str, password: str, *, now: datetime
) -> UserModel | None:
    """The user when ``username`` exists, is active and ``password`` is theirs (their
    ``last_login`` becomes ``now``); else ``None``, whichever of the three failed."""
    user = check_credentials(session, username, password)
    if user is not None:
        user.last_login = now
    return user


def check_credentials(session: Session, username: str, password: str) -> UserModel | None:
    """:func:`authenticate` without writing anything: for a caller that checks the
    password (deliberately slow) outside a write transaction, then records the login
    with :func:`record_login`."""
    user = _find(session, username) if isinstance(username, str) else None
    if not isinstance(password, str):
        password = ""
    matches = verify_password(password, user.password_hash if user else _DUMMY_HASH)
    if user is None or not matches or not user.is_active:
        return None
    return user


def record_login(session: Session, username: str, *, now: datetime) -> None:
    """Set the ``last_login`` of ``username`` to ``now``."""
    session.execute(update(UserModel).where(UserModel.username == username).values(last_login=now))


def ensure_admin(session: Session, *, now: datetime) -> str | None:
    """Make sure someone can administer downwind: when no user has the role ``Admin``,
    create the user ``admin`` with a generated password and return that password (to be
    shown once). Returns ``None`` when an Admin exists, or when a user named ``admin``
    exists with another role (it is not changed)."""
    has_admin = session.scalar(
        select(UserModel.id).where(UserModel.role == Role.ADMIN.value).limit(1)
    )
    if has_admin is not None or _find(session, DEFAULT_ADMIN_USERNAME) is not None:
        return None
    password = generate_password()
    create_user(session, DEFAULT_ADMIN_USERNAME, password, Role.ADMIN, now=now)
    return password
