"""Who may call what: every route of the app, for no token and each role (table-driven).

:data:`ACCESS` lists every operation the app serves with the permission it needs (None:
open to everyone). The table must match the app's operations exactly (read from its
OpenAPI schema: FastAPI may keep included routers lazy in ``app.routes``), so a new
route fails here until its access rule is written down -- and then it is checked for
every role.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from api_testing import ROLES, Api, api_config
from sqlalchemy.orm import sessionmaker

from downwind.api.app import create_app
from downwind.security.roles import Permission, allows

READ, OPERATE = Permission.READ, Permission.OPERATE

#: (method, path) -> the permission needed, None for an open route
ACCESS: dict[tuple[str, str], Permission | None] = {
    ("POST", "/auth/token"): None,
    ("POST", "/auth/token/cli"): None,
    ("GET", "/api/v2/monitor/health"): None,
    ("GET", "/api/v2/version"): None,
    ("GET", "/api/v2/dags"): READ,
    ("PATCH", "/api/v2/dags"): OPERATE,
    ("GET", "/api/v2/dags/{dag_id}"): READ,
    ("PATCH", "/api/v2/dags/{dag_id}"): OPERATE,
    ("DELETE", "/api/v2/dags/{dag_id}"): OPERATE,
    ("GET", "/api/v2/dags/{dag_id}/details"): READ,
    ("GET", "/api/v2/dags/{dag_id}/tasks"): READ,
    ("GET", "/api/v2/dags/{dag_id}/tasks/{task_id}"): READ,
    ("GET", "/api/v2/dagSources/{dag_id}"): READ,
    ("GET", "/api/v2/dagTags"): READ,
    ("GET", "/api/v2/dagStats"): READ,
    ("GET", "/api/v2/dags/{dag_id}/dagVersions"): READ,
    ("GET", "/api/v2/dags/{dag_id}/dagVersions/{version_number}"): READ,
    ("GET", "/api/v2/importErrors"): READ,
    ("GET", "/api/v2/importErrors/{import_error_id}"): READ,
    ("GET", "/api/v2/eventLogs"): READ,
    ("GET", "/api/v2/eventLogs/{event_log_id}"): READ,
    # variables, connections, pools, backfills
    ("GET", "/api/v2/variables"): Permission.CONFIGURE,
    ("POST", "/api/v2/variables"): Permission.CONFIGURE,
    ("PATCH", "/api/v2/variables"): Permission.CONFIGURE,
    ("GET", "/api/v2/variables/{variable_key}"): Permission.CONFIGURE,
    ("PATCH", "/api/v2/variables/{variable_key}"): Permission.CONFIGURE,
    ("DELETE", "/api/v2/variables/{variable_key}"): Permission.CONFIGURE,
    ("GET", "/api/v2/connections"): Permission.CONFIGURE,
    ("POST", "/api/v2/connections"): Permission.CONFIGURE,
    ("PATCH", "/api/v2/connections"): Permission.CONFIGURE,
    ("POST", "/api/v2/connections/test"): Permission.CONFIGURE,
    ("POST", "/api/v2/connections/defaults"): Permission.CONFIGURE,
    ("GET", "/api/v2/connections/{connection_id}"): Permission.CONFIGURE,
    ("PATCH", "/api/v2/connections/{connection_id}"): Permission.CONFIGURE,
    ("DELETE", "/api/v2/connections/{connection_id}"): Permission.CONFIGURE,
    ("GET", "/api/v2/pools"): READ,
    ("POST", "/api/v2/pools"): Permission.CONFIGURE,
    ("PATCH", "/api/v2/pools"): Permission.CONFIGURE,
    ("GET", "/api/v2/pools/{pool_name}"): READ,
    ("PATCH", "/api/v2/pools/{pool_name}"): Permission.CONFIGURE,
    ("DELETE", "/api/v2/pools/{pool_name}"): Permission.CONFIGURE,
    ("GET", "/api/v2/backfills"): READ,
    ("POST", "/api/v2/backfills"): OPERATE,
    ("POST", "/api/v2/backfills/dry_run"): OPERATE,
    ("GET", "/api/v2/backfills/{backfill_id}"): READ,
    ("PUT", "/api/v2/backfills/{backfill_id}/pause"): OPERATE,
    ("PUT", "/api/v2/backfills/{backfill_id}/unpause"): OPERATE,
    ("PUT", "/api/v2/backfills/{backfill_id}/cancel"): OPERATE,
    # DAG runs, task instances, their logs and XComs
    ("GET", "/api/v2/dags/{dag_id}/dagRuns"): READ,
    ("POST", "/api/v2/dags/{dag_id}/dagRuns"): OPERATE,
    ("POST", "/api/v2/dags/{dag_id}/dagRuns/list"): READ,
    ("GET", "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}"): READ,
    ("PATCH", "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}"): OPERATE,
    ("DELETE", "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}"): OPERATE,
    ("POST", "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/clear"): OPERATE,
    ("GET", "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/wait"): READ,
    ("GET", "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances"): READ,
    ("POST", "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/list"): READ,
    ("GET", "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}"): READ,
    ("PATCH", "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}"): OPERATE,
    (
        "PATCH",
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/dry_run",
    ): OPERATE,
    ("GET", "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries"): READ,
    (
        "GET",
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/dependencies",
    ): READ,
    (
        "GET",
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}/dependencies",
    ): READ,
    (
        "GET",
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries/{task_try_number}",
    ): READ,
    ("GET", "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}"): READ,
    (
        "PATCH",
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}",
    ): OPERATE,
    (
        "PATCH",
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}/dry_run",
    ): OPERATE,
    (
        "GET",
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}/tries",
    ): READ,
    (
        "GET",
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}/tries/{task_try_number}",
    ): READ,
    ("POST", "/api/v2/dags/{dag_id}/clearTaskInstances"): OPERATE,
    (
        "GET",
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}",
    ): READ,
    ("GET", "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries"): READ,
    (
        "POST",
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries",
    ): OPERATE,
    (
        "GET",
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}",
    ): READ,
    (
        "PATCH",
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}",
    ): OPERATE,
    (
        "DELETE",
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}",
    ): OPERATE,
}
PROTECTED = sorted(key for key, permission in ACCESS.items() if permission is not None)
OPEN = sorted(key for key, permission in ACCESS.items() if permission is None)


def _operations(api: Api) -> dict[tuple[str, str], dict[str, Any]]:
    return _operations_of(api.client.app)


@functools.cache
def _spec_paths() -> dict[tuple[str, str], dict[str, Any]]:
    """The operations of an app as every test builds it (made once: it takes a while)."""
    home = Path(tempfile.mkdtemp(prefix="downwind-api-spec-"))
    try:
        return _operations_of(create_app(api_config(home), sessionmaker()))
    finally:
        shutil.rmtree(home)


def _operations_of(app: Any) -> dict[tuple[str, str], dict[str, Any]]:
    spec = app.openapi()
    return {
        (method.upper(), path): operation
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }


def _url(api: Api, method: str, path: str) -> str:
    """``path`` with each parameter filled: 1 for a number, a name that does not exist else."""
    operation = _spec_paths()[method, path]
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            kind = parameter["schema"].get("type")
            value = "1" if kind == "integer" else "no-such-thing"
            path = path.replace("{" + parameter["name"] + "}", value)
    return path


def _call(api: Api, method: str, url: str, headers: dict[str, str]) -> Any:
    body = {"is_paused": True} if method in ("PATCH", "POST", "PUT") else None
    return api.client.request(method, url, headers=headers, json=body)


def test_the_table_lists_every_route_of_the_app(api: Api) -> None:
    served = set(_operations(api))
    assert served - set(ACCESS) == set(), "routes without an access rule in ACCESS"
    assert set(ACCESS) - served == set(), "ACCESS lists routes the app does not serve"


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_each_role_gets_what_its_permission_allows(api: Api, method: str, path: str) -> None:
    url = _url(api, method, path)
    anonymous = _call(api, method, url, {})
    assert anonymous.status_code == 401, anonymous.text
    permission = ACCESS[method, path]
    assert permission is not None
    for role in ROLES:
        response = _call(api, method, url, api.headers(role))
        if allows(role, permission):
            assert response.status_code not in (401, 403), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            detail = response.json()["detail"]
            assert detail.startswith(f"Forbidden: the role '{role.value}' may not ")
            assert detail.endswith(f"(permission '{permission.value}')")


@pytest.mark.parametrize(("method", "path"), OPEN, ids=[f"{m} {p}" for m, p in OPEN])
def test_open_routes_need_no_token(api: Api, method: str, path: str) -> None:
    response = _call(api, method, _url(api, method, path), {})
    assert response.status_code not in (401, 403), response.text
