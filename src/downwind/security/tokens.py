"""Access tokens of the API: JSON Web Tokens signed with HS512, as Apache Airflow 3 issues.

A token names its user (``sub``) and role (``role``) and is valid from ``nbf`` until
``exp``; ``jti`` makes each token unique. Any API server that knows the signing key
accepts it, so several servers of one installation must share the key: ``[api_auth]
jwt_secret``, or (by default) a key generated at first use and kept in
``$DOWNWIND_HOME/jwt_secret`` with mode 0600.

PyJWT is imported here only, so ``import downwind`` stays light.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt

from downwind.config import Config
from downwind.exceptions import ConfigError, DownwindException

__all__ = [
    "ALGORITHM",
    "MIN_SECRET_LENGTH",
    "SECRET_FILE_NAME",
    "InvalidToken",
    "TokenClaims",
    "decode_token",
    "issue_token",
    "signing_key",
]

ALGORITHM = "HS512"
#: the generated signing key's file in ``$DOWNWIND_HOME``
SECRET_FILE_NAME = "jwt_secret"
_REQUIRED_CLAIMS = ("sub", "role", "iat", "nbf", "exp", "jti")
#: shortest ``[api_auth] jwt_secret`` accepted: HS512 wants a key as long as its hash
MIN_SECRET_LENGTH = 64


class InvalidToken(DownwindException):
    """A token that cannot be accepted; :attr:`reason` says why: ``expired``, ``not yet
    valid``, ``bad signature`` or ``malformed``."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid token: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says: who, with which role, until when."""

    username: str
    role: str
    expires_at: datetime


def issue_token(secret: str, username: str, role: str, lifetime_s: int, *, now: datetime) -> str:
    """A token for ``username`` with ``role``, valid from ``now`` for ``lifetime_s`` seconds."""
    issued = int(now.timestamp())
    claims = {
        "sub": username,
        "role": str(role),
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(lifetime_s),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str, *, now: datetime | None = None) -> TokenClaims:
    """The claims of ``token``, checked against ``secret`` and the time ``now`` (default:
    the wall clock); raises :class:`InvalidToken` with a precise reason."""
    try:
        # Times are checked below against ``now``, so that tests and callers can pass it.
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={
                "require": list(_REQUIRED_CLAIMS),
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
        raise InvalidToken("bad signature") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("malformed") from None
    username, role, expires, not_before = (
        claims["sub"],
        claims["role"],
        claims["exp"],
        claims["nbf"],
    )
    if not (isinstance(username, str) and username and isinstance(role, str)):
        raise InvalidToken("malformed")
    if not all(isinstance(value, int | float) for value in (expires, not_before)):
        raise InvalidToken("malformed")
    moment = (now or datetime.now(UTC)).timestamp()
    if moment >= expires:
        raise InvalidToken("expired")
    if moment < not_before:
        raise InvalidToken("not yet valid")
    return TokenClaims(username, role, datetime.fromtimestamp(expires, UTC))


def signing_key(conf: Config) -> str:
    """The key that signs tokens: ``[api_auth] jwt_secret`` when set, else the contents of
    ``$DOWNWIND_HOME/jwt_secret``, generated on first use.

    The file is written whole to a temporary file (mode 0600) and then hard-linked to its
    name, which fails if another process got there first: two servers starting together
    both end up with the key of whichever was first.
    """
    configured = conf.api_auth.jwt_secret.strip()
    if configured:
        if len(configured.encode()) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"[api_auth] jwt_secret is too short for HS512: use at least "
                f"{MIN_SECRET_LENGTH} characters, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(64))'`"
            )
        return configured
    path = Path(conf.home) / SECRET_FILE_NAME
    key = _read_key(path)
    if key is not None:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{SECRET_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(secrets.token_urlsafe(64) + "\n")
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: use its key
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    key = _read_key(path)
    if key is None:
        raise ConfigError(f"{path} disappeared while it was being created")
    return key


def _read_key(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read the token signing key {path}: {err}") from None
    key = text.strip()
    if not key:
        raise ConfigError(f"{path} is empty: delete it to have a new token signing key made")
    return key
