"""The one serializer for XCom values and run conf: JSON plus a few documented extra types.

Every place that stores or ships such a value (``dags test`` included) goes through
:func:`dumps` / :func:`loads`, so a value that works in a test run works everywhere.

Supported: ``None``, ``bool``, ``int``, ``float`` (finite), ``str``, ``list``, ``dict`` with
``str`` keys, and the extra types ``datetime`` (naive or aware; a ``zoneinfo`` zone is kept by
name), ``date``, ``timedelta``, ``tuple``, ``set`` and ``frozenset``. Subclasses of these (an
``IntEnum``, a ``namedtuple``, an ``OrderedDict``) are stored as their base type. Extra types
are written as tagged objects such as ``{"__dw__": "datetime", "v": "2026-01-01T00:00:00"}``;
a user dict that has the tag key itself is escaped as ``{"__dw__": "dict", "v": {...}}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from downwind.exceptions import SerializationError

__all__ = ["TAG", "decode", "dumps", "encode", "loads"]

TAG = "__dw__"
"""The key that marks a tagged object (an extra type, or an escaped dict)."""

_SUPPORTED = "supported types are JSON types plus datetime, date, timedelta, tuple, set"
_MAX_REPR = 60


def dumps(value: Any) -> str:
    """Serialize ``value`` to compact, ASCII-only JSON text.

    Raises :class:`~downwind.exceptions.SerializationError` naming the offending type and
    where it sits inside ``value`` (e.g. ``["rows"][2]``).
    """
    obj = encode(value)
    try:
        return json.dumps(obj, separators=(",", ":"), allow_nan=False)
    except RecursionError:
        raise SerializationError("cannot serialize value: it is nested too deeply") from None


def loads(text: str | bytes) -> Any:
    """Deserialize text written by :func:`dumps` (plain JSON is accepted as well).

    Raises :class:`~downwind.exceptions.SerializationError` on malformed input.
    """
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise SerializationError(f"cannot deserialize: invalid JSON: {err}") from None
    except RecursionError:
        raise SerializationError("cannot deserialize: value is nested too deeply") from None
    return decode(obj)


def encode(value: Any) -> Any:
    """Turn ``value`` into plain JSON-able data (dicts, lists, str, numbers, bool, None).

    For storing in a JSON column or sending in a JSON body without encoding twice;
    :func:`decode` is the inverse.
    """
    try:
        return _encode(value, [], set())
    except RecursionError:
        raise SerializationError("cannot serialize value: it is nested too deeply") from None


def decode(obj: Any) -> Any:
    """Inverse of :func:`encode`: rebuild the extra types from their tagged objects."""
    try:
        return _decode(obj)
    except RecursionError:
        raise SerializationError("cannot deserialize: value is nested too deeply") from None


# Encoding -----------------------------------------------------------------------------------


def _where(path: list[str]) -> str:
    return "".join(path) if path else "the top level"


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def _encode(value: Any, path: list[str], active: set[int]) -> Any:
    # Exact types first: they are by far the most common and need no conversion.
    cls = type(value)
    if value is None or cls is bool or cls is int or cls is str:
        return value
    if cls is float:
        return _check_float(value, path)
    if isinstance(value, dict):
        return _encode_dict(value, path, active)
    if isinstance(value, list):
        return _encode_items(value, path, active)
    if isinstance(value, tuple):
        return {TAG: "tuple", "v": _encode_items(value, path, active)}
    if isinstance(value, (set, frozenset)):
        tag = "frozenset" if isinstance(value, frozenset) else "set"
        return {TAG: tag, "v": _encode_set(value, path, active)}
    if isinstance(value, datetime):
        return _encode_datetime(value)
    if isinstance(value, date):
        return {TAG: "date", "v": date.isoformat(value)}
    if isinstance(value, timedelta):
        return _encode_timedelta(value)
    # Subclasses of the JSON scalars (IntEnum, StrEnum, numpy.float64) become the base type.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return _check_float(float.__float__(value), path)
    if isinstance(value, str):
        return str.__str__(value)
    raise SerializationError(
        f"cannot serialize value of type {cls.__qualname__!r} at {_where(path)}: {_SUPPORTED}"
    )


def _check_float(value: float, path: list[str]) -> float:
    if math.isfinite(value):
        return value
    raise SerializationError(
        f"cannot serialize float {value!r} at {_where(path)}: NaN and infinity are not valid JSON"
    )


def _enter(value: Any, path: list[str], active: set[int]) -> int:
    key = id(value)
    if key in active:
        raise SerializationError(f"cannot serialize value: circular reference at {_where(path)}")
    active.add(key)
    return key


def _encode_dict(value: dict[Any, Any], path: list[str], active: set[int]) -> dict[str, Any]:
    key_id = _enter(value, path, active)
    out: dict[str, Any] = {}
    for key, item in value.items():
        if type(key) is not str:
            if not isinstance(key, str):
                raise SerializationError(
                    f"cannot serialize dict key {_short_repr(key)} of type "
                    f"{type(key).__qualname__!r} at {_where(path)}: dict keys must be str"
                )
            key = str.__str__(key)
        path.append(f"[{json.dumps(key)}]")
        out[key] = _encode(item, path, active)
        path.pop()
    active.discard(key_id)
    if TAG in out:
        return {TAG: "dict", "v": out}
    return out


def _encode_items(value: Iterable[Any], path: list[str], active: set[int]) -> list[Any]:
    key_id = _enter(value, path, active)
    out = []
    for index, item in enumerate(value):
        path.append(f"[{index}]")
        out.append(_encode(item, path, active))
        path.pop()
    active.discard(key_id)
    return out


def _encode_set(value: set[Any] | frozenset[Any], path: list[str], active: set[int]) -> list[Any]:
    key_id = _enter(value, path, active)
    path.append("{item}")
    pairs = [(item, _encode(item, path, active)) for item in value]
    path.pop()
    active.discard(key_id)
    # A stable order makes equal sets serialize to equal text: natural order where it is a
    # total order (all strings, or all numbers), else the order of the encoded JSON text.
    if all(type(item) is str for item, _ in pairs) or all(
        isinstance(item, (int, float)) for item, _ in pairs
    ):
        pairs.sort(key=lambda pair: pair[0])
    else:
        pairs.sort(key=lambda pair: json.dumps(pair[1], sort_keys=True))
    return [encoded for _, encoded in pairs]


def _encode_datetime(value: datetime) -> dict[str, Any]:
    out: dict[str, Any] = {TAG: "datetime", "v": datetime.isoformat(value)}
    zone_name = getattr(value.tzinfo, "key", None)  # zoneinfo.ZoneInfo keeps its IANA name here
    if isinstance(zone_name, str):
        out["tz"] = zone_name
    return out


def _encode_timedelta(value: timedelta) -> dict[str, Any]:
    seconds = value.total_seconds()
    out: dict[str, Any] = {TAG: "timedelta", "v": seconds}
    # A float holds whole microseconds exactly for about +-285 years; beyond that (rare),
    # also store the exact count so that the value still round-trips.
    if not _same_timedelta(seconds, value):
        out["us"] = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    return out


def _same_timedelta(seconds: float, value: timedelta) -> bool:
    try:
        return timedelta(seconds=seconds) == value
    except OverflowError:
        return False


# Decoding -----------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise SerializationError(f"cannot deserialize: {name} is not valid JSON")


def _decode(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_decode(item) for item in obj]
    if not isinstance(obj, dict):
        return obj
    if TAG not in obj:
        return {key: _decode(item) for key, item in obj.items()}
    tag = obj[TAG]
    try:
        raw = obj["v"]
        if tag == "dict":
            return {key: _decode(item) for key, item in raw.items()}
        if tag == "tuple":
            return tuple(_decode(item) for item in raw)
        if tag == "set":
            return {_decode(item) for item in raw}
        if tag == "frozenset":
            return frozenset(_decode(item) for item in raw)
        if tag == "datetime":
            return _decode_datetime(raw, obj.get("tz"))
        if tag == "date":
            return date.fromisoformat(raw)
        if tag == "timedelta":
            if "us" in obj:
                return timedelta(microseconds=obj["us"])
            return timedelta(seconds=raw)
    except SerializationError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as err:
        raise SerializationError(f"cannot deserialize tagged value {tag!r}: {err}") from None
    raise SerializationError(f"cannot deserialize: unknown type tag {_short_repr(tag)}")


def _decode_datetime(raw: str, zone_name: Any) -> datetime:
    value = datetime.fromisoformat(raw)
    if value.tzinfo is None or not isinstance(zone_name, str):
        return value
    import zoneinfo  # only needed for zone-aware values

    try:
        zone = zoneinfo.ZoneInfo(zone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return value  # unknown here: keep the fixed offset, which still names the same instant
    # Keep the wall clock as written; the stored offset tells which fold it was (this also
    # keeps times that fall in a DST gap or overlap exactly as they were).
    offset = value.utcoffset()
    for fold in (0, 1):
        local = value.replace(tzinfo=zone, fold=fold)
        if local.utcoffset() == offset:
            return local
    return value.astimezone(zone)  # the zone's rules differ here: keep the instant
