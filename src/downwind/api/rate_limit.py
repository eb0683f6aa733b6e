"""Failed sign-ins counted per (client address, username), to slow down password guessing.

After ``max_failures`` failures within ``window`` seconds, further attempts for that pair
are refused (429) until the oldest failure leaves the window; a successful sign-in clears
the count. The counts live in memory, per server process: with several workers (or
servers) an attacker gets ``max_failures`` tries per process and window, and a restart
forgets them.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque

__all__ = ["LoginRateLimiter"]

Key = tuple[str, str]


class LoginRateLimiter:
    """A sliding-window count of failed sign-ins; times are seconds (e.g. a timestamp)."""

    def __init__(self, max_failures: int, window: float, *, max_keys: int = 10_000) -> None:
        if max_failures < 1 or window <= 0:
            raise ValueError("max_failures must be >= 1 and window > 0")
        self.max_failures = max_failures
        self.window = window
        self._max_keys = max_keys
        self._failures: OrderedDict[Key, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, key: Key, now: float) -> int | None:
        """Seconds to wait before ``key`` may try again, or ``None`` if it may now."""
        with self._lock:
            times = self._recent(key, now)
            if times is None or len(times) < self.max_failures:
                return None
            return max(1, math.ceil(times[0] + self.window - now))

    def record_failure(self, key: Key, now: float) -> None:
        """Count one failed sign-in of ``key`` at ``now``."""
        with self._lock:
            times = self._recent(key, now)
            if times is None:
                times = self._failures[key] = deque()
                while len(self._failures) > self._max_keys:  # forget the stalest
                    self._failures.popitem(last=False)
            times.append(now)
            self._failures.move_to_end(key)
            while len(times) > self.max_failures:
                times.popleft()

    def reset(self, key: Key) -> None:
        """Forget the failures of ``key`` (after it signed in)."""
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: Key, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times
