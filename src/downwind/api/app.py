"""The ASGI app: :func:`create_app` builds it from the configuration.

It serves the REST API under ``/api/v2`` and the token endpoint under ``/auth``, the
OpenAPI schema at ``/openapi.json`` and interactive docs at ``/docs``. Requests pass,
from the outside in: security headers, CORS (only with ``[api] cors_allowed_origins``),
the last-resort 500 handler, the body size limit (``[api] max_request_body_bytes``),
then the routes. Routes run in FastAPI's thread pool, one metastore session each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session, sessionmaker

from downwind import __version__
from downwind.api.deps import ApiContext, is_public, required_permission
from downwind.api.errors import install_error_handlers
from downwind.api.middleware import BodySizeLimit, InternalErrors, SecurityHeaders
from downwind.api.rate_limit import LoginRateLimiter
from downwind.api.routes import API_V2_ROUTERS, auth
from downwind.config import Config, get_config
from downwind.exceptions import DownwindException
from downwind.security.tokens import signing_key

__all__ = ["API_PREFIX", "check_access_rules", "create_app"]

API_PREFIX = "/api/v2"

_DESCRIPTION = """downwind's REST API, following Apache Airflow 3's public REST API
(`/api/v2`), so that `apache-airflow-client` and scripts written for Airflow work
against downwind. Get a token with `POST /auth/token` and send it as
`Authorization: Bearer <token>`."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _sessions_for(conf: Config) -> tuple[sessionmaker[Session], Callable[[], None]]:
    """A session factory on ``conf``'s metastore, and how to release what it opened."""
    from downwind.metastore.engine import create_engine_from_url, get_engine, session_factory

    if conf == get_config():
        return session_factory(get_engine()), lambda: None  # the process's shared engine
    db = conf.database
    engine = create_engine_from_url(
        db.url,
        home=conf.home,
        sqlite_busy_timeout=db.sqlite_busy_timeout,
        pool_size=db.pool_size,
        max_overflow=db.max_overflow,
        pool_recycle=db.pool_recycle,
    )
    return session_factory(engine), engine.dispose


def check_access_rules(routers: Iterable[APIRouter]) -> None:
    """Raise :class:`~downwind.exceptions.DownwindException` when a route declares
    neither ``requires(...)`` nor ``public()``: every route states who may call it."""
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            calls = [dependency.call for dependency in route.dependant.dependencies]
            rules = [c for c in calls if c and (required_permission(c) or is_public(c))]
            if len(rules) != 1:
                methods = ",".join(sorted(route.methods))
                raise DownwindException(
                    f"route {methods} {route.path} must list exactly one of requires(...) "
                    f"or public() in its dependencies (found {len(rules)})"
                )


def create_app(
    conf: Config | None = None,
    session_factory: sessionmaker[Session] | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The API app for ``conf`` (default: the process's configuration), on the metastore
    of ``session_factory`` (default: ``conf``'s). ``clock`` gives the current time
    (default: the wall clock), for tests."""
    conf = conf or get_config()
    release: Callable[[], None] = lambda: None  # noqa: E731
    if session_factory is None:
        session_factory, release = _sessions_for(conf)
    auth_conf = conf.api_auth
    state = ApiContext(
        conf=conf,
        sessions=session_factory,
        signing_key=signing_key(conf),
        clock=clock or _utcnow,
        login_limiter=LoginRateLimiter(
            auth_conf.login_max_failures, auth_conf.login_failure_window
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        release()

    app = FastAPI(
        title="downwind REST API",
        version=__version__,
        description=_DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.downwind = state
    check_access_rules([auth.router, *API_V2_ROUTERS])
    app.include_router(auth.router)
    for router in API_V2_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    install_error_handlers(app)
    _add_middleware(app, conf)
    return app


def _add_middleware(app: FastAPI, conf: Config) -> None:
    # add_middleware wraps what is there: the last one added is the outermost.
    app.add_middleware(BodySizeLimit, max_bytes=conf.api.max_request_body_bytes)
    app.add_middleware(InternalErrors)
    origins = [origin.strip() for origin in conf.api.cors_allowed_origins.split(",")]
    origins = [origin for origin in origins if origin]
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    app.add_middleware(SecurityHeaders)
