"""Reads of projects and memberships, always scoped to what the user may see."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from annotation.models import Membership, Project, Role, User

# What each role may do. Roles are per project; a superuser acts as manager everywhere.
READ_ITEMS = frozenset({Role.MANAGER, Role.REVIEWER, Role.RESEARCHER})
MANAGE = frozenset({Role.MANAGER})
LIST_MEMBERS = frozenset({Role.MANAGER, Role.REVIEWER})
ALL_ROLES = frozenset(Role)


def project_list_for_user(*, user: User) -> QuerySet[Project]:
    qs = (
        Project.objects.all()
        if user.is_superuser
        else Project.objects.filter(memberships__user=user)
    )
    return qs.annotate(item_count=Count("items", distinct=True)).order_by("name")


def project_with_role_for_user(*, user: User, slug: str) -> tuple[Project, str] | None:
    """(project, the user's role) in one query, or None for a non-member (callers answer
    404). A superuser acts as manager everywhere."""
    if user.is_superuser:
        project = Project.objects.filter(slug=slug).first()
        return (project, Role.MANAGER) if project else None
    membership = (
        Membership.objects.select_related("project").filter(project__slug=slug, user=user).first()
    )
    return (membership.project, membership.role) if membership else None


def membership_list(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("role", "user__username")


def project_get_by_slug(*, slug: str) -> Project | None:
    """For the command line, which acts without a user: any project by slug."""
    return Project.objects.filter(slug=slug).first()


def membership_get(*, project: Project, user: User) -> Membership | None:
    return project.memberships.select_related("user").filter(user=user).first()
