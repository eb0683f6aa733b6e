"""Bases shared by the models: strict request bodies, and Airflow's ``TimeDelta``."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RequestBody", "ResponseModel", "TimeDelta"]


class RequestBody(BaseModel):
    """A request body: unknown fields are refused (422), as in Airflow."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    """A response body."""

    model_config = ConfigDict(populate_by_name=True)


class TimeDelta(ResponseModel):
    """A duration as Airflow's API writes it: ``{"__type": "TimeDelta", "days", "seconds",
    "microseconds"}``."""

    type: Literal["TimeDelta"] = Field("TimeDelta", serialization_alias="__type")
    days: int
    seconds: int
    microseconds: int

    @classmethod
    def of(cls, value: timedelta | None) -> TimeDelta | None:
        """``value`` as a :class:`TimeDelta` (``None`` stays ``None``)."""
        if value is None:
            return None
        return cls(days=value.days, seconds=value.seconds, microseconds=value.microseconds)
