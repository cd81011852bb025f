"""Writes on users: imported annotators, API tokens, login lockouts, site permissions."""

from __future__ import annotations

from axes.utils import reset as axes_reset
from django.db import transaction
from rest_framework.authtoken.models import Token

from annotation.models import User


def user_imported_get_or_create(*, username: str) -> User:
    """The annotator that stands for an imported source (e.g. `processbench-experts`).

    It cannot log in; its annotations carry source=imported.
    """
    user, created = User.objects.get_or_create(
        username=username[:150], defaults={"kind": User.Kind.IMPORTED}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def user_api_token_regenerate(*, user: User) -> tuple[Token, bool]:
    """A fresh API token for `user`; the old one, if any, stops working. Returns (token, had)."""
    had = Token.objects.filter(user=user).delete()[0] > 0
    return Token.objects.create(user=user), had


@transaction.atomic
def user_api_token_get_or_create(*, user: User) -> Token:
    """The user's API token, made on first use (the token endpoint hands out the same one)."""
    token, _ = Token.objects.get_or_create(user=user)
    return token


def user_login_unlock(*, username: str) -> int:
    """Clear the failed logins recorded for `username` (django-axes), from every address, so
    a locked-out user can log in at once. Returns how many records were removed (0 when none,
    also for a username that does not exist)."""
    return int(axes_reset(username=username))


@transaction.atomic
def user_project_creation_set(*, user: User, allowed: bool) -> User:
    """Grant or revoke the site-level permission to create projects."""
    if user.can_create_projects != allowed:
        user.can_create_projects = allowed
        user.save(update_fields=["can_create_projects"])
    return user
