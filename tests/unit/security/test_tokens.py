"""Access tokens: what a token says, and every way one is refused; the signing key file."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from downwind.config import load_config
from downwind.exceptions import ConfigError
from downwind.security.tokens import (
    SECRET_FILE_NAME,
    InvalidToken,
    TokenClaims,
    decode_token,
    issue_token,
    signing_key,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = "k" * 64
OTHER_KEY = "o" * 64


def _reason(token: str, *, key: str = KEY, now: datetime = NOW) -> str:
    with pytest.raises(InvalidToken) as raised:
        decode_token(key, token, now=now)
    return raised.value.reason


def test_a_token_names_its_user_role_and_expiry() -> None:
    token = issue_token(KEY, "ada", "Op", 3600, now=NOW)
    assert decode_token(KEY, token, now=NOW + timedelta(minutes=59)) == TokenClaims(
        "ada", "Op", NOW + timedelta(hours=1)
    )
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "HS512"
    claims = jwt.decode(token, KEY, algorithms=["HS512"], options={"verify_exp": False})
    assert set(claims) == {"sub", "role", "iat", "nbf", "exp", "jti"}


def test_each_token_is_unique() -> None:
    assert issue_token(KEY, "ada", "Op", 60, now=NOW) != issue_token(KEY, "ada", "Op", 60, now=NOW)


def test_an_expired_token_is_refused() -> None:
    token = issue_token(KEY, "ada", "Op", 60, now=NOW)
    assert _reason(token, now=NOW + timedelta(seconds=60)) == "expired"
    assert str(InvalidToken("expired")) == "invalid token: expired"


def test_a_token_from_the_future_is_refused() -> None:
    token = issue_token(KEY, "ada", "Op", 60, now=NOW + timedelta(hours=1))
    assert _reason(token) == "not yet valid"


def test_a_tampered_token_is_refused() -> None:
    header, payload, signature = issue_token(KEY, "ada", "Viewer", 60, now=NOW).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "Admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    assert _reason(f"{header}.{forged}.{signature}") == "bad signature"


def test_a_token_signed_with_another_key_is_refused() -> None:
    assert _reason(issue_token(OTHER_KEY, "ada", "Op", 60, now=NOW)) == "bad signature"


def test_a_token_with_another_algorithm_is_refused() -> None:
    claims = {"sub": "ada", "role": "Admin", "iat": 0, "nbf": 0, "exp": 2**40, "jti": "x"}
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert _reason(unsigned) == "bad signature"
    assert _reason(jwt.encode(claims, KEY, algorithm="HS256")) == "bad signature"


@pytest.mark.parametrize(
    "token",
    ["", "not a token", "a.b.c", "eyJhbGciOiJIUzUxMiJ9.e30"],
)
def test_garbage_is_malformed(token: str) -> None:
    assert _reason(token) == "malformed"


def test_a_token_missing_a_claim_is_malformed() -> None:
    claims = {"sub": "ada", "iat": 0, "nbf": 0, "exp": 2**40, "jti": "x"}  # no role
    assert _reason(jwt.encode(claims, KEY, algorithm="HS512")) == "malformed"


def test_the_configured_secret_signs(tmp_path: Path) -> None:
    conf = load_config(tmp_path, {"DOWNWIND__API_AUTH__JWT_SECRET": "s" * 70})
    assert signing_key(conf) == "s" * 70
    assert not (tmp_path / SECRET_FILE_NAME).exists()


def test_a_short_configured_secret_is_a_config_error(tmp_path: Path) -> None:
    conf = load_config(tmp_path, {"DOWNWIND__API_AUTH__JWT_SECRET": "short"})
    with pytest.raises(ConfigError, match=r"\[api_auth\] jwt_secret is too short.*64"):
        signing_key(conf)


def test_without_a_secret_a_key_file_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    home = tmp_path / "home"  # not created yet
    conf = load_config(home, {})
    key = signing_key(conf)
    path = home / SECRET_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) >= 64 and path.read_text().strip() == key
    assert signing_key(load_config(home, {})) == key, "the file is reused"
    assert os.listdir(home) == [SECRET_FILE_NAME], "no temporary file is left behind"


def test_servers_starting_together_agree_on_the_key(tmp_path: Path) -> None:
    conf = load_config(tmp_path, {})
    keys: list[str] = []
    start = threading.Barrier(8)

    def make() -> None:
        start.wait()
        keys.append(signing_key(conf))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1


def test_an_empty_key_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE_NAME).write_text("\n")
    with pytest.raises(ConfigError, match="is empty: delete it"):
        signing_key(load_config(tmp_path, {}))
