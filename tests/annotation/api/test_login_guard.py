"""Guessing passwords: django-axes locks a username+address pair after a few failures (the
token endpoint answers 429), DRF throttles bound calls per address and per user, and staff
unlock a login through the API or `manage.py unlock_user`."""

from __future__ import annotations

import io

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import override_settings
from rest_framework.test import APIClient

TOKEN = "/api/v1/auth/token/"
UNLOCK = "/api/v1/auth/unlock/"
LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def _rates(**rates: str | None) -> dict:
    from django.conf import settings

    base = {"anon": None, "user": None, "login": None}
    return {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**base, **rates}}


@pytest.fixture
def axes_on():
    with override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3):
        yield


def _token(client: APIClient, password: str, addr: str = "10.0.0.1", username: str = "victim"):
    return client.post(
        TOKEN, {"username": username, "password": password}, format="json", REMOTE_ADDR=addr
    )


def test_token_endpoint_locks_a_username_and_address_after_failures(axes_on, make_user):
    make_user("victim")
    client = APIClient()
    assert [_token(client, "wrong").status_code for _ in range(2)] == [400, 400]
    locked = _token(client, "wrong")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.json()["detail"]
    assert int(locked["Retry-After"]) > 0
    # The right password does not help while locked...
    assert _token(client, "pw-victim").status_code == 429
    # ...but the same user from another address is not locked out by a stranger's guesses.
    assert _token(client, "pw-victim", addr="10.0.0.2").status_code == 200


def test_forwarded_for_is_ignored_without_a_configured_proxy(axes_on, make_user):
    make_user("victim")
    client = APIClient()
    for i in range(3):
        client.post(
            TOKEN,
            {"username": "victim", "password": "wrong"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{i}",
        )
    assert _token(client, "pw-victim").status_code == 429


def test_success_resets_the_failure_count(axes_on, make_user):
    make_user("victim")
    client = APIClient()
    assert _token(client, "wrong").status_code == 400
    assert _token(client, "wrong").status_code == 400
    assert _token(client, "pw-victim").status_code == 200
    assert _token(client, "wrong").status_code == 400
    assert _token(client, "wrong").status_code == 400


def test_staff_unlock_through_the_api(axes_on, make_user):
    make_user("victim")
    staff = make_user("admin1", is_staff=True)
    client = APIClient()
    for _ in range(3):
        _token(client, "wrong")
    assert _token(client, "pw-victim").status_code == 429

    admin = APIClient()
    admin.force_authenticate(staff)
    response = admin.post(UNLOCK, {"username": "victim"}, format="json")
    assert response.status_code == 200
    assert response.json()["username"] == "victim"
    assert response.json()["records_removed"] >= 1
    assert _token(client, "pw-victim").status_code == 200


def test_only_staff_may_unlock(make_user):
    client = APIClient()
    assert client.post(UNLOCK, {"username": "x"}, format="json").status_code == 401
    client.force_authenticate(make_user())
    assert client.post(UNLOCK, {"username": "x"}, format="json").status_code == 403


def test_unlock_user_command(axes_on, make_user):
    make_user("victim")
    client = APIClient()
    for _ in range(3):
        _token(client, "wrong")
    assert AccessAttempt.objects.filter(username="victim").exists()
    out = io.StringIO()
    call_command("unlock_user", "victim", stdout=out)
    assert "removed" in out.getvalue()
    assert not AccessAttempt.objects.filter(username="victim").exists()
    assert _token(client, "pw-victim").status_code == 200
    out = io.StringIO()
    call_command("unlock_user", "victim", stdout=out)
    assert "nothing to unlock" in out.getvalue()


@pytest.mark.parametrize(
    "body",
    [
        {"username": "u" * 151, "password": "x"},
        {"username": "a\x00b", "password": "x"},
        {"username": "victim", "password": "p" * 4097},
        {"username": "victim"},
    ],
    ids=["long-username", "nul-username", "long-password", "no-password"],
)
def test_token_endpoint_refuses_malformed_credentials_with_400(axes_on, make_user, body):
    make_user("victim")
    response = APIClient().post(TOKEN, body, format="json")
    assert response.status_code == 400
    assert not AccessAttempt.objects.exists()


# --- throttles --------------------------------------------------------------------------------


@override_settings(CACHES=LOCMEM)
def test_anonymous_calls_are_throttled_per_address(db):
    from django.core.cache import cache

    cache.clear()
    with override_settings(REST_FRAMEWORK=_rates(anon="3/minute")):
        client = APIClient()
        codes = [client.get("/api/v1/schemas/import/", REMOTE_ADDR="10.1.1.1").status_code
                 for _ in range(4)]  # fmt: skip
        assert codes == [200, 200, 200, 429]
        assert int(client.get("/api/v1/schemas/import/", REMOTE_ADDR="10.1.1.1")["Retry-After"])
        other = client.get("/api/v1/schemas/import/", REMOTE_ADDR="10.1.1.2")
        assert other.status_code == 200


@override_settings(CACHES=LOCMEM)
def test_authenticated_calls_are_throttled_per_user(make_user):
    from django.core.cache import cache

    cache.clear()
    with override_settings(REST_FRAMEWORK=_rates(user="2/minute")):
        first, second = APIClient(), APIClient()
        first.force_authenticate(make_user())
        second.force_authenticate(make_user())
        codes = [first.get("/api/v1/projects/").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert second.get("/api/v1/projects/").status_code == 200


@override_settings(CACHES=LOCMEM)
def test_token_endpoint_has_its_own_rate_per_address(make_user):
    from django.core.cache import cache

    cache.clear()
    make_user("victim")
    with override_settings(REST_FRAMEWORK=_rates(login="2/minute")):
        client = APIClient()
        codes = [_token(client, "pw-victim").status_code for _ in range(3)]
        assert codes == [200, 200, 429]


@override_settings(CACHES=LOCMEM, STEPWISE_PROXY_COUNT=1)
def test_behind_one_proxy_the_forwarded_address_is_the_client(db):
    from django.core.cache import cache

    cache.clear()
    with override_settings(REST_FRAMEWORK={**_rates(anon="1/minute"), "NUM_PROXIES": 1}):
        client = APIClient()
        url = "/api/v1/schemas/import/"
        proxy = "172.16.0.1"
        assert (
            client.get(url, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="10.9.9.1").status_code == 200
        )
        assert (
            client.get(url, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="10.9.9.1").status_code == 429
        )
        assert (
            client.get(url, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="10.9.9.2").status_code == 200
        )


def test_test_settings_turn_throttles_off(make_user):
    """The suite makes hundreds of calls per second from one user; nothing is throttled."""
    client = APIClient()
    client.force_authenticate(make_user())
    assert {client.get("/api/v1/projects/").status_code for _ in range(50)} == {200}
