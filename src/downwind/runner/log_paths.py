"""Task log files: where each try's log lives and how its lines look.

One file per task try::

    <base_log_folder>/dag_id=<d>/run_id=<r>/task_id=<t>/[map_index=<i>/]attempt=<n>.log

The ``map_index=<i>`` folder appears only for mapped task instances (``map_index >= 0``).
Writers (the task process, and its supervisor when the process dies without a word) use
:data:`LOG_FORMAT`, so every line of a task log reads the same.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from urllib.parse import quote

from downwind.runtime.client import TaskInstanceKey

__all__ = ["LOG_FORMAT", "TaskLogFormatter", "append_log_line", "task_log_path"]

LOG_FORMAT = "[%(asctime)s] {%(name)s} %(levelname)s - %(message)s"
"""The format of task log lines: ``[2026-01-01T12:00:00.123Z] {downwind.task} INFO - ...``."""

# A path component may hold any character but "/" and NUL; "." and ".." must not climb.
_UNSAFE = frozenset("/\x00%")


def task_log_path(
    base_log_folder: str | os.PathLike[str], key: TaskInstanceKey, try_number: int
) -> Path:
    """The log file of try ``try_number`` of the task instance ``key``.

    Pure: it creates nothing (the task process creates the folders when it opens the
    file). A ``/`` in a run id (possible with ``--run-id``) is written ``%2F`` so that
    each id stays one folder.
    """
    if try_number < 1:
        raise ValueError(f"try_number starts at 1, got {try_number}")
    path = Path(base_log_folder) / f"dag_id={_component(key.dag_id)}"
    path = path / f"run_id={_component(key.run_id)}" / f"task_id={_component(key.task_id)}"
    if key.map_index >= 0:
        path = path / f"map_index={key.map_index}"
    return path / f"attempt={try_number}.log"


def _component(text: str) -> str:
    if text in (".", ".."):
        return text.replace(".", "%2E")
    if any(ch in _UNSAFE for ch in text):
        # Percent-encoded (and "%" itself), so that two different ids never share a folder.
        return quote(text, safe="")
    return text


class TaskLogFormatter(logging.Formatter):
    """:data:`LOG_FORMAT` with UTC ISO-8601 timestamps (logs are read across time zones)."""

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _timestamp(record.created)


def _timestamp(created: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{whole}.{int(created % 1 * 1000):03d}Z"


def append_log_line(
    path: str | os.PathLike[str],
    message: str,
    *,
    level: str = "ERROR",
    name: str = "downwind.executor",
) -> None:
    """Append one line in :data:`LOG_FORMAT` to the task log at ``path``.

    For what the supervisor has to say about a try (it was killed, its process died);
    never raises: a log that cannot be written must not break the supervisor.
    """
    line = f"[{_timestamp(time.time())}] {{{name}}} {level} - {message}\n"
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8", "backslashreplace"))
        finally:
            os.close(fd)
    except OSError:
        logging.getLogger("downwind.executor").warning("cannot write to task log %s", path)
