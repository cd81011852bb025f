"""Managers set a project up in the browser: its settings, its label schema (with a preview
of the labeling form) and its members. Every page is for the project's managers: other
members get 403, non-members 404 (`project_for_role`)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from annotation.errors import ApplicationError
from annotation.kinds import label_kind_for, label_schema_default, label_schema_validate
from annotation.models import Project, Role
from annotation.project_settings import ProjectSetting, project_settings_for
from annotation.selectors.project_settings import (
    project_schema_orphans,
    project_schema_preview_item,
    project_settings_get,
)
from annotation.selectors.projects import MANAGE, membership_list
from annotation.services.project_settings import project_schema_set, project_settings_update
from annotation.services.projects import membership_add, membership_remove, membership_set
from annotation.web.access import AuthedHttpRequest, project_for_role
from annotation.web.errors import form_add_error
from annotation.web.labeling import sides, task_context
from annotation.web.rendering import rich_text

ONLY_MANAGERS = "Only the project's managers can change its settings."
SCHEMA_MAX_CHARS = 100_000


def _manager_project(request: AuthedHttpRequest, slug: str) -> Project:
    project, _ = project_for_role(request, slug, MANAGE, ONLY_MANAGERS)
    return project


# --- settings ------------------------------------------------------------------------------


def _form_field(setting: ProjectSetting) -> forms.Field:
    common: dict[str, Any] = {"label": setting.label, "help_text": setting.help}
    if setting.type == "text":
        return forms.CharField(max_length=setting.max_length, required=setting.required, **common)
    if setting.type in ("textarea", "markdown"):
        rows = 12 if setting.type == "markdown" else 3
        attrs = {"rows": rows, "class": "mono" if setting.type == "markdown" else ""}
        return forms.CharField(
            max_length=setting.max_length, required=False, strip=False,
            widget=forms.Textarea(attrs=attrs), **common,
        )  # fmt: skip
    if setting.type == "int":
        return forms.IntegerField(**setting.bounds(), **common)
    if setting.type == "float":
        return forms.FloatField(
            **setting.bounds(),
            widget=forms.NumberInput(attrs={"step": "0.01"}), **common,
        )  # fmt: skip
    if setting.type == "bool":
        return forms.BooleanField(required=False, **common)
    return forms.ChoiceField(choices=setting.choices, **common)


def settings_form_class(settings: list[ProjectSetting]) -> type[forms.Form]:
    """A form with one field per setting, in the declared order."""
    fields = {s.name: _form_field(s) for s in settings}
    return type("ProjectSettingsForm", (forms.Form,), fields)


def _sections(form: forms.Form, settings: list[ProjectSetting]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for s in settings:
        if not out or out[-1]["title"] != s.section:
            out.append({"title": s.section, "fields": []})
        out[-1]["fields"].append({"bound": form[s.name], "type": s.type})
    return out


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    """The settings form; a valid POST saves every setting at once (all or nothing)."""
    project = _manager_project(request, slug)
    settings = project_settings_for(project)
    form_class = settings_form_class(settings)
    status = 200
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            try:
                project = project_settings_update(project=project, values=form.cleaned_data)
            except ApplicationError as exc:
                form_add_error(form, exc)
            else:
                messages.success(request, "Settings saved.")
                return redirect("project_settings", slug=project.slug)
        status = 400
    else:
        form = form_class(initial=project_settings_get(project=project))
    context = {
        "project": project,
        "tab": "settings",
        "form": form,
        "sections": _sections(form, settings),
        "instructions_html": rich_text(project.instructions),
    }
    return render(request, "web/project_settings.html", context, status=status)


@login_required
@require_POST
def instructions_preview(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    """The instructions as annotators will see them (htmx, while the manager types)."""
    _manager_project(request, slug)
    text = request.POST.get("instructions", "")[:100_000]
    return render(
        request,
        "web/project_settings.html#instructions-preview",
        {"instructions_html": rich_text(text)},
    )


# --- label schema --------------------------------------------------------------------------


class SchemaForm(forms.Form):
    label_schema = forms.CharField(
        max_length=SCHEMA_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 24, "class": "mono", "spellcheck": "false"}),
        label="Label schema (JSON)",
    )

    def clean_label_schema(self) -> Any:
        try:
            value = json.loads(self.cleaned_data["label_schema"])
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None
        except RecursionError:
            raise forms.ValidationError("Not valid JSON: nested too deeply.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("The schema is a JSON object.")
        return value


def _schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False)


def _schema_page(
    request: AuthedHttpRequest, project: Project, form: SchemaForm, status: int = 200, **extra: Any
) -> HttpResponse:
    context = {
        "project": project,
        "tab": "schema",
        "form": form,
        "schema_help": label_kind_for(project).schema_help,
        "default_schema": _schema_text(label_schema_default(project.kind)),
        **extra,
    }
    return render(request, "web/project_schema.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def project_schema(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    """The label schema editor: a POST is validated by the project's label kind and refused,
    with the reason, when invalid or when it would orphan existing labels."""
    project = _manager_project(request, slug)
    if request.method == "GET":
        form = SchemaForm(initial={"label_schema": _schema_text(project.label_schema or {})})
        return _schema_page(request, project, form)
    form = SchemaForm(request.POST)
    if form.is_valid():
        try:
            project = project_schema_set(
                project=project, label_schema=form.cleaned_data["label_schema"]
            )
        except ApplicationError as exc:
            form.add_error(
                "label_schema",
                f"{exc.field}: {exc.message}"
                if exc.field and exc.field != "label_schema"
                else exc.message,
            )
        else:
            messages.success(request, "Label schema saved.")
            return redirect("project_schema", slug=project.slug)
    return _schema_page(request, project, form, status=400)


@login_required
@require_POST
def project_schema_preview(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    """The labeling form of the project's first item under the schema being edited (htmx),
    with the schema's problems or the annotations it would orphan; nothing is saved."""
    project = _manager_project(request, slug)
    form = SchemaForm(request.POST)
    context: dict[str, Any] = {"project": project}
    if not form.is_valid():
        context["problem"] = " ".join(str(e) for e in form.errors.get("label_schema", []))
        return render(request, "web/project_schema.html#preview", context)
    try:
        schema = label_schema_validate(project.kind, form.cleaned_data["label_schema"])
    except ApplicationError as exc:
        context["problem"] = f"{exc.field}: {exc.message}" if exc.field else exc.message
        return render(request, "web/project_schema.html#preview", context)
    context["orphans"] = project_schema_orphans(project=project, label_schema=schema)
    item = project_schema_preview_item(project=project)
    if item is not None:
        left, right = sides(project, None, item)
        context["task"] = {
            "item": item,
            **task_context(
                project=project, item=item, left_index=left, right_index=right,
                with_suggestions=False, schema=schema,
            ),
        }  # fmt: skip
    return render(request, "web/project_schema.html#preview", context)


# --- members -------------------------------------------------------------------------------


class MemberAddForm(forms.Form):
    user = forms.CharField(
        max_length=254, label="Username or email", help_text="An existing account."
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


def _members_page(
    request: AuthedHttpRequest, project: Project, form: MemberAddForm, status: int = 200
) -> HttpResponse:
    context = {
        "project": project,
        "tab": "members",
        "form": form,
        "members": list(membership_list(project=project)),
        "roles": Role.choices,
    }
    if request.htmx:
        return render(request, "web/project_members.html#members-panel", context, status=status)
    return render(request, "web/project_members.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def project_members(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    """Members and their roles; a POST adds a user by username or email (or changes the
    role of one who is already a member)."""
    project = _manager_project(request, slug)
    if request.method == "GET":
        return _members_page(request, project, MemberAddForm())
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            m = membership_add(
                project=project, requester=request.user,
                identifier=form.cleaned_data["user"], role=form.cleaned_data["role"],
            )  # fmt: skip
        except ApplicationError as exc:
            form_add_error(form, exc)
        else:
            messages.success(request, f"{m.user.get_username()}: {m.get_role_display().lower()}.")
            if request.htmx:
                return _members_page(request, project, MemberAddForm())
            return redirect("project_members", slug=project.slug)
    return _members_page(request, project, form, status=400)


def _membership(project: Project, membership_id: int) -> Any:
    m = membership_list(project=project).filter(id=membership_id).first()
    if m is None:
        raise Http404("No such member")
    return m


@login_required
@require_POST
def project_member_role(request: AuthedHttpRequest, slug: str, membership_id: int) -> HttpResponse:
    project = _manager_project(request, slug)
    m = _membership(project, membership_id)
    try:
        membership_set(project=project, user=m.user, role=request.POST.get("role", ""))
    except ApplicationError as exc:
        messages.error(request, f"{m.user.get_username()}: {exc.message}")
    else:
        messages.success(request, f"{m.user.get_username()}'s role changed.")
    if request.htmx:
        return _members_page(request, project, MemberAddForm())
    return redirect("project_members", slug=project.slug)


@login_required
@require_POST
def project_member_remove(
    request: AuthedHttpRequest, slug: str, membership_id: int
) -> HttpResponse:
    project = _manager_project(request, slug)
    m = _membership(project, membership_id)
    try:
        membership_remove(membership=m)
    except ApplicationError as exc:
        messages.error(request, f"{m.user.get_username()}: {exc.message}")
    else:
        messages.success(request, f"{m.user.get_username()} removed from the project.")
    if request.htmx:
        return _members_page(request, project, MemberAddForm())
    return redirect("project_members", slug=project.slug)
