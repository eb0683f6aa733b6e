"""Every route must say who may call it: requires(...) or public(), exactly one."""

from __future__ import annotations

import pytest
from fastapi import APIRouter

from downwind.api.app import check_access_rules
from downwind.api.deps import public, requires
from downwind.exceptions import DownwindException
from downwind.security.roles import Permission


def _router(*dependencies: object) -> APIRouter:
    router = APIRouter(prefix="/things")

    @router.get("/{name}", dependencies=list(dependencies))
    def get_thing(name: str) -> dict[str, str]:
        return {"name": name}

    return router


def test_a_route_with_one_rule_passes() -> None:
    check_access_rules([_router(requires(Permission.READ)), _router(public())])


@pytest.mark.parametrize(
    ("dependencies", "found"),
    [((), 0), ((requires(Permission.READ), public()), 2)],
)
def test_a_route_without_exactly_one_rule_is_refused(
    dependencies: tuple[object, ...], found: int
) -> None:
    with pytest.raises(DownwindException) as raised:
        check_access_rules([_router(*dependencies)])
    assert str(raised.value) == (
        "route GET /things/{name} must list exactly one of requires(...) or public() in its "
        f"dependencies (found {found})"
    )
