"""Writes on users: imported annotators and demo accounts."""

from __future__ import annotations

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
