"""Password hashing with scrypt (Python's standard library), and the password policy.

A hash is stored as self-describing text, ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (salt and
hash in base64), so that stronger parameters can be chosen later without breaking the
hashes already stored: each hash is verified with the parameters written in it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "generate_password",
    "hash_password",
    "password_problem",
    "verify_password",
]

#: scrypt's cost parameters for new hashes (16 MiB of memory, ~50 ms on a laptop core)
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
#: verification refuses a stored hash whose parameters would need more memory than this
_MAX_MEMORY = 64 * 1024 * 1024
_SCHEME = "scrypt"

MIN_PASSWORD_LENGTH = 8
#: longer passwords are refused: no one types them, and they only cost hashing time
MAX_PASSWORD_LENGTH = 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEMORY, dklen=length
    )


def hash_password(password: str) -> str:
    """The scrypt hash of ``password`` with a new random salt, as
    ``scrypt$16384$8$1$<salt>$<hash>``."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    return f"{_SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches the hash ``encoded`` (compared in constant time).

    A malformed or unsupported hash is ``False``, never an exception: a damaged row must
    not turn a login into a server error.
    """
    try:
        scheme, n_text, r_text, p_text, salt_text, hash_text = encoded.split("$")
        if scheme != _SCHEME:
            return False
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt = base64.b64decode(salt_text, validate=True)
        expected = base64.b64decode(hash_text, validate=True)
        if n < 2 or n & (n - 1) or r < 1 or p < 1 or not salt or not expected:
            return False
        if 128 * n * r * p > _MAX_MEMORY:
            return False
        actual = _scrypt(password, salt, n, r, p, len(expected))
    except (AttributeError, ValueError, TypeError, binascii.Error, UnicodeError, MemoryError):
        return False
    return hmac.compare_digest(actual, expected)


def generate_password() -> str:
    """A new random password of 16 URL-safe characters (96 bits of randomness)."""
    return secrets.token_urlsafe(12)


def password_problem(password: object) -> str | None:
    """Why ``password`` is refused as a new password, or ``None`` when it is acceptable."""
    if not isinstance(password, str):
        return f"a password must be text, got {type(password).__name__}"
    if len(password) < MIN_PASSWORD_LENGTH:
        return (
            f"the password is too short: it must have at least {MIN_PASSWORD_LENGTH} "
            f"characters, it has {len(password)}"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"the password is too long: it may have at most {MAX_PASSWORD_LENGTH} characters"
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        return "the password holds a character that is not valid Unicode text"
    return None
