"""The shared list parameters: limit, order_by and the ~ wildcard."""

from __future__ import annotations

import pytest

from downwind.api.pagination import parse_order_by, resolve_limit, unless_wildcard
from downwind.services.errors import InvalidInput
from downwind.services.listing import SortKey

FIELDS = ("dag_id", "next_dagrun", "last_run_state")


@pytest.mark.parametrize(
    ("limit", "expected"),
    [(None, 50), (10, 10), (0, 0), (100, 100), (1000, 100)],
)
def test_limit_defaults_to_the_fallback_and_is_capped(limit: int | None, expected: int) -> None:
    assert resolve_limit(limit, fallback=50, maximum=100) == expected


def test_the_fallback_is_capped_too() -> None:
    assert resolve_limit(None, fallback=500, maximum=100) == 100


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], [SortKey("dag_id")]),
        (["next_dagrun"], [SortKey("next_dagrun")]),
        (["-next_dagrun"], [SortKey("next_dagrun", descending=True)]),
        (["-last_run_state", "dag_id"], [SortKey("last_run_state", True), SortKey("dag_id")]),
        (["-last_run_state,dag_id"], [SortKey("last_run_state", True), SortKey("dag_id")]),
        (["dag_id", "-dag_id"], [SortKey("dag_id")]),
        ([" ", ""], [SortKey("dag_id")]),
    ],
)
def test_order_by(values: list[str], expected: list[SortKey]) -> None:
    assert parse_order_by(values, FIELDS, "dag_id") == expected


def test_an_unknown_field_names_the_allowed_ones() -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_order_by(["-owner"], FIELDS, "dag_id")
    assert str(raised.value) == (
        "Ordering with 'owner' is disallowed or the attribute does not exist on the model; "
        "order_by accepts: dag_id, next_dagrun, last_run_state (prefix '-' to sort descending)"
    )


def test_the_wildcard_means_all() -> None:
    assert unless_wildcard("~") is None
    assert unless_wildcard("etl") == "etl"
