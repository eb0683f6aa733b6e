"""Connections: how tasks reach external systems (host, credentials, extra options).

Airflow-compatible: the same fields, the same URI format (``smtp://user:pass@host:25``,
percent-encoded parts, query parameters as extras, ``__extra__`` holding JSON) and
``DOWNWIND_CONN_<ID>`` environment variables holding a URI or a JSON object.

A password never appears in an error message or a ``repr``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

__all__ = ["CONN_ENV_PREFIX", "Connection", "connection_from_env"]

CONN_ENV_PREFIX = "DOWNWIND_CONN_"
EXTRA_KEY = "__extra__"

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-_]*)://")
_SECRET_WORDS = ("password", "passwd", "secret", "token", "private", "passphrase", "api_key")
_SECRET_WORDS += ("apikey", "access_key", "authorization", "credential")
_MASK = "***"
_INVALID = object()


@dataclass(repr=False)
class Connection:
    """A connection's fields, as in Airflow. ``extra`` is a dict (a JSON string is parsed)."""

    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = None
    schema: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    description: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.extra, str):
            self.extra = _parse_extra(self.conn_id, self.extra)
        elif self.extra is None:
            self.extra = {}
        elif not isinstance(self.extra, Mapping):
            raise ValueError(
                f"connection {self.conn_id!r}: extra must be a dict or a JSON object string, "
                f"got {type(self.extra).__name__}"
            )
        else:
            self.extra = dict(self.extra)
        if self.port is not None:
            self.port = _parse_port(self.conn_id, self.port)

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """The extra options as a dict (Airflow's name; ``extra`` already is one here)."""
        if isinstance(self.extra, str):  # set after creation
            return _parse_extra(self.conn_id, self.extra)
        return dict(self.extra)

    @classmethod
    def from_uri(cls, conn_id: str, uri: str) -> Connection:
        """Parse an Airflow-style connection URI.

        ``postgresql://u:p%40ss@h:5432/db?sslmode=require`` gives conn_type ``postgres``
        (Airflow's name), login ``u``, password ``p@ss``, host ``h``, port 5432, schema
        ``db`` and extra ``{"sslmode": "require"}``. A ``__extra__`` query parameter holds
        the extras as JSON. Raises ``ValueError`` (never showing the password) if malformed.
        """
        return cls(conn_id=conn_id, **_parse_uri(conn_id, uri))

    @classmethod
    def from_dict(cls, conn_id: str, data: Mapping[str, Any]) -> Connection:
        """Build from a mapping of fields (the JSON form of ``DOWNWIND_CONN_<ID>``)."""
        known = {f.name for f in fields(cls)} - {"conn_id"}
        unknown = sorted(set(data) - known - {"conn_id"})
        if unknown:
            raise ValueError(
                f"connection {conn_id!r}: unknown field(s) {', '.join(unknown)}; "
                f"expected some of {', '.join(sorted(known))}"
            )
        values = {key: data[key] for key in known if key in data}
        if isinstance(values.get("conn_type"), str):
            values["conn_type"] = _normalize_conn_type(values["conn_type"])
        return cls(conn_id=conn_id, **values)

    def to_dict(self) -> dict[str, Any]:
        """All fields but ``conn_id``, JSON-able (password included: for transport only)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "conn_id"} | {
            "extra": self.extra_dejson
        }

    def get_uri(self) -> str:
        """The URI form; :meth:`from_uri` of it gives back an equal connection."""
        uri = f"{self.conn_type.lower().replace('_', '-')}://" if self.conn_type else "//"
        authority = ""
        if self.login is not None:
            authority += quote(self.login, safe="")
        if self.password is not None:
            authority += ":" + quote(self.password, safe="")
        if authority:
            uri += authority + "@"
        host = ""
        if self.host:
            host = f"[{self.host}]" if _is_ipv6(self.host) else quote(self.host, safe="")
        if self.port is not None:
            host += f":{self.port}" if host or authority else f"@:{self.port}"
        if self.schema:
            host += "/" + quote(self.schema, safe="")
        uri += host
        extra = self.extra_dejson
        if extra:
            query = _plain_query(extra)
            if query is None:
                query = urlencode({EXTRA_KEY: json.dumps(extra, separators=(",", ":"))})
            uri += ("?" if self.schema else "/?") + query
        return uri

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "password" and value is not None:
                parts.append(f"password={_MASK!r}")
            elif f.name == "extra":
                parts.append(f"extra={_masked_extra(self.extra_dejson)!r}")
            else:
                parts.append(f"{f.name}={value!r}")
        return f"Connection({', '.join(parts)})"


def connection_from_env(
    conn_id: str, environ: Mapping[str, str] | None = None
) -> Connection | None:
    """The connection defined by ``DOWNWIND_CONN_<CONN_ID upper>``, or ``None`` if unset.

    The value is a URI or a JSON object with the fields. ``environ`` defaults to
    ``os.environ``. Raises ``ValueError`` (naming the variable) if the value is malformed.
    """
    env = os.environ if environ is None else environ
    name = CONN_ENV_PREFIX + conn_id.upper()
    text = env.get(name)
    if text is None:
        return None
    # Errors are raised outside the `except` blocks: a chained json error keeps the whole
    # text, password included, in its `.doc`.
    problem = None
    try:
        return _connection_from_text(conn_id, text.strip())
    except ValueError as err:
        problem = str(err)
    raise ValueError(f"{problem} (from environment variable {name})")


def _connection_from_text(conn_id: str, text: str) -> Connection:
    if not text.startswith("{"):
        return Connection.from_uri(conn_id, text)
    data = _load_json(text)
    if data is _INVALID:
        raise ValueError(f"connection {conn_id!r}: the value is not valid JSON")
    if not isinstance(data, dict):
        raise ValueError(f"connection {conn_id!r}: the value must be a JSON object")
    return Connection.from_dict(conn_id, data)


# Parsing ------------------------------------------------------------------------------------


def _normalize_conn_type(conn_type: str) -> str:
    """As Airflow does: ``postgresql`` is ``postgres``, and ``-`` in a URI scheme is ``_``."""
    conn_type = conn_type.lower().replace("-", "_")
    return "postgres" if conn_type == "postgresql" else conn_type


def _parse_uri(conn_id: str, uri: str) -> dict[str, Any]:
    def invalid(problem: str) -> ValueError:
        return ValueError(f"connection {conn_id!r}: invalid URI: {problem}")

    if not isinstance(uri, str):
        raise invalid(f"expected a str, got {type(uri).__name__}")
    match = _SCHEME.match(uri)
    if match is None:
        raise invalid("it must start with a scheme such as 'postgresql://'")
    rest = uri[match.end() :]
    if "#" in rest:
        raise invalid("unexpected '#' (percent-encode it as %23 in a login or password)")
    netloc, _, after = _split_netloc(rest)
    path, _, query_text = after.partition("?")
    userinfo, at, hostport = netloc.rpartition("@")
    login = password = None
    if at:
        raw_login, colon, raw_password = userinfo.partition(":")
        login = unquote(raw_login) or None
        password = unquote(raw_password) if colon else None
    host, port = _split_hostport(hostport, invalid)
    schema = unquote(path[1:]) if path.startswith("/") else unquote(path)
    result: dict[str, Any] = {
        "conn_type": _normalize_conn_type(match.group(1)),
        "host": host or None,
        "port": port,
        "login": login,
        "password": password,
        "schema": schema or None,
        "extra": _parse_query(query_text, invalid),
    }
    return result


def _split_netloc(rest: str) -> tuple[str, str, str]:
    """Split ``netloc/path?query`` at the first ``/`` or ``?`` that ends the netloc."""
    for index, char in enumerate(rest):
        if char in "/?":
            return rest[:index], char, rest[index:]
    return rest, "", ""


def _split_hostport(hostport: str, invalid: Any) -> tuple[str | None, int | None]:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end == -1:
            raise invalid("unclosed '[' in the host")
        host, port_text = hostport[1:end], hostport[end + 1 :]
        if port_text and not port_text.startswith(":"):
            raise invalid("unexpected characters after ']' in the host")
        port_text = port_text[1:]
    else:
        host, _, port_text = hostport.partition(":")
    port = None
    if port_text:
        # Never echo the text: with an unencoded '/' or '#' it may be part of the password.
        if not port_text.isascii() or not port_text.isdigit():
            raise invalid(
                "the port is not a number (percent-encode special characters such as "
                "'/', ':' or '@' in a login or password)"
            )
        port = int(port_text)
        if port > 65535:
            raise invalid(f"port {port} is out of range (0-65535)")
    return unquote(host), port


def _parse_query(query_text: str, invalid: Any) -> dict[str, Any]:
    if not query_text:
        return {}
    query = dict(parse_qsl(query_text, keep_blank_values=True))
    extra: dict[str, Any] = {}
    if EXTRA_KEY in query:
        extra = _load_json(query.pop(EXTRA_KEY))
        if extra is _INVALID:
            raise invalid(f"{EXTRA_KEY} is not valid JSON")
        if not isinstance(extra, dict):
            raise invalid(f"{EXTRA_KEY} must be a JSON object")
    extra.update(query)
    return extra


def _parse_extra(conn_id: str, text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    extra = _load_json(text)
    if extra is _INVALID:
        raise ValueError(f"connection {conn_id!r}: extra is not valid JSON")
    if not isinstance(extra, dict):
        raise ValueError(f"connection {conn_id!r}: extra must be a JSON object")
    return extra


def _load_json(text: str) -> Any:
    """The parsed value, or ``_INVALID`` if ``text`` is not JSON (no exception holding it)."""
    try:
        value = json.loads(text)
    except ValueError:
        return _INVALID
    return value


def _parse_port(conn_id: str, port: Any) -> int:
    if isinstance(port, bool):
        port = None
    elif isinstance(port, str) and port.strip().isascii() and port.strip().isdigit():
        port = int(port.strip())
    if not isinstance(port, int):
        raise ValueError(f"connection {conn_id!r}: port must be an integer")
    if not 0 <= port <= 65535:
        raise ValueError(f"connection {conn_id!r}: port {port} is out of range (0-65535)")
    return port


def _is_ipv6(host: str) -> bool:
    return ":" in host and all(char in "0123456789abcdefABCDEF:." for char in host)


def _plain_query(extra: dict[str, Any]) -> str | None:
    """``a=1&b=x`` when every extra is a str (so it parses back the same), else ``None``."""
    if EXTRA_KEY in extra or not all(isinstance(value, str) for value in extra.values()):
        return None
    return urlencode(extra)


def _masked_extra(extra: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _MASK if any(word in key.lower() for word in _SECRET_WORDS) else value
        for key, value in extra.items()
    }
