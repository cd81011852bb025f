"""Project backup and restore (the service behind the commands, the REST API and the
project page).

A backup is one gzip-compressed JSONL stream with a version header: the project with its
label schema and instructions, datasets, items with all their content, every annotation
with every revision, adjudications, flags, gold marks, model suggestions with their jobs'
parameters, assignments, and the members by username (`annotation.backup.writer` has the
format). Restoring it gives a project whose agreement figures and exports are the same,
byte for byte, as the original's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from django.db import transaction
from django.utils import timezone

from annotation.backup.restore import restore
from annotation.backup.writer import backup_chunks, backup_write
from annotation.models import Membership, Project, Role, User


def project_backup_filename(*, project: Project) -> str:
    """The download name of a backup made now."""
    return f"{project.slug}-{timezone.now():%Y%m%d-%H%M%S}.stepwise-backup.jsonl.gz"


def project_backup_chunks(*, project: Project) -> Iterator[bytes]:
    """The backup as byte chunks, produced as they are read (a download streams them)."""
    return backup_chunks(project=project)


def project_backup_write(*, project: Project, out: BinaryIO) -> int:
    """Write the backup of `project` to the binary file `out`; returns its size in bytes."""
    return backup_write(project=project, out=out)


def project_restore(
    *, stream: BinaryIO, slug: str | None = None, user: User | None = None
) -> Project:
    """Restore a backup as a new project, all or nothing.

    `slug` gives the project a new slug (required when the backup's slug exists). `user`,
    when given (a restore from the web or REST), becomes a manager of the restored project
    so they can reach it. Raises ApplicationError for a file that is not a backup, a newer
    backup format, a slug that exists, or any row that does not fit; nothing is written then.
    """
    with transaction.atomic():
        project = restore(stream=stream, slug=slug or None)
        if user is not None:
            Membership.objects.update_or_create(
                project=project, user=user, defaults={"role": Role.MANAGER}
            )
    return project
