"""Token authentication for scripts: POST /api/v1/auth/token/, then `Authorization: Token`."""

from __future__ import annotations

from rest_framework.test import APIClient


def test_token_login_then_authenticated_call(make_user, make_project):
    user = make_user("scripter")
    project = make_project(manager=user)
    client = APIClient()

    response = client.post(
        "/api/v1/auth/token/", {"username": "scripter", "password": "pw-scripter"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]

    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    listed = client.get("/api/v1/projects/")
    assert listed.status_code == 200
    assert [p["slug"] for p in listed.json()] == [project.slug]
    # Asking again returns the same token.
    again = APIClient().post(
        "/api/v1/auth/token/", {"username": "scripter", "password": "pw-scripter"}
    )
    assert again.json()["token"] == token


def test_wrong_password_gets_no_token(make_user):
    make_user("scripter")
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "scripter", "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert "token" not in response.json()


def test_bad_or_missing_token_is_401(db):
    client = APIClient()
    assert client.get("/api/v1/projects/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get("/api/v1/projects/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
