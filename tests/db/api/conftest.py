"""Fixtures of the API tests: an app (FastAPI's TestClient) on the migrated metastore of
this test's backend (SQLite and PostgreSQL), one user per role, and their tokens.

Everything a test writes -- through the app or through ``Api.transaction`` -- is rolled
back at its end. Time is the ``Clock`` the app reads; tokens are issued at its start.
Helpers (``Api``, ``add_user``, ``NOW``...) are in api_testing.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_testing import NOW, USERS, Api, Clock, add_user, api_config
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from downwind.api.app import create_app
from downwind.security.tokens import issue_token


@pytest.fixture
def api_sessions(migrated_engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions on one connection of the migrated metastore, whose commits release
    savepoints of an outer transaction rolled back after the test."""
    with migrated_engine.connect() as connection:
        outer = connection.begin()
        try:
            yield sessionmaker(
                bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
            )
        finally:
            outer.rollback()


@pytest.fixture
def make_api(api_sessions: sessionmaker[Session], tmp_path: Path) -> Iterator[Any]:
    """Build an :class:`Api` with extra options (``make_api(API__MAX_REQUEST_BODY_BYTES="10")``);
    its users (one per role) exist once the first one is built."""
    clients: list[TestClient] = []
    users_added: list[bool] = []

    def make(**options: str) -> Api:
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        conf = api_config(home, **options)
        clock = Clock(NOW)
        app = create_app(conf, api_sessions, clock=clock)
        client = TestClient(app)
        client.__enter__()  # one event loop thread for every request of the test
        clients.append(client)
        api = Api(client, api_sessions, clock, conf)
        if not users_added:
            with api.transaction() as session:
                for role, username in USERS.items():
                    add_user(session, username, role)
            users_added.append(True)
        api.tokens = {
            role: issue_token(api.signing_key, username, role.value, 3600, now=NOW)
            for role, username in USERS.items()
        }
        return api

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_api: Any) -> Api:
    """The app with the default configuration, and a user and token per role."""
    return make_api()
