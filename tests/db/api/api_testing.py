"""Helpers of the API tests (their fixtures are in this folder's conftest.py): the
:class:`Api` under test, its clock, and users with a known password."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from downwind.config import Config, load_config
from downwind.metastore.models import UserModel
from downwind.security.passwords import hash_password
from downwind.security.roles import Role

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
#: one user per role, named after it
USERS = {role: role.value.lower() for role in Role}
ROLES = tuple(Role)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@functools.cache
def password_hash() -> str:
    """The hash of :data:`PASSWORD`, computed once (scrypt is slow on purpose)."""
    return hash_password(PASSWORD)


def api_config(home: Path, **options: str) -> Config:
    """The configuration of ``home`` with ``options`` as ``{"SECTION__KEY": value}``
    environment variables, nothing else from the environment."""
    environ = {"DOWNWIND__CORE__LOAD_EXAMPLES": "false"}
    environ.update({f"DOWNWIND__{key.upper()}": value for key, value in options.items()})
    return load_config(home, environ)


@dataclass
class Api:
    """The app under test, its users' tokens and the metastore it runs on."""

    client: TestClient
    sessions: sessionmaker[Session]
    clock: Clock
    conf: Config
    tokens: dict[Role, str] = field(default_factory=dict)

    @property
    def signing_key(self) -> str:
        return self.client.app.state.downwind.signing_key  # type: ignore[attr-defined]

    def headers(self, role: Role = Role.ADMIN) -> dict[str, str]:
        """The ``Authorization`` header of the user with ``role``."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def request(
        self,
        method: str,
        url: str,
        role: Role = Role.ADMIN,
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """``method url`` as the user with ``role`` (plus ``headers``)."""
        merged = {**self.headers(role), **(headers or {})}
        return self.client.request(method, url, headers=merged, **kwargs)

    def get(self, url: str, role: Role = Role.ADMIN, **kwargs: Any) -> Any:
        return self.request("GET", url, role, **kwargs)

    def patch(self, url: str, role: Role = Role.ADMIN, **kwargs: Any) -> Any:
        return self.request("PATCH", url, role, **kwargs)

    def delete(self, url: str, role: Role = Role.ADMIN, **kwargs: Any) -> Any:
        return self.request("DELETE", url, role, **kwargs)

    def post(self, url: str, role: Role = Role.ADMIN, **kwargs: Any) -> Any:
        return self.request("POST", url, role, **kwargs)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session on the app's metastore, committed at the end of the block."""
        with self.sessions() as session, session.begin():
            yield session


def add_user(session: Session, username: str, role: Role, *, active: bool = True) -> UserModel:
    """A user whose password is :data:`PASSWORD`."""
    user = UserModel(
        username=username,
        password_hash=password_hash(),
        role=role.value,
        is_active=active,
        created_at=NOW,
        password_changed_at=NOW,
    )
    session.add(user)
    session.flush()
    return user
