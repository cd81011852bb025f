"""Writes on projects, memberships and datasets."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from annotation.errors import ApplicationError
from annotation.kinds import label_schema_validate
from annotation.models import Dataset, Membership, Project, Role, User
from annotation.selectors.users import user_find_addable
from annotation.services.project_settings import (
    items_completeness_sync,
    project_schema_set,
    schema_settings_split,
)


@transaction.atomic
def project_create(
    *,
    name: str,
    kind: str,
    created_by: User | None,
    slug: str = "",
    label_schema: dict[str, Any] | None = None,
    overlap: int = 1,
    instructions: str = "",
    show_suggestions: bool = True,
) -> Project:
    """Create a project; its creator becomes its manager. Raises ApplicationError naming the
    field.

    Without a slug, a free one is derived from the name (`name`, `name-2`, ...). A given slug
    that is taken raises ApplicationError(code="conflict") whose message does not say whether
    a project holds it, since the caller may not be allowed to see that project.
    """
    label_schema, legacy = schema_settings_split(label_schema)
    schema = label_schema_validate(kind, label_schema)
    if overlap < 1:
        raise ApplicationError("must be at least 1", field="overlap")
    if slug:
        if Project.objects.filter(slug=slug).exists():
            raise _slug_unavailable()
    else:
        base = slugify(name)[:80].strip("-")
        if not base:
            raise ApplicationError("cannot be derived from the name; give one", field="slug")
        slug = _slug_free(base)
    try:
        with transaction.atomic():
            project = Project.objects.create(
                name=name,
                slug=slug,
                kind=kind,
                label_schema=schema,
                overlap=overlap,
                instructions=instructions,
                show_suggestions=show_suggestions,
                created_by=created_by,
                **legacy,
            )
    except IntegrityError:
        # A concurrent create took the slug between the check and the insert.
        raise _slug_unavailable() from None
    if created_by is not None:
        Membership.objects.create(project=project, user=created_by, role=Role.MANAGER)
    return project


def _slug_unavailable() -> ApplicationError:
    return ApplicationError(
        "This slug is not available; choose another.", code="conflict", field="slug"
    )


def _slug_free(base: str) -> str:
    """`base`, or `base-N` with the smallest N >= 2 that no project uses."""
    taken = set(Project.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    if base not in taken:
        return base
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = base[: 80 - len(suffix)].rstrip("-") + suffix
        if candidate not in taken and not Project.objects.filter(slug=candidate).exists():
            return candidate
        n += 1


@transaction.atomic
def project_update(*, project: Project, **fields: Any) -> Project:
    """Change editable project fields; the label schema is re-validated."""
    allowed = {"name", "description", "label_schema", "overlap", "instructions", "show_suggestions"}
    unknown = set(fields) - allowed
    if unknown:
        raise ApplicationError("cannot be changed", code="read_only", field=sorted(unknown)[0])
    if "label_schema" in fields:
        # The schema editor's checks: valid for the kind, and no labels orphaned.
        project_schema_set(project=project, label_schema=fields.pop("label_schema"))
        project.refresh_from_db(fields=["label_schema"])
    if "overlap" in fields and fields["overlap"] < 1:
        raise ApplicationError("must be at least 1", field="overlap")
    for key, value in fields.items():
        setattr(project, key, value)
    if fields:
        project.save(update_fields=list(fields))
    if "overlap" in fields:
        items_completeness_sync(project=project)
    return project


@transaction.atomic
def membership_set(*, project: Project, user: User, role: str) -> Membership:
    """Add a member or change their role (one membership per user and project)."""
    if role not in Role.values:
        raise ApplicationError(f"must be one of {', '.join(Role.values)}", field="role")
    _managers_lock(project)
    current = Membership.objects.filter(project=project, user=user).first()
    if (
        current is not None
        and current.role == Role.MANAGER
        and role != Role.MANAGER
        and project.memberships.filter(role=Role.MANAGER).count() == 1
    ):
        raise ApplicationError(
            "a project keeps at least one manager", code="last_manager", field="role"
        )
    membership, _ = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership


def _managers_lock(project: Project) -> None:
    # Two managers demoting or removing each other at once must not both pass the
    # "at least one manager" check: lock the manager rows first.
    list(project.memberships.select_for_update().filter(role=Role.MANAGER).values_list("id"))


@transaction.atomic
def membership_add(*, project: Project, requester: User, identifier: str, role: str) -> Membership:
    """Add the user named by username or email (or change their role if already a member).

    Only users `requester` may add (`user_list_addable_by`) are found; any other name gets the
    same error as one that does not exist, so a manager cannot probe for accounts.
    """
    user = user_find_addable(requester=requester, identifier=identifier)
    if user is None:
        raise ApplicationError(
            "No user you can add has this username or email.", code="invalid", field="user"
        )
    return membership_set(project=project, user=user, role=role)


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    project = membership.project
    _managers_lock(project)
    if (
        membership.role == Role.MANAGER
        and project.memberships.filter(role=Role.MANAGER).count() == 1
    ):
        raise ApplicationError(
            "a project keeps at least one manager", code="last_manager", field="role"
        )
    membership.delete()


def dataset_create(
    *,
    project: Project,
    name: str,
    source_format: str = "native",
    license: str = "",  # noqa: A002
    provenance: str = "",
    created_by: User | None = None,
) -> Dataset:
    if Dataset.objects.filter(project=project, name=name).exists():
        raise ApplicationError(
            f"a dataset {name!r} already exists in this project", code="duplicate", field="name"
        )
    return Dataset.objects.create(
        project=project, name=name, source_format=source_format, license=license,
        provenance=provenance, created_by=created_by,
    )  # fmt: skip
