"""Continuation tokens of task logs: signed offsets bound to one try's log."""

from __future__ import annotations

import pytest

from downwind.api.schemas.task_logs import BAD_TOKEN, decode_log_token, encode_log_token
from downwind.runtime.client import TaskInstanceKey
from downwind.services.errors import InvalidInput

KEY = TaskInstanceKey("etl", "manual__1", "load")
SECRET = "s" * 64


def test_a_token_gives_back_its_offset() -> None:
    token = encode_log_token(SECRET, KEY, 2, 4096)
    assert decode_log_token(SECRET, token, KEY, 2) == 4096


@pytest.mark.parametrize(
    ("secret", "key", "try_number", "message"),
    [
        ("t" * 64, KEY, 2, BAD_TOKEN),
        (SECRET, TaskInstanceKey("etl", "manual__1", "extract"), 2, "belongs to the log of"),
        (SECRET, KEY, 1, "belongs to the log of another task instance or try"),
        (SECRET, TaskInstanceKey("etl", "manual__1", "load", 0), 2, "belongs to the log of"),
    ],
)
def test_a_token_works_only_with_its_key_and_log(
    secret: str, key: TaskInstanceKey, try_number: int, message: str
) -> None:
    token = encode_log_token(SECRET, KEY, 2, 10)
    with pytest.raises(InvalidInput, match=message.replace(".", r"\.")):
        decode_log_token(secret, token, key, try_number)


@pytest.mark.parametrize("token", ["", ".", "abc", "e30.e30", "!!.??", "a.b.c"])
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(InvalidInput, match="Bad Signature"):
        decode_log_token(SECRET, token, KEY, 2)


def test_a_changed_offset_breaks_the_signature() -> None:
    import base64
    import json

    token = encode_log_token(SECRET, KEY, 2, 10)
    payload, _, signature = token.partition(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["offset"] = 0
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(InvalidInput, match="Bad Signature"):
        decode_log_token(SECRET, f"{forged}.{signature}", KEY, 2)
