"""Masking secrets in task logs: a registry of the secret strings a task has seen.

When task code gets a connection or a sensitive variable (one whose key looks secret,
see :func:`is_sensitive_name`), its secret values are registered with
:func:`mask_secret`; the runner passes every log line through :func:`redact`, which
writes ``***`` in place of each of them. Strings shorter than 4 characters are not
masked: hiding every ``a`` or ``42`` would make logs unreadable and reveal the secret's
length anyway.

The registry belongs to the process (a task try's own process under the local executor;
every task of a ``dags test`` run in one process).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from downwind.runtime.connection import Connection

__all__ = [
    "MASK",
    "SENSITIVE_WORDS",
    "is_sensitive_name",
    "mask_connection",
    "mask_secret",
    "redact",
    "reset_masking",
]

MASK = "***"
#: a variable (or extra field) whose name contains one of these (any case) is secret
SENSITIVE_WORDS = (
    "password",
    "secret",
    "passwd",
    "authorization",
    "api_key",
    "apikey",
    "token",
    "private_key",
    "access_token",
)
_MIN_LENGTH = 4


def is_sensitive_name(name: str) -> bool:
    """Whether a variable or field called ``name`` holds a secret (``db_password``,
    ``API_KEY``, ``slack_token``...)."""
    lowered = name.lower()
    return any(word in lowered for word in SENSITIVE_WORDS)


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        candidates = {value, *value.splitlines()}  # a multi-line key is logged line by line
        candidates |= {quote(c, safe="") for c in candidates}  # as it appears in a URI
        candidates = {c.strip() for c in candidates}
        with self._lock:
            new = {c for c in candidates if len(c) >= _MIN_LENGTH} - self._secrets
            if not new:
                return
            self._secrets |= new
            # the longest first, so a secret containing another is masked whole
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def clear(self) -> None:
        with self._lock:
            self._secrets = set()
            self._pattern = None


_registry = _Registry()


def mask_secret(value: Any) -> None:
    """Mask ``value`` in every log line from now on: a string, or each string inside a
    dict or list (e.g. a JSON variable)."""
    if isinstance(value, str):
        _registry.add(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            mask_secret(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            mask_secret(item)


def _mask_sensitive_fields(value: Any) -> None:
    """Mask the values under sensitive keys, at any depth of a dict or list."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and is_sensitive_name(key):
                mask_secret(item)
            else:
                _mask_sensitive_fields(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _mask_sensitive_fields(item)


def mask_connection(conn: Connection) -> None:
    """Mask a connection's password and the values of its sensitive extra fields
    (``{"api_key": ...}``, ``{"auth": {"token": ...}}``)."""
    if conn.password:
        mask_secret(conn.password)
    _mask_sensitive_fields(conn.extra_dejson)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    return _registry.redact(text)


def reset_masking() -> None:
    """Forget every registered secret (tests)."""
    _registry.clear()
