"""What the backup tests compare: a project's rows (ids replaced by positions, users by
username), its agreement figures and its exports."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from annotation.backup.registry import BackupSection, backup_sections
from annotation.exporters import EXPORTERS
from annotation.exporters.pipeline import export_write
from annotation.models import Project, User
from annotation.selectors.agreement import agreement_report
from annotation.services.backups import project_backup_write


def backup_bytes(project: Project) -> bytes:
    out = io.BytesIO()
    project_backup_write(project=project, out=out)
    return out.getvalue()


def _rows(section: BackupSection, project: Project):  # noqa: ANN202
    manager = section.model._base_manager
    if not section.project_path:
        return manager.filter(pk=project.pk).order_by("pk")
    return manager.filter(**{section.project_path: project}).order_by("pk")


def project_rows(project: Project) -> dict[str, list[dict[str, Any]]]:
    """Every backed-up row of the project, every concrete field; foreign keys (and soft
    references) as (model, position among the project's rows of that model), users as
    usernames, item and dataset ids inside labeling-job JSON as positions too."""
    sections = backup_sections()
    ranks = {
        s.label: {pk: n for n, pk in enumerate(_rows(s, project).values_list("pk", flat=True))}
        for s in sections
    }
    usernames = dict(User.objects.values_list("id", "username"))
    user_label = User._meta.label_lower

    def ref(label: str, value: Any) -> Any:
        if value is None:
            return None
        if label == user_label:
            return usernames[value]
        return (label, ranks[label].get(value, f"missing {value}"))

    out: dict[str, list[dict[str, Any]]] = {}
    for s in sections:
        fields = [
            f
            for f in s.model._meta.concrete_fields
            if not f.primary_key and f.attname not in s.fields_left_out
        ]
        rows = []
        for values in _rows(s, project).values(*[f.attname for f in fields]):
            row = {}
            for f in fields:
                v = values[f.attname]
                if f.is_relation:
                    v = ref(f.related_model._meta.label_lower, v)
                elif f.attname in s.soft_refs and s.soft_refs[f.attname] in ranks and v:
                    v = ref(s.soft_refs[f.attname], v)
                row[f.attname] = v
            if s.label == "labeling_jobs.labelingjob":
                scope = dict(row["scope"])
                scope["item_ids"] = [ref("annotation.item", i) for i in scope.get("item_ids", [])]
                if scope.get("dataset_id"):
                    scope["dataset_id"] = ref("annotation.dataset", scope["dataset_id"])
                row["scope"] = scope
            if s.label == "labeling_jobs.jobchunk":
                row["item_ids"] = [ref("annotation.item", i) for i in row["item_ids"]]
            if s.model is Project:
                row.pop("slug")
            rows.append(row)
        out[s.label] = rows
    return out


def _without_ids(value: Any) -> Any:
    """Agreement figures with the raters' user ids dropped (their names stay)."""
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


EXPORT_OPTIONS = {
    "step_labels": [{}, {"labels": "per_annotator"}, {"mc_values": True, "test_size": 0.3}],
    "preference": [{}, {"labels": "per_annotator"}, {"ties": "separate", "test_size": 0.3}],
    "dialogue_coding": [],
}


def export_files(out: Path, *, row_ids: bool = False) -> dict[str, bytes]:
    """Every file of an export, the times of its making and labeling-job ids (rows that a
    restore gives new ids) blanked; with `row_ids`, every numeric `"id"` too (a format that
    carries database ids: Label Studio's task and annotation ids)."""
    manifest = json.loads((out / "manifest.json").read_text())
    times = [manifest["created_at"], manifest["agreement"].get("computed_at")]
    files = {}
    for path in sorted(out.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            for t in filter(None, times):
                data = data.replace(t.encode(), b"<time>")
            data = re.sub(rb'"job_id": \d+', b'"job_id": 0', data)
            data = re.sub(rb"\(job \d+\)", b"(job 0)", data)
            if row_ids:  # and so the files' sizes and digests in the manifest
                data = re.sub(rb'"id": \d+', b'"id": 0', data)
                data = re.sub(rb'"(bytes|sha256)": ("[0-9a-f]+"|\d+)', rb'"\1": 0', data)
            files[str(path.relative_to(out))] = data
    return files


def figures(project: Project, tmp: Path) -> dict[str, Any]:
    """The project's agreement report and every export (a few option sets per format)."""
    out: dict[str, Any] = {"agreement": _without_ids(agreement_report(project=project))}
    for fmt, cls in EXPORTERS.items():
        if project.kind not in cls.project_kinds:
            continue
        for n, options in enumerate(EXPORT_OPTIONS[project.kind]):
            folder = tmp / f"{project.slug}-{fmt}-{n}"
            export_write(project=project, fmt=fmt, options=options, out_dir=folder)
            out[f"{fmt}-{n}"] = export_files(folder, row_ids=fmt == "label_studio")
    return out
