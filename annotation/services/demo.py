"""The demo: users, one project per kind, and sample data written for Stepwise."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from annotation.models import Project, ProjectKind, Role, User
from annotation.services.imports import dataset_import
from annotation.services.projects import membership_set, project_create

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"

DEMO_USERS: dict[str, str | None] = {
    "manager": Role.MANAGER,
    "annotator1": Role.ANNOTATOR,
    "annotator2": Role.ANNOTATOR,
    "reviewer": Role.REVIEWER,
    "researcher": Role.RESEARCHER,
}

DEMO_PROJECTS = [
    {
        "slug": "demo-math-steps",
        "name": "Demo: grade-school math steps",
        "kind": ProjectKind.STEP_LABELS,
        "overlap": 2,
        "file": "math_traces.jsonl",
        "dataset": "Demo math traces",
        "instructions": (
            "Rate every step of the solution.\n\n"
            "* **+1 right**: correct, verifiable in about 30 seconds, and moves the solution forward.\n"
            "* **0 neutral**: correct but makes no progress.\n"
            "* **-1 wrong**: incorrect, off-topic, or a dead end.\n\n"
            "Finish with *found an error*, *solution is fine*, *bad problem* or *gave up*."
        ),
    },
    {
        "slug": "demo-counseling-coding",
        "name": "Demo: counseling turn coding",
        "kind": ProjectKind.DIALOGUE_CODING,
        "overlap": 2,
        "file": "counseling_dialogues.jsonl",
        "dataset": "Demo counseling dialogues",
        "instructions": (
            "Code each turn. Therapist turns: reflection, question, therapist input, other. "
            "Client turns: change talk, neutral, sustain talk (as in AnnoMI)."
        ),
    },
    {
        "slug": "demo-counseling-preference",
        "name": "Demo: counseling response preference",
        "kind": ProjectKind.PREFERENCE,
        "overlap": 2,
        "file": "counseling_preferences.jsonl",
        "dataset": "Demo counseling responses",
        "instructions": (
            "Read the client's message, then compare the two therapist responses. Choose how much "
            "better one is (-3..+3), rate each response under every principle, and justify your "
            "choice in a sentence or two naming the responses.\n\n"
            "*Content note: some messages mention distress or self-harm.*"
        ),
    },
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
            raise ValueError(f"demo data {spec['file']}: {imported.message} {imported.errors[:3]}")
        result.imported[project.slug] = imported.items_created
    return result
