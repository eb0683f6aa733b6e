"""``downwind tasks logs``: print the log of a task instance's try, or follow it."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from downwind.cli.metastore_session import metastore_session
from downwind.config import get_config
from downwind.exceptions import DownwindException
from downwind.services.task_logs import (
    TaskLog,
    TaskLogNotFound,
    locate_task_log,
    read_log,
    require_log_file,
)

POLL_INTERVAL = 0.5
"""Seconds between two looks at a followed log and its task instance's state."""

SETTLE_TIME = 0.25
"""Seconds to wait, once a followed try has ended, for its last lines: they may be
written just after its state changes (by the task process, or by its supervisor)."""


def _whole_number(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise DownwindException(f"invalid {what} {text!r}: expected a whole number") from None


def _locate(args: argparse.Namespace, map_index: int, try_number: int | None) -> TaskLog:
    with metastore_session() as session:
        return locate_task_log(
            session,
            args.dag_id,
            args.run_id,
            args.task_id,
            map_index=map_index,
            try_number=try_number,
            base_log_folder=get_config().logging.base_log_folder,
        )


def _copy(path: Path, offset: int, *, final: bool) -> int:
    """Print the file from ``offset`` to its current end; return where to go on from."""
    while True:
        chunk = read_log(path, offset, final=final)
        sys.stdout.write(chunk.text)
        offset = chunk.next_offset
        if chunk.eof:
            break
    sys.stdout.flush()
    return offset


def task_logs(args: argparse.Namespace) -> int:
    """Print the log of one try (default: the latest) as it is; with ``--follow``, keep
    printing what the try writes until it is no longer queued or running."""
    map_index = _whole_number(args.map_index, "map index")
    map_index = -1 if map_index is None else map_index
    log = _locate(args, map_index, _whole_number(args.try_number, "try number"))
    if args.follow:
        return _follow(args, log, map_index)
    if log.in_progress and not log.path.is_file():
        raise TaskLogNotFound(
            f"no log for {log.describe()}: {log.missing_reason()} (--follow waits for it)"
        )
    _copy(require_log_file(log), 0, final=True)
    return 0


def _follow(args: argparse.Namespace, log: TaskLog, map_index: int) -> int:
    """Print the log while its try is queued or running, looking for new lines and for a
    change of state every :data:`POLL_INTERVAL`; then print the rest and say how it ended."""
    offset = 0
    followed = False
    while log.in_progress:
        followed = True
        if log.path.is_file():
            # (removed between the look and the read: try again at the next look)
            with contextlib.suppress(FileNotFoundError):
                offset = _copy(log.path, offset, final=False)
        time.sleep(POLL_INTERVAL)
        log = _locate(args, map_index, log.try_number)
    if not followed:  # it had ended already: print it as without --follow
        _copy(require_log_file(log), 0, final=True)
        return 0
    time.sleep(SETTLE_TIME)
    _copy(require_log_file(log), offset, final=True)
    described = log.describe()
    print(f"{described[:1].upper()}{described[1:]} ended: {log.state or 'none'}", file=sys.stderr)
    return 0
