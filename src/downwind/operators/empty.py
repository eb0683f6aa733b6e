"""``EmptyOperator``: a task that does nothing (for grouping and joining dependencies)."""

from __future__ import annotations

from typing import Any

from downwind.sdk.baseoperator import BaseOperator


class EmptyOperator(BaseOperator):
    """Does nothing; succeeds at once."""

    ui_color = "#e8f7e4"

    def execute(self, context: dict[str, Any]) -> None:
        return None


DummyOperator = EmptyOperator
