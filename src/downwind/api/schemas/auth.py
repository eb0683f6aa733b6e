"""``POST /auth/token`` and ``/auth/token/cli``."""

from __future__ import annotations

from pydantic import Field

from downwind.api.schemas.common import RequestBody, ResponseModel

__all__ = ["LoginBody", "LoginResponse"]


class LoginBody(RequestBody):
    """Credentials, as JSON or as an HTML form."""

    username: str = Field(min_length=1, max_length=250)
    password: str = Field(min_length=1, max_length=1024)


class LoginResponse(ResponseModel):
    """A bearer token for ``Authorization: Bearer <access_token>``."""

    access_token: str
    token_type: str = "bearer"
