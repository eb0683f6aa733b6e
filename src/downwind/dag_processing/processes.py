"""One DAG file parsed in one child process, with a time limit.

Children are forked by the fork server (:mod:`downwind.dag_processing.forkserver`),
started on first use and shared by the whole process. A child that runs past its time
limit is killed with its whole process group; a child that dies without answering
(``os._exit``, a segfault, the OOM killer) gives an import error that says so. Whatever a
DAG file started at import is killed when its parse ends.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from downwind.dag_processing.forkserver import HEADER
from downwind.services.dag_registry import ParsedDag

__all__ = ["FileParse", "ForkServer", "ParseOutcome", "fork_server"]

#: the requester's sys.path, for the fork server to import downwind the same way
_SYS_PATH_ENV = "DOWNWIND_FORKSERVER_SYS_PATH"
_BOOT = (
    f"import json, os, sys; sys.path[:] = json.loads(os.environ.pop({_SYS_PATH_ENV!r})); "
    "from downwind.dag_processing.forkserver import serve; serve(int(sys.argv[1]))"
)
#: seconds the fork server gets to exit once told to
_EXIT_GRACE = 2.0


@dataclass(frozen=True)
class ParseOutcome:
    """What parsing one DAG file gave: its DAGs, or the import error."""

    fileloc: str
    dags: list[ParsedDag] = field(default_factory=list)
    import_error: str | None = None
    #: seconds from asking for the parse to its answer
    duration: float = 0.0
    #: what the file printed while it was imported (cut at ``child.OUTPUT_LIMIT``)
    output: str = ""
    #: why the file could not be parsed at all, through no fault of its own (the fork
    #: server failed, or the parse was stopped): neither DAGs nor an import error
    problem: str | None = None

    @property
    def dag_ids(self) -> list[str]:
        return [parsed.dag_id for parsed in self.dags]


class ForkServer:
    """The requesting side of a fork server process."""

    def __init__(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env={**os.environ, _SYS_PATH_ENV: json.dumps(sys.path)},
            )
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        self._sock = mine
        self._buffer = bytearray()
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._by_request: dict[int, FileParse] = {}
        self._by_pid: dict[int, FileParse] = {}
        self.closed = False

    @property
    def pid(self) -> int:
        return self._process.pid

    def running(self) -> bool:
        """Whether the server process is still there."""
        return self._process.poll() is None

    def fileno(self) -> int:
        """The socket the server reports on (readable when a child started or ended)."""
        return self._sock.fileno()

    def submit(self, parse: FileParse, import_folders: list[str], environ: dict[str, str]) -> int:
        """Ask for ``parse``'s file to be parsed; returns the (non-blocking) read end of
        the pipe its result comes on. Raises :class:`OSError` if the server is gone."""
        with self._lock:
            if self.closed:
                raise OSError("the DAG file fork server has stopped")
            request_id = next(self._ids)
            try:
                cwd = os.getcwd()
            except OSError:  # the working folder was deleted
                cwd = "/"
            payload = pickle.dumps(
                (request_id, parse.fileloc, import_folders, environ, sys.path, cwd)
            )
            read_fd, write_fd = os.pipe()
            try:
                socket.send_fds(self._sock, [HEADER.pack(len(payload))], [write_fd])
                self._sock.sendall(payload)
            except OSError:
                os.close(read_fd)
                self._gone()
                raise
            finally:
                os.close(write_fd)
            os.set_blocking(read_fd, False)
            self._by_request[request_id] = parse
            return read_fd

    def pump(self) -> None:
        """Read the server's reports (without blocking) and pass them to the parses."""
        with self._lock:
            if self.closed:
                return
            ended = False
            while True:
                try:
                    chunk = self._sock.recv(65536, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                except OSError:
                    chunk = b""
                if not chunk:
                    ended = True
                    break
                self._buffer += chunk
            while len(self._buffer) >= HEADER.size:
                (size,) = HEADER.unpack_from(self._buffer)
                if len(self._buffer) < HEADER.size + size:
                    break
                message = pickle.loads(self._buffer[HEADER.size : HEADER.size + size])
                del self._buffer[: HEADER.size + size]
                self._dispatch(message)
            if ended:  # after the reports it sent before it went
                self._gone()

    def _dispatch(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "started":
            _, request_id, pid = message
            parse = self._by_request.pop(request_id, None)
            if parse is not None:
                self._by_pid[pid] = parse
                parse._started(pid)
        elif kind == "exited":
            _, pid, exitcode = message
            parse = self._by_pid.pop(pid, None)
            if parse is not None:
                parse._exited(exitcode)
        elif kind == "failed":
            _, request_id, reason = message
            parse = self._by_request.pop(request_id, None)
            if parse is not None:
                parse._failed(reason)

    def _gone(self) -> None:
        if self.closed:
            return
        self.closed = True
        for parse in [*self._by_request.values(), *self._by_pid.values()]:
            parse._failed("the DAG file fork server stopped")
        self._by_request.clear()
        self._by_pid.clear()
        with contextlib.suppress(OSError):
            self._sock.close()

    def close(self) -> None:
        """Stop the server (it kills the children still running) and wait for it."""
        with self._lock:
            self._gone()
        try:
            self._process.wait(_EXIT_GRACE)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


_server: ForkServer | None = None
_server_lock = threading.Lock()


def fork_server() -> ForkServer:
    """The process's fork server, started on first use (and again if it died)."""
    global _server
    with _server_lock:
        if _server is not None and (_server.closed or not _server.running()):
            _server.close()  # reap it
            _server = None
        if _server is None:
            _server = ForkServer()
        return _server


@atexit.register
def _stop_server() -> None:
    global _server
    with _server_lock:
        server, _server = _server, None
    if server is not None:
        server.close()


def _forget_server_in_child() -> None:
    # A forked copy of this process must not talk to (or keep alive) the parent's server.
    global _server, _server_lock
    _server_lock = threading.Lock()
    if _server is not None:
        with contextlib.suppress(OSError):
            _server._sock.close()
        _server._process.returncode = 0  # not our child: never wait for it
    _server = None


os.register_at_fork(after_in_child=_forget_server_in_child)


class FileParse:
    """A DAG file being parsed in a child process.

    Call :meth:`poll` until it returns the :class:`ParseOutcome`; it never blocks.
    :meth:`waitables` are the file descriptors to wait on (``select`` or
    :func:`multiprocessing.connection.wait`) until something happens.
    """

    def __init__(
        self,
        fileloc: str,
        *,
        timeout: float,
        import_folders: list[str],
        environ: dict[str, str] | None = None,
        server: ForkServer | None = None,
    ) -> None:
        self.fileloc = fileloc
        self.timeout = timeout
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self._pid: int | None = None
        self._exitcode: int | None = None
        self._failure: str | None = None
        self._data = bytearray()
        self._eof = False
        self._outcome: ParseOutcome | None = None
        env = dict(os.environ if environ is None else environ)
        self._server = server if server is not None else fork_server()
        try:
            self._fd: int | None = self._server.submit(self, import_folders, env)
        except OSError:
            if server is not None:
                raise
            self._server = fork_server()  # it died since it was last used: start another
            self._fd = self._server.submit(self, import_folders, env)

    @property
    def pid(self) -> int | None:
        """The child's process id (also its process group's), once it started."""
        return self._pid

    def waitables(self) -> list[int]:
        if self._outcome is not None:
            return []
        fds = [] if self._fd is None else [self._fd]
        return [*fds, self._server.fileno()] if not self._server.closed else fds

    def poll(self) -> ParseOutcome | None:
        """The outcome once the child answered, died or ran out of time; else ``None``."""
        if self._outcome is not None:
            return self._outcome
        self._server.pump()
        self._read()
        if self._eof and self._data:
            try:
                answer = pickle.loads(self._data)
            except Exception:  # cut short: the child died while writing
                answer = None
            if answer is not None:
                return self._finish(_outcome_of(self.fileloc, answer, self._elapsed()))
        if self._failure is not None and self._pid is None:
            return self._finish(
                ParseOutcome(self.fileloc, problem=self._failure, duration=self._elapsed())
            )
        if self._eof and (self._exitcode is not None or self._failure is not None):
            error = _died(self.fileloc, self._exitcode)
            return self._finish(
                ParseOutcome(self.fileloc, import_error=error, duration=self._elapsed())
            )
        if not self._data and time.monotonic() >= self.deadline:
            error = _error(
                self.fileloc,
                "TimeoutError",
                f"timed out after {self.timeout:g} s while parsing (dag_file_processor_timeout)",
            )
            return self._finish(
                ParseOutcome(self.fileloc, import_error=error, duration=self._elapsed())
            )
        return None

    def kill(self) -> None:
        """Stop the parse: kill the child and every process it started."""
        if self._outcome is None:
            stopped = ParseOutcome(
                self.fileloc, problem="parsing was stopped", duration=self._elapsed()
            )
            self._finish(stopped)

    # -- reports from the fork server --------------------------------------------------

    def _started(self, pid: int) -> None:
        self._pid = pid
        if self._outcome is not None:  # stopped before the server said it started
            self._kill_group()

    def _exited(self, exitcode: int) -> None:
        self._exitcode = exitcode

    def _failed(self, reason: str) -> None:
        self._failure = reason

    # -- inside ------------------------------------------------------------------------

    def _elapsed(self) -> float:
        return time.monotonic() - self.started

    def _read(self) -> None:
        while self._fd is not None and not self._eof:
            try:
                chunk = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                self._eof = True
                return
            self._data += chunk

    def _finish(self, outcome: ParseOutcome) -> ParseOutcome:
        # Processes the file started at import must not outlive the parse; a child that
        # ran out of time goes with them.
        self._kill_group()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._outcome = outcome
        return outcome

    def _kill_group(self) -> None:
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._pid, signal.SIGKILL)


def _outcome_of(fileloc: str, answer: Any, duration: float) -> ParseOutcome:
    kind, payload, output = answer
    if kind == "ok":
        dags = [ParsedDag(data, source) for data, source in payload]
        return ParseOutcome(fileloc, dags=dags, duration=duration, output=output)
    return ParseOutcome(fileloc, import_error=payload, duration=duration, output=output)


def _error(fileloc: str, kind: str, message: str) -> str:
    """An import error in the shape of a traceback's end, so it reads like the others."""
    return f'  File "{fileloc}"\n{kind}: {message}\n'


def _died(fileloc: str, exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            how = f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"was killed by signal {-exitcode}"
    elif exitcode is not None:
        how = f"exited with status {exitcode}"
    else:
        how = "ended"
    return _error(
        fileloc,
        "RuntimeError",
        f"the process parsing this file {how} before reporting its DAGs (does the file "
        "call os._exit(), crash the interpreter, or run out of memory?)",
    )
