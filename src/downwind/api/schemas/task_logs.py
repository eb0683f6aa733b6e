"""Task logs: ``TaskInstancesLogResponse``, and the continuation tokens that let a client
read a log piece by piece (tail a running try).

A token is the byte offset to go on from, bound to one try's log and signed by the
server (HMAC-SHA256 with a key derived from the token signing key): a client cannot
forge one, alter its offset, or use it on another log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime

from pydantic import ConfigDict

from downwind.api.schemas.common import ResponseModel
from downwind.runtime.client import TaskInstanceKey
from downwind.services.errors import InvalidInput

__all__ = [
    "BAD_TOKEN",
    "StructuredLogMessage",
    "TaskInstancesLogResponse",
    "decode_log_token",
    "encode_log_token",
]

#: Airflow's answer to a token it did not issue
BAD_TOKEN = "Bad Signature. Please use only the tokens provided by the API."
_PURPOSE = b"downwind task log continuation token"


class StructuredLogMessage(ResponseModel):
    """One line of a task log."""

    model_config = ConfigDict(extra="allow")

    timestamp: datetime | None = None
    event: str


class TaskInstancesLogResponse(ResponseModel):
    """A piece of a task log; ``continuation_token`` (``null`` at the end of a finished
    try's log) asks for what follows."""

    content: list[StructuredLogMessage] | list[str]
    continuation_token: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _log_id(key: TaskInstanceKey, try_number: int) -> str:
    parts = (key.dag_id, key.run_id, key.task_id, str(key.map_index), str(try_number))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def _signature(secret: str, payload: bytes) -> bytes:
    key = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()
    return hmac.new(key, payload, hashlib.sha256).digest()


def encode_log_token(secret: str, key: TaskInstanceKey, try_number: int, offset: int) -> str:
    """The token that continues the log of try ``try_number`` of ``key`` at ``offset``."""
    payload = json.dumps({"log": _log_id(key, try_number), "offset": offset}).encode()
    return f"{_b64(payload)}.{_b64(_signature(secret, payload))}"


def decode_log_token(secret: str, token: str, key: TaskInstanceKey, try_number: int) -> int:
    """The offset of a token from :func:`encode_log_token`; raises
    :class:`~downwind.services.errors.InvalidInput` for a token this server did not
    issue (or altered), and for one of another log."""
    payload_text, _, signature_text = token.partition(".")
    try:
        payload, signature = _unb64(payload_text), _unb64(signature_text)
    except (binascii.Error, ValueError):
        raise InvalidInput(BAD_TOKEN) from None
    if not hmac.compare_digest(signature, _signature(secret, payload)):
        raise InvalidInput(BAD_TOKEN)
    claims = json.loads(payload)
    if claims.get("log") != _log_id(key, try_number):
        raise InvalidInput(
            "This continuation token belongs to the log of another task instance or try: "
            "start without a token"
        )
    offset = claims.get("offset")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidInput(BAD_TOKEN)
    return offset
