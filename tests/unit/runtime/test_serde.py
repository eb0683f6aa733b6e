"""The XCom / run-conf serializer: round trips, tagged extra types, clear errors."""

from __future__ import annotations

import enum
import json
import math
from collections import OrderedDict, namedtuple
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from downwind.exceptions import SerializationError
from downwind.runtime import serde
from downwind.runtime.serde import decode, dumps, encode, loads


def roundtrip(value):
    return loads(dumps(value))


# JSON types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [None, True, False, 0, -7, 2**80, 1.5, -0.0, "", "héllo ☃", [], {}, [1, "a", None]],
)
def test_json_values_round_trip(value):
    assert roundtrip(value) == value
    assert type(roundtrip(value)) is type(value)


def test_json_values_are_written_as_plain_compact_json():
    value = {"a": [1, 2.5, None, True], "b": {"c": "d"}}
    assert dumps(value) == '{"a":[1,2.5,null,true],"b":{"c":"d"}}'
    assert json.loads(dumps(value)) == value


def test_output_is_ascii_even_for_lone_surrogates():
    text = dumps({"k": "snow ☃ \ud800"})
    assert text.isascii()
    assert loads(text) == {"k": "snow ☃ \ud800"}


def test_dict_order_is_kept():
    assert list(roundtrip({"b": 1, "a": 2})) == ["b", "a"]


def test_plain_json_from_elsewhere_loads():
    assert loads('{"x": [1, 2], "y": "z"}') == {"x": [1, 2], "y": "z"}
    assert loads(b"[1]") == [1]


# Extra types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 1, 12, 30, 5, 123456),
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 3, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        date(2026, 2, 28),
        timedelta(0),
        timedelta(days=2, seconds=3, microseconds=7),
        timedelta(microseconds=-1),
        timedelta.max,
        timedelta.min,
        (1, "a", None),
        (),
        {3, 1, 2},
        set(),
        frozenset({"x", "y"}),
    ],
)
def test_extra_types_round_trip(value):
    result = roundtrip(value)
    assert result == value
    assert type(result) is type(value)


def test_datetime_keeps_timezone_and_naivety():
    naive = datetime(2026, 1, 1, 8)
    assert roundtrip(naive).tzinfo is None
    aware = datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=2)))
    assert roundtrip(aware).utcoffset() == timedelta(hours=2)
    assert roundtrip(datetime(2026, 1, 1, tzinfo=UTC)).tzinfo is UTC


def test_zoneinfo_zone_is_kept_by_name():
    paris = ZoneInfo("Europe/Paris")
    value = datetime(2026, 7, 1, 9, 15, tzinfo=paris)
    assert encode(value) == {
        "__dw__": "datetime",
        "v": "2026-07-01T09:15:00+02:00",
        "tz": "Europe/Paris",
    }
    result = roundtrip(value)
    assert result.tzinfo == paris
    assert (result.year, result.hour, result.minute) == (2026, 9, 15)


def test_ambiguous_local_time_keeps_its_fold():
    paris = ZoneInfo("Europe/Paris")
    second = datetime(2025, 10, 26, 2, 30, fold=1, tzinfo=paris)  # the second 02:30 (CET)
    result = roundtrip(second)
    assert result.fold == 1
    assert result.utcoffset() == timedelta(hours=1)


def test_nonexistent_local_time_keeps_its_wall_clock_and_offset():
    paris = ZoneInfo("Europe/Paris")
    in_the_gap = datetime(2026, 3, 29, 2, 30, tzinfo=paris)  # clocks jump from 02:00 to 03:00
    result = roundtrip(in_the_gap)
    assert (result.hour, result.minute) == (2, 30)
    assert result.utcoffset() == in_the_gap.utcoffset()


def test_unknown_zone_name_falls_back_to_the_fixed_offset():
    text = '{"__dw__":"datetime","v":"2026-01-01T00:00:00+03:00","tz":"Nowhere/Atlantis"}'
    assert loads(text).utcoffset() == timedelta(hours=3)


def test_extra_types_are_tagged_objects():
    assert encode(date(2026, 1, 2)) == {"__dw__": "date", "v": "2026-01-02"}
    assert encode(timedelta(minutes=1, milliseconds=500)) == {"__dw__": "timedelta", "v": 60.5}
    assert encode((1, 2)) == {"__dw__": "tuple", "v": [1, 2]}
    assert encode(datetime(2026, 1, 2, 3)) == {"__dw__": "datetime", "v": "2026-01-02T03:00:00"}


def test_sets_serialize_in_a_stable_sorted_order():
    assert dumps({10, 2, 33, 1}) == '{"__dw__":"set","v":[1,2,10,33]}'
    assert dumps({"b", "c", "a"}) == '{"__dw__":"set","v":["a","b","c"]}'
    mixed = {1, "a", (2, 3), None}
    assert dumps(mixed) == dumps(set(reversed(list(mixed))))
    assert roundtrip(mixed) == mixed


def test_nested_extra_types_round_trip():
    value = {
        "when": datetime(2026, 1, 1, tzinfo=UTC),
        "rows": [(1, date(2026, 1, 1)), {"tags": frozenset({"x"})}],
        "wait": timedelta(seconds=90),
        "pairs": {(1, 2), (3, 4)},
    }
    assert roundtrip(value) == value


def test_dict_holding_the_tag_key_is_escaped_and_round_trips():
    tricky = {"__dw__": "datetime", "v": "not a date"}
    assert roundtrip(tricky) == tricky
    nested = {"outer": {"__dw__": {"__dw__": 1}}, "list": [{"__dw__": "tuple", "v": []}]}
    assert roundtrip(nested) == nested
    assert encode({"__dw__": 1}) == {"__dw__": "dict", "v": {"__dw__": 1}}


def test_subclasses_are_stored_as_their_base_type():
    class Color(enum.IntEnum):
        RED = 1

    class Name(enum.StrEnum):
        A = "a"

    class MyFloat(float):
        pass

    point = namedtuple("point", "x y")
    value = {
        "color": Color.RED,
        "name": Name.A,
        "f": MyFloat(1.5),
        "p": point(1, 2),
        "o": OrderedDict(a=1),
        Name.A: 2,
    }
    result = roundtrip(value)
    assert result == {"color": 1, "name": "a", "f": 1.5, "p": (1, 2), "o": {"a": 1}, "a": 2}
    assert type(result["color"]) is int
    assert type(result["name"]) is str
    assert type(result["p"]) is tuple
    assert type(result["o"]) is dict


# Errors -------------------------------------------------------------------------------------


class Foo:
    pass


def test_unsupported_type_names_the_type_and_where_it_is():
    with pytest.raises(SerializationError) as info:
        dumps({"rows": [1, 2, Foo()]})
    assert str(info.value) == (
        "cannot serialize value of type 'Foo' at [\"rows\"][2]: "
        "supported types are JSON types plus datetime, date, timedelta, tuple, set"
    )


def test_unsupported_type_at_the_top_level():
    with pytest.raises(SerializationError, match="type 'bytes' at the top level"):
        dumps(b"raw")


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        ((x for x in []), "generator"),
        (bytearray(b"x"), "bytearray"),
        (object(), "object"),
        (1 + 2j, "complex"),
        (range(3), "range"),
    ],
)
def test_other_unsupported_types_raise(value, type_name):
    with pytest.raises(SerializationError, match=f"type '{type_name}'"):
        dumps([value])


def test_serialization_error_is_a_type_error():
    with pytest.raises(TypeError):
        dumps(Foo())


def test_unsupported_type_inside_tuple_and_set_is_located():
    with pytest.raises(SerializationError, match=r'at \["t"\]\[1\]'):
        dumps({"t": (1, Foo())})
    with pytest.raises(SerializationError, match=r'at \["s"\]\{item\}'):
        dumps({"s": {1, b"x"}})


@pytest.mark.parametrize("key", [1, None, (1, 2), 1.5])
def test_non_str_dict_keys_are_rejected(key):
    with pytest.raises(SerializationError, match=r'at \["d"\]: dict keys must be str'):
        dumps({"d": {key: 1}})


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_rejected(number):
    with pytest.raises(SerializationError, match=r"at \[0\]: NaN and infinity"):
        dumps([number])


def test_circular_references_are_rejected():
    loop: list = [1]
    loop.append(loop)
    with pytest.raises(SerializationError, match=r"circular reference at \[1\]"):
        dumps(loop)
    # the same object twice (not a cycle) is fine
    shared = [1]
    assert roundtrip([shared, shared]) == [[1], [1]]


def test_too_deep_nesting_is_a_serialization_error():
    value: list = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(SerializationError, match="nested too deeply"):
        dumps(value)
    with pytest.raises(SerializationError, match="nested too deeply"):
        loads("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "NaN",
        "[Infinity]",
        '{"__dw__": "bogus", "v": 1}',
        '{"__dw__": "datetime"}',
        '{"__dw__": "datetime", "v": "yesterday"}',
        '{"__dw__": "date", "v": 5}',
        '{"__dw__": "set", "v": [[1]]}',
        '{"__dw__": "dict", "v": [1]}',
        '{"__dw__": "timedelta", "v": "x"}',
    ],
)
def test_malformed_input_raises_serialization_error(text):
    with pytest.raises(SerializationError, match="cannot deserialize"):
        loads(text)


def test_encode_and_decode_are_the_json_level_pair():
    value = {"a": (1, 2), "b": {date(2026, 1, 1)}}
    obj = encode(value)
    assert json.loads(json.dumps(obj)) == obj
    assert decode(obj) == value


# Properties ---------------------------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.datetimes()
    | st.datetimes(timezones=st.timezones())
    | st.dates()
    | st.timedeltas()
)
_hashables = st.recursive(
    _scalars, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=4), max_leaves=8
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=5).map(tuple)
        | st.sets(_hashables, max_size=5)
        | st.frozensets(_hashables, max_size=5)
        | st.dictionaries(st.text(max_size=8) | st.just(serde.TAG), inner, max_size=5)
    ),
    max_leaves=25,
)


def _same(a, b) -> bool:
    """Equality that also checks types and the UTC offset of datetimes (== ignores both)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, datetime):
        return (
            a == b
            and a.utcoffset() == b.utcoffset()
            and a.replace(tzinfo=None) == b.replace(tzinfo=None)
        )
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=25, deadline=None)
@given(_values)
def test_round_trip_property_quick(value):
    text = dumps(value)
    assert text.isascii()
    assert _same(loads(text), value)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None)
@given(_values)
def test_round_trip_property(value):
    text = dumps(value)
    assert _same(loads(text), value)
    assert dumps(loads(text)) == text  # stable: encoding the result gives the same text
