"""Run the API with uvicorn: ``downwind api-server``.

The server binds ``[api] host`` / ``port`` (127.0.0.1:8080 by default) unless given
others, runs ``[api] workers`` processes, trusts ``X-Forwarded-*`` headers only with
``[api] proxy_headers`` (from ``forwarded_allow_ips``), and logs one line with its URL
once it serves. SIGINT or SIGTERM stops it gracefully: it stops accepting connections,
lets requests under way finish (up to :data:`GRACEFUL_SHUTDOWN_TIMEOUT` seconds), and
returns.
"""

from __future__ import annotations

import contextlib
import logging
import logging.config
import signal
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from downwind.api.addresses import ServerStartError, check_port_free, url_of
from downwind.config import Config
from downwind.security.tokens import signing_key

__all__ = ["GRACEFUL_SHUTDOWN_TIMEOUT", "ServerStartError", "serve"]

log = logging.getLogger("downwind.api")

GRACEFUL_SHUTDOWN_TIMEOUT = 30
_APP_FACTORY = "downwind.api.app:create_app"
_FORMAT = "[%(asctime)s] %(levelname)s %(message)s"


def log_config(access_log: bool) -> dict[str, Any]:
    """Logging of downwind's and uvicorn's messages, one line each on stderr, in every
    worker process."""
    handler = {"handlers": ["stderr"], "level": "INFO", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": {"format": _FORMAT, "datefmt": "%Y-%m-%d %H:%M:%S"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "downwind": handler,
            "uvicorn": handler,
            # uvicorn's own start/stop lines repeat ours: its warnings and errors only
            "uvicorn.error": {**handler, "level": "WARNING"},
            "uvicorn.access": {**handler, "level": "INFO" if access_log else "WARNING"},
        },
    }


@contextlib.contextmanager
def _exit_normally_on_signals() -> Iterator[None]:
    """uvicorn stops gracefully on SIGINT/SIGTERM, then raises the signal again with the
    handlers it found: make those a no-op so that the process exits with status 0."""
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(
    conf: Config, *, host: str | None = None, port: int | None = None, workers: int | None = None
) -> int:
    """Serve the API until SIGINT/SIGTERM; returns the exit status (0 after a graceful
    stop). Raises :class:`ServerStartError` when the address cannot be bound, and
    :class:`~downwind.exceptions.ConfigError` for a bad configuration."""
    host = host or conf.api.host
    port = conf.api.port if port is None else port
    workers = conf.api.workers if workers is None else workers
    if not 0 < port < 65536:
        raise ServerStartError(f"invalid port {port}: expected 1 to 65535")
    if workers < 1:
        raise ServerStartError(f"invalid number of workers {workers}: expected 1 or more")
    logging.config.dictConfig(log_config(conf.api.access_log))
    check_port_free(host, port)
    signing_key(conf)  # made once here, before any worker races to make it
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "workers": workers,
        "access_log": conf.api.access_log,
        "proxy_headers": conf.api.proxy_headers,
        "forwarded_allow_ips": conf.api.forwarded_allow_ips,
        "log_config": log_config(conf.api.access_log),
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_TIMEOUT,
        "server_header": False,
    }
    url = url_of(host, port)
    if workers > 1:
        log.info("downwind API server starting %d workers on %s", workers, url)
        uvicorn.run(_APP_FACTORY, factory=True, **options)
        return 0
    from downwind.api.app import create_app

    app = create_app(conf)
    server = _LoggingServer(uvicorn.Config(app, **options), url)
    with _exit_normally_on_signals():
        server.run()
    if not server.started:
        raise ServerStartError(f"the API server could not start on {url} (see the log above)")
    log.info("downwind API server stopped")
    return 0


class _LoggingServer(uvicorn.Server):
    """A uvicorn server that logs its URL once it serves."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self.url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            log.info(
                "downwind API server serving at %s (REST API under /api/v2, docs at /docs); "
                "press Ctrl-C to stop",
                self.url,
            )
