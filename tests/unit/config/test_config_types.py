"""The option value types: parsing, checking and showing values."""

from __future__ import annotations

from pathlib import Path

import pytest

from downwind.config.schema import (
    Bool,
    Choice,
    Float,
    Int,
    PathType,
    Str,
    Timezone,
    mask_secret,
    parse_bool,
)

HOME = Path("/srv/downwind")


@pytest.mark.parametrize(
    "raw", ["true", "TRUE", "True", "1", "yes", "YES", "on", "On", " true ", True]
)
def test_bool_true_spellings(raw: object) -> None:
    assert parse_bool(raw) is True
    assert Bool().parse(raw, HOME) is True


@pytest.mark.parametrize("raw", ["false", "FALSE", "0", "no", "No", "off", "OFF", False])
def test_bool_false_spellings(raw: object) -> None:
    assert parse_bool(raw) is False


@pytest.mark.parametrize("raw", ["", "maybe", "2", "t", 1, 0, None, 1.0])
def test_bool_rejects_everything_else(raw: object) -> None:
    with pytest.raises(ValueError, match=r"expected a boolean \(true/false, 1/0, yes/no, on/off\)"):
        parse_bool(raw)


def test_bool_shows_as_toml_does() -> None:
    assert Bool().format(True) == "true"
    assert Bool().format(False) == "false"


def test_int_accepts_ints_and_numeric_strings() -> None:
    assert Int().parse(4, HOME) == 4
    assert Int().parse(" 12 ", HOME) == 12
    assert Int().parse("-3", HOME) == -3


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("abc", "expected an integer >= 1, got 'abc'"),
        ("0", "expected an integer >= 1, got '0'"),
        (0, "expected an integer >= 1, got 0"),
        (-5, "expected an integer >= 1, got -5"),
        ("4.0", "expected an integer >= 1, got '4.0'"),
        (4.0, "expected an integer >= 1, got 4.0"),
        (True, "expected an integer >= 1, got True"),
        ([1], "expected an integer >= 1, got [1]"),
    ],
)
def test_int_with_min_rejects(raw: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        Int(min=1).parse(raw, HOME)
    assert str(info.value) == message


def test_int_min_zero_allows_zero() -> None:
    assert Int(min=0).parse("0", HOME) == 0
    assert Int(min=0).describe() == "int (>= 0)"


def test_float() -> None:
    assert Float().parse(2, HOME) == 2.0
    assert Float().parse("0.5", HOME) == 0.5
    assert Float(min=0).parse(0, HOME) == 0.0
    for bad in ("x", "nan", "inf", True, -0.1):
        with pytest.raises(ValueError, match="expected a number >= 0"):
            Float(min=0).parse(bad, HOME)


def test_str_accepts_only_strings() -> None:
    assert Str().parse("x", HOME) == "x"
    with pytest.raises(ValueError, match="expected a string, got 5"):
        Str().parse(5, HOME)


def test_path_expands_user_and_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/users/ann")
    path = PathType()
    assert path.parse("~/dags", HOME) == Path("/users/ann/dags")
    assert path.parse("{home}/dags", HOME) == HOME / "dags"
    assert path.parse("/abs/dags", HOME) == Path("/abs/dags")


def test_relative_path_is_relative_to_home() -> None:
    assert PathType().parse("dags", HOME) == HOME / "dags"


@pytest.mark.parametrize("raw", ["", "  ", 3, None])
def test_path_rejects_empty_and_non_strings(raw: object) -> None:
    with pytest.raises(ValueError, match="expected a path"):
        PathType().parse(raw, HOME)


def test_choice_is_case_insensitive_and_returns_the_declared_spelling() -> None:
    executor = Choice("sequential", "local", "celery")
    assert executor.parse("LOCAL", HOME) == "local"
    assert executor.parse("celery", HOME) == "celery"
    with pytest.raises(ValueError) as info:
        executor.parse("foo", HOME)
    assert str(info.value) == "expected one of sequential, local, celery, got 'foo'"


def test_timezone_keeps_the_name() -> None:
    assert Timezone().parse("Europe/Paris", HOME) == "Europe/Paris"
    assert Timezone().parse("UTC", HOME) == "UTC"


@pytest.mark.parametrize("raw", ["Mars/Olympus", "", "../../etc/passwd", 5])
def test_timezone_rejects_unknown_zones(raw: object) -> None:
    with pytest.raises(ValueError, match="expected an IANA time zone name"):
        Timezone().parse(raw, HOME)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        (
            "postgresql+psycopg://user:s3cr%40t@db.example:5432/dw",
            "postgresql+psycopg://user:***@db.example:5432/dw",
        ),
        ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:////srv/downwind/downwind.db", "sqlite:////srv/downwind/downwind.db"),
        ("redis://h:6379/0?password=pw&db=1", "redis://h:6379/0?password=***&db=1"),
        ("hunter2", "***"),
        ("", ""),
    ],
)
def test_mask_secret(text: str, masked: str) -> None:
    assert mask_secret(text) == masked
