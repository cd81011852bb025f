"""What a project backup holds: one section per model, registered by the app that owns it.

A section names a model and how its rows reach their project (`project_path`, a lookup);
the rows themselves are serialised generically from the model's `_meta` (every concrete
field, foreign keys remapped through id maps on restore), so a field added to a model is
backed up and restored without touching this package. What generic remapping cannot see
is declared here:

- `soft_refs`: plain integer columns that hold another model's id (Suggestion.job_id holds
  a labeling_jobs.LabelingJob id without a foreign key, so that annotation does not depend
  on labeling_jobs);
- `depends_on`: models whose rows must be restored first (ids inside JSON values);
- `transform`: a restore-time hook that rewrites a row's values (ids inside JSON, states
  that cannot be resumed after a restore);
- `fields_left_out`: columns deliberately not written, each with the reason (a restore gives
  them their defaults), e.g. a background run's heartbeat from the original server's worker.

Each app registers its sections from its `AppConfig.ready()` (`annotation.backup.sections`
for annotation's own, `labeling_jobs.backup`), so `annotation` never imports other apps.
Models that are deliberately left out are registered with the reason (`backup_exclude`); a
test fails when a model of `annotation` or `labeling_jobs` is in neither list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from annotation.backup.idmap import IdMaps

# The User model is backed up by username with these fields only; never passwords,
# permissions or staff flags (a backup file must not be able to grant them).
USER_FIELDS = ("username", "first_name", "last_name", "email", "kind")
USER_FIELDS_LEFT_OUT = {
    "password": "never leaves the server; restored users get an unusable password",
    "last_login": "session history of the original server",
    "is_superuser": "a backup must not grant permissions",
    "is_staff": "a backup must not grant permissions",
    "can_create_projects": "a backup must not grant permissions",
    "is_active": "restored users are active; deactivate them on the new server",
    "date_joined": "set when the user is created on the new server",
}
USER_SECTION = "user"


@dataclass(frozen=True)
class BackupSection:
    model: type[models.Model]
    # Lookup from the model to its Project ("" for Project itself): rows are selected by
    # model.objects.filter(**{project_path: project}).
    project_path: str
    soft_refs: Mapping[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    transform: Callable[[dict[str, Any], IdMaps], None] | None = None
    # attname -> why the column is not in backups.
    fields_left_out: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.model._meta.label_lower


def related_label(f: models.Field[Any, Any]) -> str:
    """`app.model` of the model a relation field points to."""
    model = f.related_model
    if not isinstance(model, type):
        raise TypeError(f"{f} points to an unresolved model {model!r}")
    return model._meta.label_lower


_SECTIONS: dict[str, BackupSection] = {}
_EXCLUDED: dict[str, str] = {}


def backup_section_register(section: BackupSection) -> None:
    """Add (or replace, on a repeated `ready()`) the section of a model."""
    _SECTIONS[section.label] = section


def backup_exclude(model: type[models.Model], reason: str) -> None:
    """Record that a model is deliberately not in backups, and why."""
    _EXCLUDED[model._meta.label_lower] = reason


def backup_excluded() -> dict[str, str]:
    return dict(_EXCLUDED)


def backup_sections() -> list[BackupSection]:
    """Every registered section, each after the sections its rows refer to."""
    deps: dict[str, set[str]] = {}
    for label, section in _SECTIONS.items():
        refs = {
            related_label(f)
            for f in section.model._meta.concrete_fields
            if f.is_relation and f.related_model is not None
        }
        refs |= set(section.soft_refs.values()) | set(section.depends_on)
        deps[label] = {r for r in refs if r in _SECTIONS and r != label}
    ordered: list[BackupSection] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(label: str) -> None:
        if label in done:
            return
        if label in visiting:
            raise RuntimeError(f"backup sections refer to each other in a cycle at {label}")
        visiting.add(label)
        for dep in sorted(deps[label]):
            visit(dep)
        visiting.discard(label)
        done.add(label)
        ordered.append(_SECTIONS[label])

    for label in sorted(_SECTIONS):
        visit(label)
    return ordered


def backup_section_get(label: str) -> BackupSection | None:
    return _SECTIONS.get(label)
