"""Reads of projects and memberships, always scoped to what the user may see."""

from __future__ import annotations

from django.db import connection
from django.db.models import Count, QuerySet

from annotation.models import Membership, Project, Role, User
from annotation.selectors.rows import model_columns, model_from_row

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
    # Every API and page request starts here: plain SQL, not a compiled join of two models.
    columns = model_columns(Project, "p")
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT m.role, {columns} FROM {Membership._meta.db_table} m "  # noqa: S608
            f"JOIN {Project._meta.db_table} p ON p.id = m.project_id "
            "WHERE p.slug = %s AND m.user_id = %s ORDER BY m.id LIMIT 1",
            [slug, user.id],
        )
        row = cur.fetchone()
    if row is None:
        return None
    return model_from_row(Project, row[1:]), row[0]


def membership_list(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("role", "user__username")


def project_get_by_slug(*, slug: str) -> Project | None:
    """For the command line, which acts without a user: any project by slug."""
    return Project.objects.filter(slug=slug).first()


def membership_get(*, project: Project, user: User) -> Membership | None:
    return project.memberships.select_related("user").filter(user=user).first()
