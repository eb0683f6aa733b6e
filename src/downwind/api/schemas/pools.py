"""Pools: ``PoolBody``, ``PoolPatchBody``, ``PoolResponse`` and its collection.

downwind has no deferred tasks: ``deferred_slots`` is always 0 and ``include_deferred``
false (a body asking for true is refused). Airflow's unlimited pools (``slots: -1``)
are refused too.
"""

from __future__ import annotations

from pydantic import Field, StrictBool, field_validator

from downwind.api.schemas.common import RequestBody, ResponseModel
from downwind.services.pools import PoolInfo

__all__ = ["PoolBody", "PoolCollectionResponse", "PoolPatchBody", "PoolResponse", "pool_response"]

_SLOTS = "Number of slots (Airflow's -1, unlimited, is not supported)."
NO_DEFERRED = (
    "include_deferred cannot be true: downwind has no deferred tasks, so a pool never counts any"
)


def _no_deferred(value: bool | None) -> bool | None:
    if value:
        raise ValueError(NO_DEFERRED)
    return value


class PoolBody(RequestBody):
    """A pool to create (or, in a bulk request, to update)."""

    name: str = Field(max_length=256)
    slots: int = Field(ge=-1, description=_SLOTS)
    description: str | None = None
    include_deferred: StrictBool = False

    _check_deferred = field_validator("include_deferred")(_no_deferred)


class PoolPatchBody(RequestBody):
    """What ``PATCH /pools/{pool_name}`` may change; ``pool`` (the name) cannot change."""

    pool: str | None = None
    slots: int | None = Field(default=None, ge=-1, description=_SLOTS)
    description: str | None = None
    include_deferred: StrictBool | None = None

    _check_deferred = field_validator("include_deferred")(_no_deferred)


class PoolResponse(ResponseModel):
    name: str
    slots: int
    description: str | None
    include_deferred: bool
    occupied_slots: int
    running_slots: int
    queued_slots: int
    scheduled_slots: int
    open_slots: int
    deferred_slots: int
    team_name: str | None = None


class PoolCollectionResponse(ResponseModel):
    pools: list[PoolResponse]
    total_entries: int


def pool_response(info: PoolInfo) -> PoolResponse:
    """The :class:`PoolResponse` of a pool and its slots in use."""
    return PoolResponse(
        name=info.name,
        slots=info.slots,
        description=info.description,
        include_deferred=False,
        occupied_slots=info.running_slots + info.queued_slots,
        running_slots=info.running_slots,
        queued_slots=info.queued_slots,
        scheduled_slots=info.scheduled_slots,
        open_slots=info.open_slots,
        deferred_slots=0,
    )
