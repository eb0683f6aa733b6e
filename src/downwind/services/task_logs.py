"""Task logs: find the log file of a task instance's try, and read it piece by piece.

Each try of a task instance writes one file (see :mod:`downwind.runner.log_paths`).
:func:`locate_task_log` says which file belongs to a try and what the metastore knows
about that try (its state, the host it ran on), so that a missing file can be explained.
:func:`read_log` reads a file from a byte offset and returns where the next read starts:
the CLI's ``--follow`` and the API's continuation tokens are both built on it
(:func:`read_log_lines` reads whole lines, :func:`parse_log_line` splits one into its
parts).
"""

from __future__ import annotations

import codecs
import os
import re
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from downwind.exceptions import DownwindException
from downwind.runner.log_paths import task_log_path
from downwind.runtime.client import TaskInstanceKey
from downwind.services.task_instances import get_task_instance, list_task_instance_tries
from downwind.states import TaskInstanceState

__all__ = [
    "DEFAULT_MAX_BYTES",
    "LogChunk",
    "TaskLog",
    "TaskLogNotFound",
    "TaskTryNotFound",
    "locate_task_log",
    "parse_log_line",
    "read_log",
    "read_log_lines",
    "require_log_file",
]

DEFAULT_MAX_BYTES = 64 * 1024
"""How much :func:`read_log` reads at most by default."""

# A UTF-8 character is at most 4 bytes: a read of fewer could return nothing forever.
_MIN_READ = 4

_IN_PROGRESS = frozenset({TaskInstanceState.QUEUED.value, TaskInstanceState.RUNNING.value})


class TaskTryNotFound(DownwindException, LookupError):
    """The task instance has no such try (or has not been tried at all)."""


class TaskLogNotFound(DownwindException, LookupError):
    """The try exists but its log file is not here (not started yet, or written on
    another machine, or deleted)."""


@dataclass(frozen=True, slots=True)
class TaskLog:
    """One try of a task instance and the file its log is written to."""

    key: TaskInstanceKey
    try_number: int
    #: every try of the task instance, first to last
    tries: tuple[int, ...]
    path: Path
    #: the state of this try: the task instance's state for its current try, the state
    #: the try ended in for an earlier one
    state: str | None
    #: the host this try ran on (``None`` before it started)
    hostname: str | None
    start_date: datetime | None
    #: whether this is the task instance's current try (the one the scheduler works on)
    current: bool

    @property
    def in_progress(self) -> bool:
        """The try is queued or running: its log may still grow."""
        return self.current and self.state in _IN_PROGRESS

    def describe(self) -> str:
        """``try 2 of task 'load' of run 'R' of DAG 'etl'``, for messages."""
        key = self.key
        return (
            f"try {self.try_number} of {_which(key.dag_id, key.run_id, key.task_id, key.map_index)}"
        )

    def missing_reason(self) -> str:
        """Why :attr:`path` does not exist, as far as the metastore can tell."""
        if self.in_progress and self.start_date is None:
            return f"it is {self.state} and has not started writing its log yet"
        if self.hostname and self.hostname != socket.gethostname():
            return (
                f"it ran on host '{self.hostname}', so its log is on that machine "
                f"({self.path} does not exist here)"
            )
        if self.start_date is None:
            return f"it never started ({self.path} does not exist)"
        return (
            f"{self.path} does not exist (deleted, or [logging] base_log_folder was "
            "different when it ran)"
        )


def _which(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    task = f"task '{task_id}'" + ("" if map_index == -1 else f" with map index {map_index}")
    return f"{task} of run '{run_id}' of DAG '{dag_id}'"


def _tries_text(tries: tuple[int, ...]) -> str:
    if len(tries) == 1:
        return f"its only try is {tries[0]}"
    return f"its tries are {', '.join(map(str, tries[:-1]))} and {tries[-1]}"


def locate_task_log(
    session: Session,
    dag_id: str,
    run_id: str,
    task_id: str,
    *,
    map_index: int = -1,
    try_number: int | None = None,
    base_log_folder: str | os.PathLike[str],
) -> TaskLog:
    """The log of try ``try_number`` of a task instance (default: its latest try).

    Raises the task-instance lookup errors of
    :func:`~downwind.services.task_instances.get_task_instance`, and
    :class:`TaskTryNotFound` when the task instance was never tried or has no such try
    (the message lists the tries it has). The file itself may not exist: see
    :meth:`TaskLog.missing_reason` and :func:`require_log_file`.
    """
    ti = get_task_instance(session, dag_id, run_id, task_id, map_index)
    rows = list_task_instance_tries(session, dag_id, run_id, task_id, map_index)
    tries = tuple(row.try_number for row in rows)
    which = _which(dag_id, run_id, task_id, map_index)
    if not tries:
        raise TaskTryNotFound(f"{which} has not run yet, so it has no log")
    if try_number is None:
        try_number = tries[-1]
    if try_number not in tries:
        raise TaskTryNotFound(f"{which} has no try {try_number}: {_tries_text(tries)}")
    row = rows[tries.index(try_number)]
    return TaskLog(
        key=TaskInstanceKey(dag_id, run_id, task_id, map_index),
        try_number=try_number,
        tries=tries,
        path=task_log_path(base_log_folder, ti.key, try_number),
        state=row.state,
        hostname=row.hostname,
        start_date=row.start_date,
        current=row is ti,
    )


def require_log_file(log: TaskLog) -> Path:
    """The path of ``log``'s file; raises :class:`TaskLogNotFound`, saying why, when
    there is no such file here."""
    if not log.path.is_file():
        raise TaskLogNotFound(f"no log for {log.describe()}: {log.missing_reason()}")
    return log.path


@dataclass(frozen=True, slots=True)
class LogChunk:
    """What :func:`read_log` read."""

    text: str
    #: the byte offset to read from next time
    next_offset: int
    #: the read reached the end of the file as it is now (a running try may add more)
    eof: bool


def read_log(
    path: str | os.PathLike[str],
    offset: int = 0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    *,
    final: bool = False,
) -> LogChunk:
    """Read at most ``max_bytes`` bytes of the log at ``path`` from byte ``offset``.

    The bytes are decoded as UTF-8 (invalid bytes become U+FFFD). A character cut by the
    end of the read -- by ``max_bytes``, or because the writer is in the middle of it --
    is left for the next read: ``next_offset`` points at its first byte. With ``final``
    (the file will not grow any more), a cut character at the very end of the file is
    decoded as U+FFFD instead, so that the reader can finish. An ``offset`` at or past the
    end returns no text, ``eof`` and ``offset`` unchanged.

    Raises :class:`FileNotFoundError` (an :class:`OSError`) when the file is missing and
    :class:`ValueError` on a negative offset or a ``max_bytes`` below 1.
    """
    if offset < 0:
        raise ValueError(f"offset must be 0 or more, got {offset}")
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be 1 or more, got {max_bytes}")
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if offset >= size:
            return LogChunk("", offset, True)
        file.seek(offset)
        data = file.read(max(max_bytes, _MIN_READ))
    end = offset + len(data)
    eof = end >= size
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = decoder.decode(data, final=final and eof)
    pending, _ = decoder.getstate()
    return LogChunk(text, end - len(pending), eof)


def read_log_lines(
    path: str | os.PathLike[str],
    offset: int = 0,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    *,
    final: bool = False,
) -> LogChunk:
    """Like :func:`read_log` (``max_bytes=None``: to the end of the file), but stops
    after the last complete line: a line the writer has not ended yet is left for the
    next read -- unless ``final`` and at the end of the file, or the line alone is longer
    than ``max_bytes`` (then it comes in pieces). ``eof`` says whether the next read
    starts at the end of the file as it is now.
    """
    if offset < 0:
        raise ValueError(f"offset must be 0 or more, got {offset}")
    if max_bytes is not None and max_bytes < 1:
        raise ValueError(f"max_bytes must be 1 or more, got {max_bytes}")
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if offset >= size:
            return LogChunk("", offset, True)
        file.seek(offset)
        data = file.read(size - offset if max_bytes is None else max(max_bytes, _MIN_READ))
    last = offset + len(data) >= size
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    if last and final:
        text = decoder.decode(data, final=True)
        return LogChunk(text, offset + len(data), True)
    cut = data.rfind(b"\n")
    if cut >= 0:
        data = data[: cut + 1]
    elif last:
        data = b""  # the writer is in the middle of its last line
    text = decoder.decode(data)
    pending, _ = decoder.getstate()
    end = offset + len(data) - len(pending)
    return LogChunk(text, end, end >= size)


# ``[2026-01-01T12:00:00.123Z] {downwind.task} INFO - message`` (runner/log_paths.py)
_LINE = re.compile(r"\[(?P<timestamp>[^\]]+)\] \{(?P<logger>[^}]*)\} (?P<level>[A-Z]+) - ")


def parse_log_line(line: str) -> dict[str, Any]:
    """One line of a task log as a structured message: ``{"timestamp", "event",
    "level", "logger"}`` for a line in downwind's log format, ``{"event": line}`` for
    any other (a traceback, what a task printed)."""
    match = _LINE.match(line)
    if match is None:
        return {"event": line}
    try:
        timestamp = datetime.fromisoformat(match["timestamp"])
    except ValueError:
        return {"event": line}
    return {
        "timestamp": timestamp,
        "event": line[match.end() :],
        "level": match["level"].lower(),
        "logger": match["logger"],
    }
