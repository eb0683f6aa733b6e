"""The fork server: a warm process that forks one child per DAG file to parse.

It is started once per DAG processor (``python -c ...serve(FD)``), imports downwind's
authoring code and operators (:mod:`downwind.dag_processing.child`), then waits for
requests on a Unix socket. For each request it forks a child that puts itself in a new
process group, takes over the requester's environment, parses the file and writes the
pickled result to a pipe the requester passed along with the request. The server
reports each child's pid when it starts and its exit status when it ends.

A fork of this small, single-threaded process costs a few milliseconds, where a new
interpreter importing downwind would cost a hundred or more; and unlike a fork of the
scheduler it inherits no database connections, threads or locks. (multiprocessing's own
fork server would re-run the parent's ``__main__`` script in every child and share one
preload list with every other user of it in the process.)

Wire format, both ways: a 4-byte big-endian length, then that many bytes of pickle.
A request's length prefix carries the result pipe's write end (``SCM_RIGHTS``).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import socket
import struct
import sys
import traceback
from typing import Any

__all__ = ["HEADER", "read_exactly", "serve"]

HEADER = struct.Struct("!I")


def read_exactly(sock: socket.socket, size: int) -> bytes | None:
    """``size`` bytes from ``sock`` (blocking); ``None`` at end of stream. Never asks for
    more than it needs, so it never reads into the next message (and its passed fd)."""
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _send(sock: socket.socket, message: tuple[Any, ...]) -> None:
    payload = pickle.dumps(message)
    sock.sendall(HEADER.pack(len(payload)) + payload)


def _receive_request(sock: socket.socket) -> tuple[tuple[Any, ...], int] | None:
    """The next request and the result pipe passed with it; ``None`` when the requester
    is gone."""
    header, fds, _flags, _address = socket.recv_fds(sock, HEADER.size, 1)
    if not header:
        return None
    if len(header) < HEADER.size:
        rest = read_exactly(sock, HEADER.size - len(header))
        if rest is None:
            return None
        header += rest
    (size,) = HEADER.unpack(header)
    payload = read_exactly(sock, size)
    if payload is None or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        return None
    return pickle.loads(payload), fds[0]


def serve(fd: int) -> None:
    """Serve requests on the socket ``fd`` until the requester closes it; then kill the
    children still running (with their process groups)."""
    # Ctrl-C in a terminal reaches the whole process group; the requester decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from downwind.dag_processing import child  # the preload: every child starts with it

    sock = socket.socket(fileno=fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: set[int] = set()
    try:
        while True:
            ready, _, _ = select.select([sock, wake_r], [], [])
            if wake_r in ready:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_r, 512):
                        pass
            _reap(sock, children)
            if sock in ready:
                request = _receive_request(sock)
                if request is None:
                    return
                _start_child(sock, request, children, child, (wake_r, wake_w))
    except OSError:  # the requester went away while we wrote to it
        return
    finally:
        for pid in children:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)


def _reap(sock: socket.socket, children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid in children:
            children.discard(pid)
            _send(sock, ("exited", pid, os.waitstatus_to_exitcode(status)))


def _start_child(
    sock: socket.socket,
    request: tuple[tuple[Any, ...], int],
    children: set[int],
    child: Any,
    wake: tuple[int, int],
) -> None:
    (request_id, path, import_folders, environ, sys_path, cwd), result_fd = request
    try:
        pid = os.fork()
    except OSError as err:
        os.close(result_fd)
        _send(sock, ("failed", request_id, f"cannot fork: {err}"))
        return
    if pid == 0:  # the child
        code = 0
        try:
            os.setpgid(0, 0)
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            sock.close()
            for wake_fd in wake:
                os.close(wake_fd)
            child.adopt(environ, sys_path, cwd)
            try:
                result = child.parse_file(path, import_folders)
                data = pickle.dumps(result)
            except BaseException:  # anything becomes the file's import error
                data = pickle.dumps(("error", traceback.format_exc(), ""))
            with open(result_fd, "wb", closefd=True) as out:
                out.write(data)
        except BaseException:  # reported as the exit status
            code = 70
        finally:
            # Exit now: a non-daemon thread the DAG file started must not keep it alive.
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    # The server: the child's group must exist before the requester may kill it.
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)
    os.close(result_fd)
    children.add(pid)
    _send(sock, ("started", request_id, pid))
