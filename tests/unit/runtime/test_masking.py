"""Masking secrets in task logs: the registry, what registers a secret, and where lines
are redacted (in-process runs and the task process's streams)."""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from downwind.operators.python import PythonOperator
from downwind.runner.log_capture import RedactingStream, TaskLogCapture
from downwind.runtime.connection import Connection
from downwind.runtime.masking import (
    is_sensitive_name,
    mask_connection,
    mask_secret,
    redact,
    reset_masking,
)
from downwind.runtime.memory import InMemoryStore
from downwind.runtime.variable import Variable
from downwind.sdk.dag import DAG
from downwind.states import TaskInstanceState as TI


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    reset_masking()
    yield
    reset_masking()


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "db_PASSWORD",
        "smtp_passwd",
        "client_secret",
        "Authorization",
        "stripe_api_key",
        "OPENAI_APIKEY",
        "slack_token",
        "ssh_private_key",
        "access_token",
    ],
)
def test_names_that_look_secret_are_sensitive(name: str) -> None:
    assert is_sensitive_name(name)


@pytest.mark.parametrize("name", ["region", "bucket", "pass", "api_url", "keyspace", ""])
def test_other_names_are_not(name: str) -> None:
    assert not is_sensitive_name(name)


def test_a_registered_secret_is_replaced_wherever_it_appears() -> None:
    assert redact("nothing registered: hunter22") == "nothing registered: hunter22"
    mask_secret("hunter22")
    assert redact("pw=hunter22; again hunter22!") == "pw=***; again ***!"
    assert redact("hunter2 is not the secret") == "hunter2 is not the secret"


def test_short_values_are_not_masked() -> None:
    mask_secret("abc")
    mask_secret("")
    assert redact("abc abcd") == "abc abcd"
    mask_secret("abcd")
    assert redact("abc abcd") == "abc ***"


def test_a_longer_secret_containing_a_shorter_one_is_masked_whole() -> None:
    mask_secret("token")
    mask_secret("token-and-more")
    assert redact("x token-and-more y token") == "x *** y ***"


def test_special_characters_are_matched_literally() -> None:
    mask_secret("a.b*c(d)")
    assert redact("a.b*c(d) aXbbc(d)") == "*** aXbbc(d)"


def test_a_multi_line_secret_is_masked_line_by_line_too() -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkq\n-----END KEY-----"
    mask_secret(key)
    assert redact(key) == "***"
    assert redact("line: MIIEvQIBADANBgkq") == "line: ***"


def test_the_uri_encoded_form_of_a_secret_is_masked() -> None:
    mask_secret("p@ss/word")
    assert redact("postgres://u:p%40ss%2Fword@h/db") == "postgres://u:***@h/db"


def test_strings_inside_dicts_and_lists_are_registered() -> None:
    mask_secret({"user": "ada-lovelace", "keys": ["first-key", 12345]})
    assert redact("ada-lovelace first-key 12345") == "*** *** 12345"


def test_a_connection_masks_its_password_and_secret_extras_only() -> None:
    conn = Connection(
        "api",
        conn_type="http",
        host="api.example.com",
        login="robot",
        password="p4ssw0rd",
        extra={
            "api_key": "k-123456",
            "timeout": "30000",
            "auth": {"Authorization": "Bearer abcdef", "scheme": "https"},
        },
    )
    mask_connection(conn)
    line = "robot p4ssw0rd k-123456 Bearer abcdef 30000 https api.example.com"
    assert redact(line) == "robot *** *** *** 30000 https api.example.com"


def test_the_redacting_stream_masks_whole_lines_even_written_in_pieces() -> None:
    mask_secret("hunter22")
    out = io.StringIO()
    stream = RedactingStream(out)
    print("the password is", "hunt", end="", file=stream)
    assert out.getvalue() == ""  # held until the line ends
    print("er22", file=stream)
    stream.write("a\nlast hunter22")
    assert out.getvalue() == "the password is ***\na\n"
    stream.flush()
    assert out.getvalue() == "the password is ***\na\nlast ***"
    assert stream.getvalue() == out.getvalue()  # anything else goes to the wrapped stream


def test_the_redacting_stream_keeps_lines_of_threads_whole() -> None:
    mask_secret("hunter22")
    out = io.StringIO()
    stream = RedactingStream(out)

    def write() -> None:
        for _ in range(200):
            stream.write("x hunter22 y\n")

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert out.getvalue().splitlines() == ["x *** y"] * 800


def test_in_process_capture_redacts_prints_and_log_records() -> None:
    lines: list[tuple[str, str]] = []
    mask_secret("hunter22")
    capture = TaskLogCapture(lambda task_id, line: lines.append((task_id, line)))
    with capture, capture.task("t"):
        print("printed hunter22")
        logging.getLogger("user").warning("logged %s", "hunter22")
        sys.stdout.write("unfinished hunter22")
    assert lines[0] == ("t", "printed ***")
    assert lines[1][1].endswith("WARNING - logged ***")
    assert lines[2] == ("t", "unfinished ***")


def test_variable_get_masks_sensitive_keys_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOWNWIND_VAR_DB_PASSWORD", "hunter22")
    monkeypatch.setenv("DOWNWIND_VAR_REGION", "eu-west-1")
    monkeypatch.setenv("DOWNWIND_VAR_API_TOKENS", '{"github": "ghp-1234", "n": 2}')
    assert Variable.get("db_password") == "hunter22"
    assert Variable.get("region") == "eu-west-1"
    assert Variable.get("api_tokens", deserialize_json=True) == {"github": "ghp-1234", "n": 2}
    assert redact("hunter22 eu-west-1 ghp-1234") == "*** eu-west-1 ***"


def _leaky(**context):
    conn = context["conn"].warehouse
    print(f"connecting with {conn.login}:{conn.password} (key {conn.extra['api_key']})")
    print("the admin password is", Variable.get("admin_password"))
    print("rendered:", context["task"].op_kwargs)
    raise ValueError(f"login refused for password {conn.password}")


def test_a_dag_run_shows_secrets_as_stars_in_its_log_and_errors(run_dag, downwind_home: Path):
    with DAG("leaky", schedule=None) as dag:
        PythonOperator(
            task_id="leak",
            python_callable=_leaky,
            op_kwargs={"templated": "{{ var.value.backup_secret }}"},
        )
    store = InMemoryStore(
        environ={},
        variables={"admin_password": "hunter22", "backup_secret": "b4ckup-s3cret"},
        connections={
            "warehouse": Connection(
                "warehouse",
                conn_type="postgres",
                login="etl",
                password="s3cr3t!",
                extra={"api_key": "ak-98765"},
            )
        },
    )
    result = run_dag(dag, store=store)

    assert result.state("leak") is TI.FAILED
    log = "\n".join(result.log("leak"))
    assert "connecting with etl:*** (key ***)" in log
    assert "the admin password is ***" in log
    assert "rendered: {'templated': '***'}" in log
    assert "login refused for password ***" in log
    for secret in ("hunter22", "s3cr3t!", "ak-98765", "b4ckup-s3cret"):
        assert secret not in result.text
