"""Per-project role checks for the API.

Every project-scoped view names, per HTTP method, the roles that may call it
(`ProjectScopedApi.roles`). `ProjectRole` resolves the project from the URL's slug through
`project_with_role_for_user`: a caller who is not a member gets 404, exactly as if the project did
not exist, so slugs of other projects do not leak; a member whose role is not allowed gets 403.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from annotation.models import User
from annotation.selectors.projects import project_with_role_for_user
from annotation.selectors.users import user_can_create_projects

if TYPE_CHECKING:
    from rest_framework.views import APIView


class ProjectRole(BasePermission):
    """Sets `view.project` and `view.role`; allows the roles `view.roles[method]`.

    A method missing from `view.roles` is allowed to no one. Runs after `IsAuthenticated`, so
    an anonymous caller gets 401 before any project is looked up.
    """

    message = "Your role in this project does not allow this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not isinstance(request.user, User):
            return False  # IsAuthenticated answered 401 already
        found = project_with_role_for_user(user=request.user, slug=view.kwargs["slug"])
        if found is None:
            raise NotFound("No such project.")
        project, role = found
        scoped: Any = view  # a ProjectScopedApi: it declares `project`, `role` and `roles`
        scoped.project = project
        scoped.role = role
        roles: dict[str, Any] = getattr(view, "roles", {})
        return role in roles.get(request.method or "", ())


class CanCreateProjects(BasePermission):
    """POST only for users with the site-level permission to create projects (staff,
    superusers, `can_create_projects`); other methods pass."""

    message = "You may not create projects; ask an administrator."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method != "POST":
            return True
        return isinstance(request.user, User) and user_can_create_projects(user=request.user)


class IsStaff(BasePermission):
    """Staff and superusers: site administration (unlocking accounts)."""

    message = "Only administrators can do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user.is_authenticated and (user.is_staff or user.is_superuser))
