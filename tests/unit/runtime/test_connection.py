"""Connections: Airflow-style URIs, JSON form, environment lookup, password masking."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from downwind.runtime.connection import Connection, connection_from_env


def assert_no_secret_in_chain(exc: BaseException | None, secret: str) -> None:
    """Neither the error nor any error chained to it holds the secret (a JSONDecodeError
    would, in its ``doc``)."""
    while exc is not None:
        assert secret not in str(exc)
        assert secret not in str(getattr(exc, "doc", ""))
        exc = exc.__cause__ or exc.__context__


# Parsing URIs -------------------------------------------------------------------------------


def test_smtp_uri():
    conn = Connection.from_uri("smtp_default", "smtp://user:pass@mail.example.com:25")
    assert conn == Connection(
        conn_id="smtp_default",
        conn_type="smtp",
        host="mail.example.com",
        port=25,
        login="user",
        password="pass",
    )


def test_http_uri_path_is_the_schema():
    conn = Connection.from_uri("api", "http://host:8000/base")
    assert (conn.conn_type, conn.host, conn.port, conn.schema) == ("http", "host", 8000, "base")
    assert conn.login is None
    assert conn.password is None
    assert conn.extra == {}


def test_postgres_uri_with_percent_encoding_and_query_extras():
    conn = Connection.from_uri("db", "postgresql://u:p%40ss@h:5432/db?sslmode=require")
    assert conn.conn_type == "postgres"  # Airflow's name for it
    assert (conn.login, conn.password, conn.host, conn.port) == ("u", "p@ss", "h", 5432)
    assert conn.schema == "db"
    assert conn.extra == {"sslmode": "require"}
    assert conn.extra_dejson == {"sslmode": "require"}


def test_extra_json_in_the___extra___query_parameter():
    extra = {"timeout": 5, "verify": False, "nested": {"a": [1, 2]}}
    uri = "http://h/?__extra__=" + json.dumps(extra).replace(" ", "")
    assert Connection.from_uri("c", uri).extra == extra


def test_encoded_parts_are_decoded():
    conn = Connection.from_uri("c", "mysql://us%3Aer:p%2Fw%3Ad%23@my%2Dhost/a%2Fb")
    assert (conn.login, conn.password, conn.host, conn.schema) == (
        "us:er",
        "p/w:d#",
        "my-host",
        "a/b",
    )


def test_host_case_is_kept():
    assert Connection.from_uri("c", "http://MyHost.Example.com").host == "MyHost.Example.com"


def test_scheme_dashes_become_underscores():
    assert Connection.from_uri("c", "google-cloud-platform://").conn_type == "google_cloud_platform"


def test_minimal_and_partial_uris():
    assert Connection.from_uri("c", "sqlite://") == Connection("c", "sqlite")
    only_login = Connection.from_uri("c", "ftp://bob@h")
    assert (only_login.login, only_login.password) == ("bob", None)
    empty_password = Connection.from_uri("c", "ftp://bob:@h")
    assert empty_password.password == ""
    only_password = Connection.from_uri("c", "redis://:secret@h:6379/0")
    assert (only_password.login, only_password.password, only_password.schema) == (
        None,
        "secret",
        "0",
    )
    port_only = Connection.from_uri("c", "x://@:5432")
    assert (port_only.host, port_only.port) == (None, 5432)


def test_ipv6_host():
    conn = Connection.from_uri("c", "http://[::1]:8080/x")
    assert (conn.host, conn.port) == ("::1", 8080)
    assert conn.get_uri() == "http://[::1]:8080/x"


def test_unencoded_at_sign_in_password_is_tolerated():
    conn = Connection.from_uri("c", "smtp://u:p@ss@h:25")
    assert (conn.password, conn.host) == ("p@ss", "h")


# Malformed URIs: ValueError naming the connection, never the password ----------------------


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("user:hunter2@host:25", "must start with a scheme"),
        ("host:25", "must start with a scheme"),
        ("", "must start with a scheme"),
        ("smtp://user:hunter2@host:2x5", "port is not a number"),
        ("smtp://user:hun/ter2@host:25", "port is not a number"),
        ("smtp://user:hunter2@host:99999", "out of range"),
        ("smtp://user:hun#ter2@host", "unexpected '#'"),
        ("http://[::1:80", "unclosed '['"),
        ("http://h/?__extra__=hunter2", "__extra__ is not valid JSON"),
        ("http://h/?__extra__=[1]", "__extra__ must be a JSON object"),
    ],
)
def test_malformed_uri(uri, problem):
    with pytest.raises(ValueError, match="connection 'my_conn': invalid URI") as info:
        Connection.from_uri("my_conn", uri)
    assert problem in str(info.value)
    assert "hunter2" not in str(info.value)
    assert "ter2" not in str(info.value)
    assert_no_secret_in_chain(info.value, "ter2")


# get_uri ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "smtp://user:pass@mail.example.com:25",
        "http://host:8000/base",
        "postgres://u:p%40ss@h:5432/db?sslmode=require",
        "sqlite://",
        "redis://:secret@h:6379/0",
        "x://@:5432",
        "google-cloud-platform://",
        "http://h/?a=1&b=",
        "mysql://us%3Aer:p%2Fw%3Ad%23@my-host/a%2Fb",
    ],
)
def test_get_uri_gives_back_the_uri(uri):
    assert Connection.from_uri("c", uri).get_uri() == uri


def test_non_string_extras_go_in___extra__():
    conn = Connection("c", "http", host="h", extra={"timeout": 5, "name": "x"})
    uri = conn.get_uri()
    assert uri.startswith("http://h/?__extra__=")
    assert Connection.from_uri("c", uri) == conn


def test_postgresql_is_normalized_and_round_trips():
    conn = Connection.from_uri("db", "postgresql://u:p%40ss@h:5432/db?sslmode=require")
    assert conn.get_uri() == "postgres://u:p%40ss@h:5432/db?sslmode=require"
    assert Connection.from_uri("db", conn.get_uri()) == conn


_text = st.text(min_size=1, max_size=12) | st.none()


@settings(max_examples=50, deadline=None)
@given(
    conn_type=st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
        lambda s: s != "postgresql"
    ),
    host=_text,
    port=st.integers(0, 65535) | st.none(),
    login=_text,
    password=st.text(max_size=12) | st.none(),
    schema=_text,
    extra=st.dictionaries(st.text(max_size=5), st.text(max_size=5) | st.integers(), max_size=3),
)
def test_uri_round_trip_property(conn_type, host, port, login, password, schema, extra):
    conn = Connection("c", conn_type, host, port, login, password, schema, extra)
    assert Connection.from_uri("c", conn.get_uri()) == conn


# Fields -------------------------------------------------------------------------------------


def test_extra_json_string_is_accepted():
    conn = Connection("c", "http", extra='{"a": 1}')
    assert conn.extra == {"a": 1}
    assert Connection("c", extra="").extra == {}
    assert Connection("c", extra=None).extra == {}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("extra", "message"),
    [("{not json", "extra is not valid JSON"), ("[1]", "extra must be a JSON object")],
)
def test_bad_extra(extra, message):
    with pytest.raises(ValueError, match=f"connection 'c': {message}"):
        Connection("c", extra=extra)


def test_extra_dejson_is_a_copy():
    conn = Connection("c", extra={"a": 1})
    conn.extra_dejson["a"] = 2
    assert conn.extra == {"a": 1}


def test_port_as_text_is_converted_and_checked():
    assert Connection("c", port="5432").port == 5432  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="port must be an integer"):
        Connection("c", port="http")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="out of range"):
        Connection("c", port=70000)


def test_repr_masks_the_password_and_secret_extras():
    conn = Connection(
        "c",
        "http",
        host="h",
        login="bob",
        password="hunter2",
        extra={"api_key": "k-123", "Auth_Token": "t-9", "timeout": 5},
    )
    text = repr(conn)
    assert "hunter2" not in text
    assert "k-123" not in text
    assert "t-9" not in text
    assert "password='***'" in text
    assert "'timeout': 5" in text
    assert "login='bob'" in text
    assert str(conn) == text
    assert "password=None" in repr(Connection("c"))


def test_to_dict_and_from_dict_round_trip():
    conn = Connection("c", "http", "h", 80, "u", "p", "s", {"a": [1]}, "desc")
    assert Connection.from_dict("c", json.loads(json.dumps(conn.to_dict()))) == conn


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown field"):
        Connection.from_dict("c", {"conn_type": "http", "hostname": "h"})


# connection_from_env ------------------------------------------------------------------------


def test_env_uri():
    environ = {"DOWNWIND_CONN_MY_DB": "postgresql://u:p@h:5432/db"}
    conn = connection_from_env("my_db", environ)
    assert conn is not None
    assert (conn.conn_id, conn.conn_type, conn.host, conn.port) == ("my_db", "postgres", "h", 5432)


def test_env_json_object():
    value = json.dumps(
        {
            "conn_type": "http",
            "host": "example.com",
            "port": "443",
            "login": "u",
            "password": "p",
            "extra": {"verify": False},
            "description": "the API",
        }
    )
    conn = connection_from_env("api", {"DOWNWIND_CONN_API": value})
    assert conn == Connection(
        "api", "http", "example.com", 443, "u", "p", None, {"verify": False}, "the API"
    )


def test_env_json_extra_as_string():
    value = '{"conn_type": "http", "extra": "{\\"a\\": 1}"}'
    conn = connection_from_env("api", {"DOWNWIND_CONN_API": value})
    assert conn is not None
    assert conn.extra == {"a": 1}


def test_env_unset_is_none():
    assert connection_from_env("nope", {}) is None
    assert connection_from_env("nope", {"AIRFLOW_CONN_NOPE": "http://h"}) is None


@pytest.mark.parametrize(
    "value",
    [
        "not a uri hunter2",
        '{"conn_type": "http", "password": "hunter2", "port": "x"',
        '{"conn_type": "http", "password": "hunter2", "port": "eighty"}',
        '{"conn_type": "http", "password": "hunter2", "pwd": "x"}',
        "",
    ],
)
def test_env_malformed_names_the_variable_not_the_password(value):
    with pytest.raises(ValueError, match="DOWNWIND_CONN_BAD") as info:
        connection_from_env("bad", {"DOWNWIND_CONN_BAD": value})
    assert "connection 'bad'" in str(info.value)
    assert_no_secret_in_chain(info.value, "hunter2")


def test_env_defaults_to_the_process_environment(monkeypatch):
    monkeypatch.setenv("DOWNWIND_CONN_FROM_OS", "http://h")
    conn = connection_from_env("from_os")
    assert conn is not None
    assert conn.host == "h"
