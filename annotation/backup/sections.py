"""The annotation app's backup sections and the models it leaves out (with the reason)."""

from __future__ import annotations

from annotation.backup.registry import BackupSection, backup_exclude, backup_section_register
from annotation.models import (
    Annotation,
    AnnotationRevision,
    Assignment,
    Candidate,
    Dataset,
    ExportRun,
    Flag,
    ImportRun,
    Item,
    Membership,
    PreferenceLabel,
    PrincipleRating,
    Project,
    ProjectStat,
    StatsRefresh,
    Step,
    StepLabel,
    StudyLink,
    StudyWorker,
    Suggestion,
    Turn,
    TurnLabel,
    WorkerHeartbeat,
)

_done = False


def register() -> None:
    global _done
    if _done:
        return
    for model, path in (
        (Project, ""),
        (Membership, "project"),
        (Dataset, "project"),
        (Item, "project"),
        (Step, "item__project"),
        (Turn, "item__project"),
        (Candidate, "item__project"),
        (Annotation, "item__project"),
        (StepLabel, "annotation__item__project"),
        (TurnLabel, "annotation__item__project"),
        (PreferenceLabel, "annotation__item__project"),
        (PrincipleRating, "annotation__item__project"),
        (AnnotationRevision, "annotation__item__project"),
        (Assignment, "project"),
        (Flag, "item__project"),
    ):
        backup_section_register(BackupSection(model=model, project_path=path))
    # job_id holds a labeling_jobs.LabelingJob id (no foreign key, so that this app does not
    # depend on labeling_jobs); it is remapped when that app registered its jobs.
    backup_section_register(
        BackupSection(
            model=Suggestion,
            project_path="item__project",
            soft_refs={"job_id": "labeling_jobs.labelingjob"},
        )
    )
    backup_exclude(ImportRun, "upload history: its uploaded files are not in the backup")
    backup_exclude(ExportRun, "export history: its files are not in the backup; export again")
    backup_exclude(
        ProjectStat,
        "derived dashboard figures (they hold ids of the original rows); refreshed on demand",
    )
    backup_exclude(
        StatsRefresh,
        "history of dashboard recomputations (like ProjectStat, derived); refreshed on demand",
    )
    backup_exclude(WorkerHeartbeat, "the server's workers, not project data")
    backup_exclude(
        StudyLink,
        "crowd-study recruitment on this server (a secret URL token); the workers' labels are "
        "backed up as annotations of their accounts; create a new link after a restore",
    )
    backup_exclude(
        StudyWorker,
        "payment bookkeeping of a study link (left out with it); the workers' labels are kept",
    )
    _done = True
