"""The login form under django-axes (a clear lockout page) and the password reset flow."""

from __future__ import annotations

import re

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.test import override_settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _login(client, password: str, username: str = "victim"):
    return client.post(reverse("login"), {"username": username, "password": password})


@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3)
def test_login_form_locks_out_with_a_clear_page(client, make_user):
    make_user("victim")
    assert [_login(client, "wrong").status_code for _ in range(2)] == [200, 200]
    locked = _login(client, "wrong")
    assert locked.status_code == 429
    html = locked.content.decode()
    assert "Too many failed logins" in html
    assert "victim" in html
    assert "after 3 wrong passwords for 15 minutes" in html
    assert reverse("password_reset") in html
    # The right password is refused too until the lock is lifted.
    right = _login(client, "pw-victim")
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3)
def test_login_form_works_again_after_unlock(client, make_user):
    from annotation.services.users import user_login_unlock

    make_user("victim")
    for _ in range(3):
        _login(client, "wrong")
    assert user_login_unlock(username="victim") >= 1
    response = _login(client, "pw-victim")
    assert response.status_code == 302
    assert client.session["_auth_user_id"]


def test_login_page_links_to_password_reset(client):
    response = client.get(reverse("login"))
    assert reverse("password_reset").encode() in response.content


def _reset_link() -> str:
    assert len(mail.outbox) == 1
    match = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", mail.outbox[0].body)
    assert match, mail.outbox[0].body
    return match.group(1)


@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3)
def test_password_reset_flow_sets_a_new_password_and_lifts_the_lock(client, make_user):
    user = make_user("victim", email="victim@example.org")
    for _ in range(3):
        _login(client, "wrong")
    assert AccessAttempt.objects.filter(username="victim").exists()

    form = client.get(reverse("password_reset"))
    assert form.status_code == 200
    assert b"Reset your password" in form.content
    sent = client.post(reverse("password_reset"), {"email": "victim@example.org"})
    assert sent.status_code == 302
    assert sent.url == reverse("password_reset_done")
    assert b"Check your email" in client.get(sent.url).content
    assert mail.outbox[0].subject == "Reset your Stepwise password"
    assert "victim" in mail.outbox[0].body

    confirm = client.get(_reset_link(), follow=True)
    assert confirm.status_code == 200
    assert b"Choose a new password" in confirm.content
    done = client.post(
        confirm.redirect_chain[-1][0],
        {"new_password1": "a-new-long-password-7", "new_password2": "a-new-long-password-7"},
        follow=True,
    )
    assert done.status_code == 200
    assert b"Password changed" in done.content
    assert b"lock after failed logins is lifted" in done.content
    user.refresh_from_db()
    assert user.check_password("a-new-long-password-7")
    assert not AccessAttempt.objects.filter(username="victim").exists()
    assert _login(client, "a-new-long-password-7").status_code == 302


def test_password_reset_for_an_unknown_address_looks_the_same_and_sends_nothing(client):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.org"})
    assert response.status_code == 302
    assert response.url == reverse("password_reset_done")
    assert mail.outbox == []


def test_a_used_or_forged_reset_link_says_it_does_not_work(client, make_user):
    make_user("victim", email="victim@example.org")
    response = client.get("/accounts/password/reset/MQ/set-password/", follow=True)
    assert response.status_code == 200
    assert b"This link does not work" in response.content
