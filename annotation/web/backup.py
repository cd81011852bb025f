"""Backup and restore from the project page (managers).

GET  /projects/<slug>/backup/   the project's backup, streamed as it is written
POST /backups/restore/          an uploaded backup restored as a new project: like creating
                                one, only for those who may create projects (403 otherwise);
                                the form sits on the project page for now
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from annotation.errors import ApplicationError
from annotation.selectors.projects import MANAGE, project_with_role_for_user
from annotation.selectors.users import user_can_create_projects
from annotation.services.backups import (
    project_backup_chunks,
    project_backup_filename,
    project_restore,
)
from annotation.web.access import AuthedHttpRequest, project_for_role


class ProjectRestoreForm(forms.Form):
    file = forms.FileField(label="Backup file")
    slug = forms.SlugField(
        max_length=80, required=False, label="New slug",
        help_text="Needed when a project with the backup's slug exists.",
    )  # fmt: skip
    # The page the form was sent from, to return to with the error.
    back = forms.SlugField(max_length=80, required=False, widget=forms.HiddenInput)

    def clean_file(self) -> object:
        upload = self.cleaned_data["file"]
        limit = settings.STEPWISE_IMPORT_MAX_FILE_BYTES
        if upload.size is not None and upload.size > limit:
            raise forms.ValidationError(f"The file is larger than the limit of {limit} bytes.")
        return upload


@login_required
@require_GET
def project_backup(request: AuthedHttpRequest, slug: str) -> StreamingHttpResponse:
    """Managers download the project's backup (404 for non-members, 403 for other roles)."""
    project, _ = project_for_role(
        request, slug, MANAGE, "Only the project's managers can download its backup."
    )
    response = StreamingHttpResponse(
        project_backup_chunks(project=project), content_type="application/gzip"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="{project_backup_filename(project=project)}"'
    )
    return response


@login_required
@require_POST
def project_restore_upload(request: AuthedHttpRequest) -> HttpResponse:
    """Restore an uploaded backup; on success go to the new project, else back with why.
    A restore creates a project, so it needs the site-level permission to create one."""
    if not user_can_create_projects(user=request.user):
        raise PermissionDenied("You may not create projects; ask an administrator.")
    form = ProjectRestoreForm(request.POST, request.FILES, prefix="restore")
    back = request.POST.get("restore-back") or ""
    found = project_with_role_for_user(user=request.user, slug=back) if back else None
    came_from = found[0] if found else None

    def go_back() -> HttpResponse:
        return redirect("project_detail", slug=came_from.slug) if came_from else redirect("home")

    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                messages.error(request, f"Restore: {field}: {error}")
        return go_back()
    try:
        project = project_restore(
            stream=form.cleaned_data["file"].file,
            slug=form.cleaned_data["slug"] or None,
            user=request.user,
        )
    except ApplicationError as exc:
        messages.error(request, f"Restore failed, nothing was changed: {exc.message}")
        return go_back()
    messages.success(
        request,
        f"Restored “{project.name}” as {project.slug} with {project.items.count():,} items; "
        "you are its manager.",
    )
    return redirect("project_detail", slug=project.slug)
