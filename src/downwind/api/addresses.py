"""Where the API server listens: checking that its address is free, and its URL.

Kept apart from :mod:`downwind.api.server` (which imports uvicorn) so that
``downwind standalone`` can check the port before it starts the server, cheaply.
"""

from __future__ import annotations

import errno
import socket

from downwind.exceptions import DownwindException

__all__ = ["ServerStartError", "check_port_free", "url_of"]


class ServerStartError(DownwindException):
    """The server cannot start (e.g. its port is taken)."""


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`ServerStartError` when ``host:port`` cannot be bound."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise ServerStartError(f"cannot listen on {host}:{port}: {err.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise ServerStartError(
                    f"cannot listen on {host}:{port}: the port is already in use (is another "
                    "server running? choose another port with --port)"
                ) from None
            raise ServerStartError(
                f"cannot listen on {host}:{port}: {err.strerror or err}"
            ) from None


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
