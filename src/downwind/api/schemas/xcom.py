"""XComs: ``XComResponse`` (in lists), with its value (``XComResponseNative``) or its
value as text (``XComResponseString``); the create and update bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from downwind.api.schemas.common import RequestBody, ResponseModel
from downwind.metastore.models.xcom import KEY_LEN
from downwind.runtime import serde
from downwind.services.xcoms import XComView

__all__ = [
    "XComCollectionResponse",
    "XComCreateBody",
    "XComResponse",
    "XComResponseNative",
    "XComResponseString",
    "XComUpdateBody",
    "native_response",
    "string_response",
    "xcom_response",
    "xcom_value",
]


class XComResponse(ResponseModel):
    """An XCom without its value."""

    key: str
    timestamp: datetime
    logical_date: datetime | None = None
    map_index: int
    task_id: str
    dag_id: str
    run_id: str
    dag_display_name: str
    task_display_name: str
    run_after: datetime


class XComResponseNative(XComResponse):
    """An XCom with its value as JSON."""

    value: Any


class XComResponseString(XComResponse):
    """An XCom with its value as text."""

    value: str | None = None


class XComCollectionResponse(ResponseModel):
    xcom_entries: list[XComResponse]
    total_entries: int


class XComCreateBody(RequestBody):
    """What ``POST .../xcomEntries`` takes: the value may be any JSON (``null`` too)."""

    key: str = Field(min_length=1, max_length=KEY_LEN)
    value: Any
    map_index: int = -1


class XComUpdateBody(RequestBody):
    """What ``PATCH .../xcomEntries/{xcom_key}`` takes."""

    value: Any
    map_index: int = -1


def _fields(view: XComView) -> dict[str, Any]:
    xcom = view.xcom
    return {
        "key": xcom.key,
        "timestamp": xcom.timestamp,
        "logical_date": view.logical_date,
        "map_index": xcom.map_index,
        "task_id": xcom.task_id,
        "dag_id": xcom.dag_id,
        "run_id": xcom.run_id,
        "dag_display_name": xcom.dag_id,
        "task_display_name": xcom.task_id,
        "run_after": view.run_after,
    }


def xcom_response(view: XComView) -> XComResponse:
    """The :class:`XComResponse` (no value) of an XCom."""
    return XComResponse(**_fields(view))


def xcom_value(view: XComView, *, deserialize: bool) -> Any:
    """The value of an XCom: as stored (JSON, downwind's extra types in their tagged
    form, which reads back the same), or with ``deserialize`` as the task pushed it (a
    datetime, a tuple...), which JSON then writes in its own way (ISO 8601 text, a list)."""
    if view.xcom.value is None:
        return None
    value = serde.loads(view.xcom.value)
    return value if deserialize else serde.encode(value)


def native_response(view: XComView, *, deserialize: bool = False) -> XComResponseNative:
    """The :class:`XComResponseNative` of an XCom."""
    return XComResponseNative(**_fields(view), value=xcom_value(view, deserialize=deserialize))


def string_response(view: XComView, *, deserialize: bool = False) -> XComResponseString:
    """The :class:`XComResponseString` of an XCom: its value as Airflow writes it,
    ``str()`` of the value."""
    value = xcom_value(view, deserialize=deserialize)
    return XComResponseString(**_fields(view), value=None if value is None else str(value))
