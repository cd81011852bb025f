"""Showing an ApplicationError on a server-rendered form."""

from __future__ import annotations

from django import forms

from annotation.errors import ApplicationError


def form_add_error(form: forms.BaseForm, exc: ApplicationError) -> None:
    """Attach the error to the form field it names (its first path segment: `label_schema`
    for `label_schema.mode`), or to the form as a whole."""
    field = (exc.field or "").split(".")[0].split("[")[0]
    form.add_error(field if field in form.fields else None, exc.message)
