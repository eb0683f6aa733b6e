"""The runtime client of the task running in this thread, for ``Variable.get`` and friends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from downwind.runtime.client import RuntimeClient

_current: ContextVar[RuntimeClient | None] = ContextVar("downwind_runtime_client", default=None)


def current_client() -> RuntimeClient | None:
    """The client of the task try running in this context, if any."""
    return _current.get()


@contextmanager
def using_client(client: RuntimeClient) -> Iterator[None]:
    """Make ``client`` the current one while the block runs."""
    token = _current.set(client)
    try:
        yield
    finally:
        _current.reset(token)
