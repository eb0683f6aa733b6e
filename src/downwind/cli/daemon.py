"""What long-running commands share: one log line per event, and a clean stop on
SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

LOG_FORMAT = "[%(asctime)s] %(levelname)s %(message)s"


def setup_logging() -> None:
    """Log downwind's events to stderr, one line each, unless logging is set up already."""
    logger = logging.getLogger("downwind")
    if logger.handlers or logging.getLogger().handlers:
        logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%Y-%m-%d %H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


@contextmanager
def stop_on_signals(stop: threading.Event, name: str) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` while inside (main thread only); a second one
    while stopping raises :class:`KeyboardInterrupt` to stop at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        del frame
        if stop.is_set():
            raise KeyboardInterrupt
        logging.getLogger(f"downwind.{name}").info(
            "received %s: stopping (send it again to stop at once)", signal.Signals(signum).name
        )
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
