"""The demo: users, one project per kind, and sample data written for Stepwise."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from annotation.kinds import LABEL_KINDS
from annotation.models import Project, Role, User
from annotation.services.imports import dataset_import
from annotation.services.projects import membership_set, project_create

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"

DEMO_USERS: dict[str, str] = {
    "manager": Role.MANAGER,
    "annotator1": Role.ANNOTATOR,
    "annotator2": Role.ANNOTATOR,
    "reviewer": Role.REVIEWER,
    "researcher": Role.RESEARCHER,
}

# One demo project per label kind, declared by the kind.
DEMO_PROJECTS: list[dict[str, Any]] = [
    {**kind.demo, "kind": kind.kind} for kind in LABEL_KINDS.values()
]


@dataclass
class DemoResult:
    created_users: list[str] = field(default_factory=list)
    password: str | None = None
    created_projects: list[str] = field(default_factory=list)
    imported: dict[str, int] = field(default_factory=dict)


@transaction.atomic
def demo_setup(*, password: str | None = None) -> DemoResult:
    """Create what is missing of the demo; idempotent. A generated password is returned only
    when users were created by this call (it is printed once)."""
    result = DemoResult()
    missing = [u for u in DEMO_USERS if not User.objects.filter(username=u).exists()]
    if missing:
        result.password = password or secrets.token_urlsafe(9)
    users = {}
    for username in DEMO_USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            # An address, so the password-reset flow has somewhere to send (the console, here).
            user = User.objects.create_user(
                username=username, password=result.password, email=f"{username}@example.org"
            )
            if username == "manager":
                # The demo manager creates projects and unlocks accounts.
                user.is_staff = True
                user.can_create_projects = True
                user.save(update_fields=["is_staff", "can_create_projects"])
            result.created_users.append(username)
        users[username] = user
    for spec in DEMO_PROJECTS:
        project = Project.objects.filter(slug=spec["slug"]).first()
        if project is None:
            project = project_create(
                name=spec["name"],
                slug=spec["slug"],
                kind=spec["kind"],
                created_by=users["manager"],
                overlap=spec["overlap"],
                instructions=spec["instructions"],
            )
            result.created_projects.append(project.slug)
        for username, role in DEMO_USERS.items():
            membership_set(project=project, user=users[username], role=role)
        with open(DEMO_DIR / spec["file"], "rb") as fh:
            imported = dataset_import(
                project=project,
                dataset_name=spec["dataset"],
                fmt="native",
                stream=fh,
                user=users["manager"],
                dataset_license="CC0-1.0",
                dataset_provenance="Written for the Stepwise demo.",
            )
        if not imported.ok:
            # The demo's own files are broken: a bug, not a user's mistake.
            raise RuntimeError(
                f"demo data {spec['file']}: {imported.message} {imported.errors[:3]}"
            )
        result.imported[project.slug] = imported.items_created
    return result
