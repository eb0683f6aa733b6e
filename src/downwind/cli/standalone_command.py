"""``downwind standalone``: everything on one machine from one command.

It creates the home and the dags folder, migrates the metastore, makes sure an ``admin``
user exists (a new one gets a random password, printed once and kept in a file only its
owner can read), starts the API server (``downwind api-server``) in a child process and
runs the scheduler, with its executor and DAG processor, in this one. SIGINT/SIGTERM
stop both cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine

from downwind.cli.daemon import setup_logging
from downwind.cli.metastore_session import now
from downwind.cli.scheduler_command import refuse_second_scheduler_on_sqlite, run_scheduler
from downwind.config import Config, get_config
from downwind.metastore.revision import is_at_head

log = logging.getLogger("downwind.standalone")

#: the file under ``$DOWNWIND_HOME`` that keeps the generated admin password
PASSWORD_FILE = "standalone_admin_password.txt"
#: how long the API server may take to stop once asked
_API_STOP_TIMEOUT = 35.0
#: how long the scheduler waits for the API server to listen before it starts anyway
_API_START_TIMEOUT = 10.0


def standalone(args: argparse.Namespace) -> int:
    """Set up what is missing, then serve the API and run the scheduler until stopped."""
    from downwind.api.addresses import check_port_free
    from downwind.metastore.engine import display_url, get_engine, normalize_url

    conf = get_config()
    conf.home.mkdir(parents=True, exist_ok=True)
    conf.core.dags_folder.mkdir(parents=True, exist_ok=True)
    setup_logging()
    engine = get_engine()
    applied = [] if is_at_head(engine) else _upgrade(engine)
    where = display_url(normalize_url(conf.database.url, conf.home))
    check_port_free(conf.api.host, conf.api.port)
    if applied:
        log.info("Migrated the metastore at %s (%d migration(s))", where, len(applied))
    with _api_server() as server:  # started first: it takes the longest to be ready
        refuse_second_scheduler_on_sqlite(conf)
        login = _admin_login(conf)
        # The scheduler starts once the API listens (a second or so), so that the two
        # do not compete for the CPUs while the server imports its routes.
        _wait_until_listening(conf.api.host, conf.api.port, server)
        _print_banner(conf, where, login)
        return run_scheduler(conf)


def _wait_until_listening(host: str, port: int, server: subprocess.Popen[bytes]) -> None:
    """Return once ``host:port`` accepts connections, the server has exited (its error
    is on stderr; the scheduler runs anyway), or :data:`_API_START_TIMEOUT` passed."""
    deadline = time.monotonic() + _API_START_TIMEOUT
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)


def _upgrade(engine: Engine) -> list[object]:
    from downwind.metastore.migrate import upgrade  # Alembic: only when there is work

    return list(upgrade(engine))


def _print_banner(conf: Config, where: str, login: str) -> None:
    from downwind.api.addresses import url_of

    print(
        "downwind standalone\n"
        f"  home:        {conf.home}\n"
        f"  dags folder: {conf.core.dags_folder}"
        + (" (and the example DAGs)" if conf.core.load_examples else "")
        + f"\n  metastore:   {where}\n"
        f"  executor:    {conf.core.executor}, parallelism {conf.core.parallelism}\n"
        f"  API:         {url_of(conf.api.host, conf.api.port)}/api/v2 "
        f"(docs at {url_of(conf.api.host, conf.api.port)}/docs)\n"
        f"{login}\n"
        "New DAGs start paused: `downwind dags unpause DAG_ID` switches one on. "
        "Press Ctrl-C to stop.",
        file=sys.stderr,
        flush=True,
    )


def _admin_login(conf: Config) -> str:
    """Create the ``admin`` user when no administrator exists, and say how to log in."""
    from downwind.metastore.engine import get_engine, session_factory, write_transaction
    from downwind.services.users import ensure_admin

    with write_transaction(session_factory(get_engine())) as session:
        password = ensure_admin(session, now=now())
    path = conf.home / PASSWORD_FILE
    if password is not None:
        _write_private(path, password + "\n")
        return (
            f"  login:       admin / {password}\n"
            f"               (shown once; also kept in {path}, readable by you only)"
        )
    if path.exists():
        return f"  login:       admin, with the password kept in {path}"
    return "  login:       with a user of yours (`downwind users list`)"


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that only its owner may read it, from the start."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


@contextlib.contextmanager
def _api_server() -> Iterator[subprocess.Popen[bytes]]:
    """``downwind api-server`` in a child process (its log lines go to our stderr),
    stopped with SIGTERM on the way out; said loudly if it stops before that."""
    process = subprocess.Popen([sys.executable, "-m", "downwind", "api-server"])
    stopping = threading.Event()

    def watch() -> None:
        code = process.wait()
        if not stopping.is_set():
            log.error(
                "The API server stopped (exit code %d; see its messages above): the "
                "scheduler goes on; restart `downwind standalone` to serve the API again",
                code,
            )

    threading.Thread(target=watch, name="api-server-watch", daemon=True).start()
    try:
        yield process
    finally:
        stopping.set()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(_API_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
