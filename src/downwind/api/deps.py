"""What routes depend on: the app's context, one metastore session per request, the
signed-in user, and the permission check every route declares.

Access control is one mechanism: each route lists ``requires(Permission.X)`` (or
``public()`` for the few open routes) in its ``dependencies``, and
:func:`~downwind.api.app.create_app` refuses a route that lists neither. ``requires``
authenticates the request (:func:`current_user`) and answers 403 when the user's role
lacks the permission.

Authentication is stateless: a signed token (``Authorization: Bearer <token>``, or the
``_token`` cookie that the UI sets) names the user and role. One cheap query per request
checks that the user still exists and is active, so the token of a deleted or
deactivated user stops working at once. A cookie can be sent by another site's page, so
a write authenticated by the cookie must come from this server's own origin (CSRF).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPBearer, OAuth2PasswordBearer
from sqlalchemy.orm import Session, sessionmaker

from downwind.api.rate_limit import LoginRateLimiter
from downwind.config import Config
from downwind.metastore.engine import write_transaction
from downwind.security.roles import Permission, UnknownRole, allows
from downwind.security.tokens import InvalidToken, TokenClaims, decode_token
from downwind.services.errors import UserNotFound
from downwind.services.users import get_user

__all__ = [
    "TOKEN_COOKIE",
    "ApiContext",
    "AuthenticatedUser",
    "CurrentUser",
    "Now",
    "SessionDep",
    "client_address",
    "context",
    "current_user",
    "get_now",
    "get_session",
    "public",
    "required_permission",
    "requires",
]

#: the cookie that carries the token of a signed-in browser (the UI)
TOKEN_COOKIE = "_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Declared so that /openapi.json shows Airflow's two security schemes; the token itself
# is read by _token_claims (also from the cookie).
_oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)
_bearer_scheme = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class ApiContext:
    """What the app shares across requests (``app.state.downwind``)."""

    conf: Config
    sessions: sessionmaker[Session]
    signing_key: str
    #: the one reading of the wall clock (tests pass a fixed one)
    clock: Callable[[], datetime]
    login_limiter: LoginRateLimiter


def context(request: Request) -> ApiContext:
    """The :class:`ApiContext` of the app serving ``request``."""
    return request.app.state.downwind


def get_now(request: Request) -> datetime:
    """The current time, from the app's clock."""
    return context(request).clock()


def client_address(request: Request) -> str | None:
    """The client's address (the proxy's, unless ``[api] proxy_headers`` trusts it)."""
    return request.client.host if request.client else None


def get_session(request: Request) -> Iterator[Session]:
    """The request's session, in one transaction committed when the route returns and
    rolled back when it raises. A write request (POST, PATCH, PUT, DELETE) takes
    SQLite's write lock at its start, so it never fails half-way on a lock."""
    sessions = context(request).sessions
    if request.method in SAFE_METHODS:
        with sessions() as session, session.begin():
            yield session
    else:
        with write_transaction(sessions) as session:
            yield session


SessionDep = Annotated[Session, Depends(get_session)]
Now = Annotated[datetime, Depends(get_now)]


@dataclass(frozen=True)
class AuthenticatedUser:
    """Who sent the request, with the role their token names, and from where."""

    username: str
    role: str
    client: str | None

    def audit_extra(self) -> dict[str, Any]:
        """What the audit log records of the request besides the user: its origin."""
        return {"client": self.client}


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _same_origin(request: Request) -> bool:
    """Whether the request says it comes from a page of this server (Origin, else Referer)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return False
    origin = urlsplit(source)
    return (origin.scheme, origin.netloc) == (request.url.scheme, request.url.netloc)


def _token_claims(
    request: Request,
    _oauth2: Annotated[str | None, Depends(_oauth2_scheme)],
    _bearer: Annotated[Any, Depends(_bearer_scheme)],
) -> TokenClaims:
    """The claims of the request's token; 401 when it has none or a bad one."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("Invalid Authorization header: expected 'Bearer <token>'")
    else:
        token = request.cookies.get(TOKEN_COOKIE, "")
        if token and request.method not in SAFE_METHODS and not _same_origin(request):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "Forbidden: a change authenticated by the session cookie must come from "
                "this server's own pages (Origin or Referer header); API clients send "
                "'Authorization: Bearer <token>'",
            )
    if not token:
        raise _unauthorized(
            "Not authenticated: send 'Authorization: Bearer <token>' with a token from "
            "POST /auth/token"
        )
    ctx = context(request)
    try:
        return decode_token(ctx.signing_key, token, now=ctx.clock())
    except InvalidToken as err:
        raise _unauthorized(f"Invalid token: {err.reason}") from None


def current_user(
    request: Request,
    claims: Annotated[TokenClaims, Depends(_token_claims)],
    session: SessionDep,
) -> AuthenticatedUser:
    """The signed-in user; 401 when the token is missing, invalid or expired, or its user
    was deleted or deactivated since."""
    try:
        user = get_user(session, claims.username)
    except UserNotFound:
        raise _unauthorized("Invalid token: its user no longer exists") from None
    if not user.is_active:
        raise _unauthorized("Invalid token: its user is deactivated")
    return AuthenticatedUser(claims.username, claims.role, client_address(request))


CurrentUser = Annotated[AuthenticatedUser, Depends(current_user)]

#: what each permission lets a user do, for the 403 message
_WHAT = {
    Permission.READ: "read DAGs, runs and their history",
    Permission.OPERATE: "trigger, clear, mark, pause or delete",
    Permission.CONFIGURE: "read or change variables, connections and pools",
    Permission.MANAGE_USERS: "manage users",
}


def _permitted(role: str, permission: Permission) -> bool:
    try:
        return allows(role, permission)
    except UnknownRole:
        return False


def requires(permission: Permission) -> Any:
    """The dependency a route lists to be open to roles with ``permission`` only:
    ``dependencies=[requires(Permission.READ)]``."""

    def check_permission(user: CurrentUser) -> AuthenticatedUser:
        if not _permitted(user.role, permission):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"Forbidden: the role '{user.role}' may not {_WHAT[permission]} "
                f"(permission '{permission}')",
            )
        return user

    check_permission.required_permission = permission  # type: ignore[attr-defined]
    return Depends(check_permission)


def public() -> Any:
    """The dependency a route lists to be open without a token (health, sign-in)."""

    def open_to_everyone() -> None:
        return None

    open_to_everyone.public = True  # type: ignore[attr-defined]
    return Depends(open_to_everyone)


def required_permission(call: Callable[..., Any]) -> Permission | None:
    """The permission that a dependency made by :func:`requires` checks, else ``None``."""
    return getattr(call, "required_permission", None)


def is_public(call: Callable[..., Any]) -> bool:
    """Whether ``call`` is the dependency made by :func:`public`."""
    return getattr(call, "public", False) is True
