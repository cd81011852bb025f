"""Reads about users."""

from __future__ import annotations

from rest_framework.authtoken.models import Token

from annotation.models import User


def user_api_token_get(*, user: User) -> Token | None:
    return Token.objects.filter(user=user).first()
