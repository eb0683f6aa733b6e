"""Helpers the benchmark scripts share (they run as ``python benchmarks/NAME.py``, so
this folder is on ``sys.path``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def warm_byte_code() -> None:
    """Measure downwind as installed: its byte code cached, as after ``pip install``.

    Some shells set PYTHONDONTWRITEBYTECODE, which would make every measured process
    compile downwind's sources again (tens of milliseconds that no user pays).
    """
    import compileall

    import downwind

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    compileall.compile_dir(Path(downwind.__file__).parent, quiet=1)


def downwind_command() -> list[str]:
    """The ``downwind`` console script of this environment (``python -m downwind`` if none)."""
    script = Path(sys.executable).with_name("downwind")
    if script.exists():
        return [str(script)]
    found = shutil.which("downwind")
    return [found] if found else [sys.executable, "-m", "downwind"]


def log_tail(log_file: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database on the server of ``admin_url``, dropped on exit (even on failure).
    Raises ``RuntimeError`` with the reason when the server cannot be used."""
    try:
        import psycopg
        from sqlalchemy.engine import make_url
    except ImportError as err:
        raise RuntimeError(f"psycopg is not installed ({err})") from None
    base = make_url(admin_url).set(drivername="postgresql")
    try:
        admin = psycopg.connect(
            base.render_as_string(hide_password=False), autocommit=True, connect_timeout=3
        )
    except psycopg.Error as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
        raise RuntimeError(f"not reachable at {base.render_as_string()}: {first}") from None
    name = f"downwind_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            from downwind.metastore.engine import dispose_engines

            dispose_engines()
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def parents() -> dict[int, int]:
    """``{pid: parent pid}`` of every live process (Linux /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def family(root: int) -> list[int]:
    """``root`` and its live descendants, parents before children."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents().items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        found.append(pid)
        todo.extend(sorted(children.get(pid, [])))
    return found


@contextlib.contextmanager
def running_scheduler(env: dict[str, str], log_file: Path) -> Iterator[subprocess.Popen]:
    """``downwind scheduler`` in its own session; stopped with SIGTERM on exit, and it
    and every process it started killed if they outlive that."""
    with log_file.open("wb") as log:
        proc = subprocess.Popen(
            [*downwind_command(), "scheduler"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        started = set(family(proc.pid)[1:])
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for pid in started:  # only the processes this scheduler started
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
