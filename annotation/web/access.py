"""The one way web views find a project and check the viewer's role in it."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django_htmx.middleware import HtmxDetails

from annotation.models import Project, User
from annotation.selectors.projects import project_with_role_for_user


class AuthedHttpRequest(HttpRequest):
    """A request to a login-required view as the middleware leaves it: a signed-in user and
    django-htmx's details. For type checking; views receive the ordinary request."""

    user: User
    htmx: HtmxDetails


def project_and_role(request: AuthedHttpRequest, slug: str) -> tuple[Project, str]:
    """(project, the viewer's role); 404 for a non-member, as if the project did not exist."""
    found = project_with_role_for_user(user=request.user, slug=slug)
    if found is None:
        raise Http404("No such project")
    return found


def project_for_role(
    request: AuthedHttpRequest, slug: str, roles: frozenset[str], message: str = ""
) -> tuple[Project, str]:
    """(project, role) when the viewer's role is in `roles`; 404 for non-members, else 403."""
    project, role = project_and_role(request, slug)
    if role not in roles:
        raise PermissionDenied(message or "Your role in this project does not allow this.")
    return project, role
