"""Signing in (POST /auth/token), and how every request's token is checked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from api_testing import NOW, PASSWORD, Api, add_user

from downwind.metastore.models import UserModel
from downwind.security.roles import Role
from downwind.security.tokens import decode_token, issue_token

CREDENTIALS = {"username": "op", "password": PASSWORD}


def _claims(api: Api, response: object) -> object:
    return decode_token(api.signing_key, response.json()["access_token"], now=NOW)  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", ["/auth/token", "/auth/token/cli"])
def test_a_token_from_json_or_a_form_opens_the_api(api: Api, path: str) -> None:
    as_json = api.client.post(path, json=CREDENTIALS)
    as_form = api.client.post(path, data={**CREDENTIALS, "grant_type": "password"})
    for response in (as_json, as_form):
        assert response.status_code == 201, response.text
        assert response.headers["cache-control"] == "no-store"
        token = response.json()["access_token"]
        assert response.json() == {"access_token": token, "token_type": "bearer"}
        tags = api.client.get("/api/v2/dagTags", headers={"Authorization": f"Bearer {token}"})
        assert tags.status_code == 200


def test_the_cli_token_lives_shorter(api: Api) -> None:
    web = _claims(api, api.client.post("/auth/token", json=CREDENTIALS))
    cli = _claims(api, api.client.post("/auth/token/cli", json=CREDENTIALS))
    assert (web.username, web.role) == (cli.username, cli.role) == ("op", "Op")  # type: ignore[attr-defined]
    assert web.expires_at == NOW + timedelta(seconds=86400)  # type: ignore[attr-defined]
    assert cli.expires_at == NOW + timedelta(seconds=3600)  # type: ignore[attr-defined]


def test_signing_in_records_the_last_login(api: Api) -> None:
    api.client.post("/auth/token", json=CREDENTIALS)
    with api.transaction() as session:
        user = session.query(UserModel).filter_by(username="op").one()
        assert user.last_login == NOW


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "op", "password": "wrong password"},
        {"username": "nobody", "password": PASSWORD},
    ],
)
def test_wrong_credentials_are_401_without_saying_which(
    api: Api, credentials: dict[str, str]
) -> None:
    response = api.client.post("/auth/token", json=credentials)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid username or password"}


def test_a_deactivated_user_cannot_sign_in(api: Api) -> None:
    with api.transaction() as session:
        add_user(session, "gone", Role.ADMIN, active=False)
    response = api.client.post("/auth/token", json={"username": "gone", "password": PASSWORD})
    assert response.status_code == 401


def test_another_content_type_is_415(api: Api) -> None:
    response = api.client.post(
        "/auth/token", content=b"op:secret", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json() == {
        "detail": "Unsupported Media Type: send the credentials as application/json or "
        "application/x-www-form-urlencoded"
    }


def test_malformed_json_is_400(api: Api) -> None:
    response = api.client.post(
        "/auth/token", content=b'{"username": "op",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith(
        "Malformed body: it is not valid application/json: "
    )


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"username": "op"}, ["body", "password"], "missing"),
        ({"username": "op", "password": 123}, ["body", "password"], "string_type"),
        ({**CREDENTIALS, "role": "Admin"}, ["body", "role"], "extra_forbidden"),
        ({"username": "", "password": PASSWORD}, ["body", "username"], "string_too_short"),
        (["op", PASSWORD], ["body"], "model_type"),
    ],
)
def test_invalid_fields_are_422_without_echoing_the_input(
    api: Api, body: object, loc: list[str], kind: str
) -> None:
    response = api.client.post("/auth/token", json=body)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert (error["loc"], error["type"]) == (loc, kind)
    assert error["msg"] and set(error) == {"loc", "msg", "type"}


def test_repeated_failures_are_rate_limited(make_api: object) -> None:
    api: Api = make_api(API_AUTH__LOGIN_MAX_FAILURES="3", API_AUTH__LOGIN_FAILURE_WINDOW="60")  # type: ignore[operator]
    wrong = {"username": "op", "password": "not it at all"}
    for _ in range(3):
        assert api.client.post("/auth/token", json=wrong).status_code == 401
        api.clock.advance(5)
    blocked = api.client.post("/auth/token", json=CREDENTIALS)
    assert blocked.status_code == 429, "even the right password waits"
    assert blocked.headers["retry-after"] == "45", "failures at 0, 5 and 10 s; now 15 s"
    assert blocked.json() == {
        "detail": "Too many failed sign-ins for this user from this address: try again in 45 s"
    }
    other = api.client.post("/auth/token", json={"username": "viewer", "password": PASSWORD})
    assert other.status_code == 201, "another user is not blocked"
    api.clock.advance(45)
    assert api.client.post("/auth/token", json=CREDENTIALS).status_code == 201
    assert api.client.post("/auth/token", json=wrong).status_code == 401, "the count restarted"


# -- the token of each request --------------------------------------------------------


def _get_with(api: Api, headers: dict[str, str]) -> object:
    """A read that needs a token, with ``headers``."""
    return api.client.get("/api/v2/dagTags", headers=headers)


def test_no_token_is_401_with_www_authenticate(api: Api) -> None:
    response = api.client.get("/api/v2/dags")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "detail": "Not authenticated: send 'Authorization: Bearer <token>' with a token from "
        "POST /auth/token"
    }


@pytest.mark.parametrize("header", ["Basic b3A6c2VjcmV0", "Bearer", "Bearer   "])
def test_a_malformed_authorization_header_is_401(api: Api, header: str) -> None:
    response = _get_with(api, {"Authorization": header})
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert response.json() == {  # type: ignore[attr-defined]
        "detail": "Invalid Authorization header: expected 'Bearer <token>'"
    }


def test_an_expired_token_is_401(api: Api) -> None:
    api.clock.advance(3600)
    response = _get_with(api, api.headers(Role.ADMIN))
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert response.json() == {"detail": "Invalid token: expired"}  # type: ignore[attr-defined]


def test_a_tampered_or_foreign_token_is_401(api: Api) -> None:
    token = api.tokens[Role.VIEWER]
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    foreign = issue_token("x" * 64, "admin", "Admin", 3600, now=NOW)
    for bad in (tampered, foreign):
        response = _get_with(api, {"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401  # type: ignore[attr-defined]
        assert response.json() == {"detail": "Invalid token: bad signature"}  # type: ignore[attr-defined]
    garbage = _get_with(api, {"Authorization": "Bearer not.a.token"})
    assert garbage.json() == {"detail": "Invalid token: malformed"}  # type: ignore[attr-defined]


def test_the_token_of_a_deleted_or_deactivated_user_stops_working(api: Api) -> None:
    with api.transaction() as session:
        session.query(UserModel).filter_by(username="op").delete()
        session.query(UserModel).filter_by(username="user").update({"is_active": False})
    deleted = _get_with(api, api.headers(Role.OP))
    assert deleted.status_code == 401  # type: ignore[attr-defined]
    assert deleted.json() == {"detail": "Invalid token: its user no longer exists"}  # type: ignore[attr-defined]
    inactive = _get_with(api, api.headers(Role.USER))
    assert inactive.json() == {"detail": "Invalid token: its user is deactivated"}  # type: ignore[attr-defined]


def test_the_session_cookie_authenticates_reads_and_same_origin_writes(api: Api) -> None:
    cookie = {"_token": api.tokens[Role.ADMIN]}
    api.client.cookies.update(cookie)
    try:
        assert api.client.get("/api/v2/dagTags").status_code == 200
        body = {"is_paused": True}
        cross_site = api.client.patch("/api/v2/dags/etl", json=body)
        assert cross_site.status_code == 403
        assert "must come from this server's own pages" in cross_site.json()["detail"]
        other = api.client.patch(
            "/api/v2/dags/etl", json=body, headers={"Origin": "https://evil.example"}
        )
        assert other.status_code == 403
        same = api.client.patch(
            "/api/v2/dags/etl", json=body, headers={"Origin": "http://testserver"}
        )
        assert same.status_code == 404, "authenticated: the DAG just does not exist"
    finally:
        api.client.cookies.clear()
