"""``POST /auth/token`` (and ``/auth/token/cli``): a bearer token for a username and
password, sent as JSON or as a form (``application/x-www-form-urlencoded``, what
OAuth2's password flow and the docs page send).

Failed sign-ins are rate limited per client address and username (see
:mod:`downwind.api.rate_limit`): after ``[api_auth] login_max_failures`` within
``login_failure_window`` seconds, 429 with ``Retry-After``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from downwind.api.deps import Now, client_address, context, public
from downwind.api.schemas.auth import LoginBody, LoginResponse
from downwind.metastore.engine import write_transaction
from downwind.security.tokens import issue_token
from downwind.services.users import check_credentials, record_login

__all__ = ["router"]

router = APIRouter(prefix="/auth", tags=["Login"])

_JSON = "application/json"
_FORM = "application/x-www-form-urlencoded"
#: fields of OAuth2's password flow that a form may carry besides the credentials
_OAUTH2_FIELDS = frozenset({"grant_type", "scope", "client_id", "client_secret"})

_BODY_SCHEMA = LoginBody.model_json_schema()
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {_JSON: {"schema": _BODY_SCHEMA}, _FORM: {"schema": _BODY_SCHEMA}},
    }
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed body"},
    401: {"description": "Wrong username or password"},
    415: {"description": "Body neither JSON nor a form"},
    422: {"description": "Missing or invalid fields"},
    429: {"description": "Too many failed sign-ins: wait Retry-After seconds"},
}


async def login_body(request: Request) -> LoginBody:
    """The credentials of the request: 415 for another content type, 400 for a body that
    does not parse, 422 for missing or invalid fields."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in (_JSON, _FORM):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"Unsupported Media Type: send the credentials as {_JSON} or {_FORM}",
        )
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
        if media_type == _JSON:
            data = json.loads(text)
        else:
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
            data = {key: value for key, value in pairs if key not in _OAUTH2_FIELDS}
    except (UnicodeDecodeError, ValueError) as err:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"Malformed body: it is not valid {media_type}: {err}"
        ) from None
    try:
        return LoginBody.model_validate(data)
    except ValidationError as err:
        raise RequestValidationError(
            [{**item, "loc": ("body", *item["loc"])} for item in err.errors()]
        ) from None


def _issue(
    request: Request,
    response: Response,
    body: LoginBody,
    now: Now,
    lifetime: int,
) -> LoginResponse:
    ctx = context(request)
    key = (client_address(request) or "", body.username)
    limiter = ctx.login_limiter
    wait = limiter.retry_after(key, now.timestamp())
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"Too many failed sign-ins for this user from this address: try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    # The password check is slow on purpose: do it outside SQLite's write lock, which the
    # scheduler would otherwise wait for at every sign-in.
    with ctx.sessions() as session:
        user = check_credentials(session, body.username, body.password)
    if user is None:
        limiter.record_failure(key, now.timestamp())
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Invalid username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    limiter.reset(key)
    with write_transaction(ctx.sessions) as session:
        record_login(session, user.username, now=now)
    response.headers["Cache-Control"] = "no-store"
    token = issue_token(ctx.signing_key, user.username, user.role, lifetime, now=now)
    return LoginResponse(access_token=token)


@router.post(
    "/token",
    status_code=status.HTTP_201_CREATED,
    dependencies=[public()],
    openapi_extra=_BODY_DOC,
    responses=_ERRORS,
    summary="Create a token",
)
def create_token(
    request: Request,
    response: Response,
    body: Annotated[LoginBody, Depends(login_body)],
    now: Now,
) -> LoginResponse:
    """A token valid for ``[api_auth] jwt_expiration_time`` seconds."""
    lifetime = context(request).conf.api_auth.jwt_expiration_time
    return _issue(request, response, body, now, lifetime)


@router.post(
    "/token/cli",
    status_code=status.HTTP_201_CREATED,
    dependencies=[public()],
    openapi_extra=_BODY_DOC,
    responses=_ERRORS,
    summary="Create a token for the command line",
)
def create_cli_token(
    request: Request,
    response: Response,
    body: Annotated[LoginBody, Depends(login_body)],
    now: Now,
) -> LoginResponse:
    """A token valid for ``[api_auth] jwt_cli_expiration_time`` seconds."""
    lifetime = context(request).conf.api_auth.jwt_cli_expiration_time
    return _issue(request, response, body, now, lifetime)
