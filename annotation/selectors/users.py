"""Reads about users."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework.authtoken.models import Token

from annotation.models import User


def user_api_token_get(*, user: User) -> Token | None:
    return Token.objects.filter(user=user).first()


def user_can_create_projects(*, user: User) -> bool:
    """Creating a project makes its creator a manager, so it is a site-level permission:
    superusers, staff, and users given `can_create_projects`."""
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_superuser or user.is_staff or user.can_create_projects)
    )


def user_list_addable_by(*, requester: User) -> QuerySet[User]:
    """The accounts `requester` may add to a project: active people (never imported sources
    or models). Those who may create projects onboard anyone; any other manager only people
    who already share a project with them, so a manager cannot probe which usernames exist.
    Callers answer a username outside this set exactly as one that does not exist."""
    people = User.objects.filter(is_active=True, kind=User.Kind.HUMAN)
    if user_can_create_projects(user=requester):
        return people
    return people.filter(memberships__project__memberships__user=requester).distinct()


def user_find(*, identifier: str, among: QuerySet[User] | None = None) -> User | None:
    """The account (of `among`, default all) with this username, or else this email (case
    insensitive); None when there is none, or when several accounts share the email."""
    identifier = identifier.strip()
    if not identifier:
        return None
    users = User.objects.all() if among is None else among
    user = users.filter(username=identifier).first()
    if user is not None or "@" not in identifier:
        return user
    matches = list(users.filter(email__iexact=identifier)[:2])
    return matches[0] if len(matches) == 1 else None


def user_find_addable(*, requester: User, identifier: str) -> User | None:
    """`user_find` among the accounts `requester` may add (`user_list_addable_by`)."""
    return user_find(identifier=identifier, among=user_list_addable_by(requester=requester))
