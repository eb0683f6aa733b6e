"""The app as a whole: health and version, OpenAPI and docs, security headers, body
limits, CORS, and errors that never leak a traceback."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from airflow_client.client.models import HealthInfoResponse, VersionInfo
from api_testing import NOW, Api
from sqlalchemy.exc import OperationalError

from downwind import __version__
from downwind.api.deps import requires
from downwind.metastore.models import Job
from downwind.security.roles import Permission


def _job(api: Api, job_type: str, heartbeat_age: float, state: str = "running") -> None:
    with api.transaction() as session:
        session.add(
            Job(
                job_type=job_type,
                state=state,
                hostname="host",
                pid=1,
                start_date=NOW - timedelta(hours=1),
                latest_heartbeat=NOW - timedelta(seconds=heartbeat_age),
            )
        )


def test_health_needs_no_token_and_reports_a_missing_scheduler(api: Api) -> None:
    response = api.client.get("/api/v2/monitor/health")
    assert response.status_code == 200
    body = response.json()
    HealthInfoResponse.from_dict(body)
    assert body == {
        "metadatabase": {"status": "healthy"},
        "scheduler": {"status": "unhealthy", "latest_scheduler_heartbeat": None},
        "triggerer": {"status": None, "latest_triggerer_heartbeat": None},
        "dag_processor": {"status": "unhealthy", "latest_dag_processor_heartbeat": None},
    }


def test_a_scheduler_is_healthy_while_its_heartbeat_is_recent(api: Api) -> None:
    _job(api, "scheduler", heartbeat_age=400, state="failed")
    _job(api, "scheduler", heartbeat_age=5)
    body = api.client.get("/api/v2/monitor/health").json()
    beat = (NOW - timedelta(seconds=5)).isoformat()
    assert body["scheduler"] == {"status": "healthy", "latest_scheduler_heartbeat": beat}
    assert body["dag_processor"] == {
        "status": "healthy",
        "latest_dag_processor_heartbeat": beat,
    }, "the DAG processor runs inside the scheduler"
    api.clock.advance(30)  # [scheduler] scheduler_health_check_threshold
    assert api.client.get("/api/v2/monitor/health").json()["scheduler"] == {
        "status": "unhealthy",
        "latest_scheduler_heartbeat": beat,
    }


def test_a_standalone_dag_processor_has_its_own_status(make_api: object) -> None:
    api: Api = make_api(SCHEDULER__STANDALONE_DAG_PROCESSOR="true")  # type: ignore[operator]
    _job(api, "scheduler", heartbeat_age=1)
    body = api.client.get("/api/v2/monitor/health").json()
    assert body["scheduler"]["status"] == "healthy"
    assert body["dag_processor"]["status"] == "unhealthy"
    _job(api, "dag_processor", heartbeat_age=1)
    assert api.client.get("/api/v2/monitor/health").json()["dag_processor"]["status"] == "healthy"


def test_version_needs_no_token(api: Api) -> None:
    body = api.client.get("/api/v2/version").json()
    assert VersionInfo.from_dict(body).version == __version__
    assert body == {"version": __version__, "git_version": None}


def test_openapi_and_docs_are_served(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert spec["info"]["title"] == "downwind REST API"
    assert set(spec["components"]["securitySchemes"]) == {"OAuth2PasswordBearer", "HTTPBearer"}
    token = spec["paths"]["/auth/token"]["post"]
    assert set(token["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }
    assert "security" not in spec["paths"]["/api/v2/monitor/health"]["get"]
    assert spec["paths"]["/api/v2/dags"]["get"]["security"] == [
        {"OAuth2PasswordBearer": []},
        {"HTTPBearer": []},
    ]
    docs = api.client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert "cdn.jsdelivr.net" in docs.headers["content-security-policy"]


@pytest.mark.parametrize("url", ["/api/v2/version", "/api/v2/dags", "/api/v2/dags/nope"])
def test_every_response_has_the_security_headers(api: Api, url: str) -> None:
    for response in (api.get(url), api.client.get(url)):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["content-security-policy"] == (
            "default-src 'none'; frame-ancestors 'none'"
        )


def test_a_body_over_the_limit_is_413(make_api: object) -> None:
    api: Api = make_api(API__MAX_REQUEST_BODY_BYTES="64")  # type: ignore[operator]
    big = b'{"is_paused": true, "padding": "' + b"x" * 100 + b'"}'
    headers = {"Content-Type": "application/json"}
    declared = api.patch("/api/v2/dags/etl", content=big, headers=headers)
    assert declared.status_code == 413
    assert declared.json() == {"detail": "Request body too large: the limit is 64 bytes"}

    def chunks() -> object:  # no Content-Length: counted as it arrives
        yield big[:40]
        yield big[40:]

    streamed = api.patch("/api/v2/dags/etl", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    login = api.client.post("/auth/token", content=big, headers=headers)
    assert login.status_code == 413


def test_cors_is_off_unless_configured(make_api: object) -> None:
    preflight = {
        "Origin": "https://tools.example.com",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Authorization",
    }
    off: Api = make_api()  # type: ignore[operator]
    response = off.client.options("/api/v2/dags", headers=preflight)
    assert "access-control-allow-origin" not in response.headers
    on: Api = make_api(API__CORS_ALLOWED_ORIGINS="https://tools.example.com, https://b.example")  # type: ignore[operator]
    allowed = on.client.options("/api/v2/dags", headers=preflight)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://tools.example.com"
    other = on.client.options("/api/v2/dags", headers={**preflight, "Origin": "https://evil.io"})
    assert "access-control-allow-origin" not in other.headers


def test_an_unexpected_error_is_a_bare_500_and_a_logged_traceback(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> None:
        raise RuntimeError("secret internals")

    api.client.app.add_api_route(  # type: ignore[attr-defined]
        "/api/v2/explode", explode, dependencies=[requires(Permission.READ)]
    )
    with caplog.at_level(logging.ERROR, logger="downwind.api"):
        response = api.get("/api/v2/explode")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    assert "secret internals" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "secret internals" in caplog.text and "Traceback" in caplog.text


def test_a_metastore_failure_is_503(api: Api) -> None:
    def locked() -> None:
        raise OperationalError("UPDATE dag", {}, Exception("database is locked"))

    api.client.app.add_api_route(  # type: ignore[attr-defined]
        "/api/v2/locked", locked, dependencies=[requires(Permission.READ)]
    )
    response = api.get("/api/v2/locked")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "database is locked" not in response.text
