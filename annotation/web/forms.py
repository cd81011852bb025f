"""Forms of the web pages. They only check shapes; services validate and write."""

from __future__ import annotations

from django import forms

from annotation.importers import FORMAT_NAMES, importer_get
from annotation.models import Project, ProjectKind


class ProjectCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=80, required=False, help_text="Optional; derived from the name when empty."
    )
    kind = forms.ChoiceField(choices=ProjectKind.choices)
    overlap = forms.IntegerField(
        min_value=1, max_value=50, initial=1, help_text="Distinct annotators needed per item."
    )


def format_choices(*, project_kind: str | None = None) -> list[tuple[str, str]]:
    """(name, label) of every importer that loads, limited to those accepting the kind.

    A format whose module is not there yet is left out rather than breaking the page.
    """
    choices = []
    for name in FORMAT_NAMES:
        try:
            importer = importer_get(name)
        except (ImportError, AttributeError):
            continue
        if project_kind and project_kind not in importer.project_kinds:
            continue
        choices.append((name, f"{importer.label} ({name})"))
    return choices


class ImportCreateForm(forms.Form):
    file = forms.FileField()
    format = forms.ChoiceField(choices=())
    dataset_name = forms.CharField(max_length=200)
    label_config = forms.FileField(
        required=False,
        help_text="Label Studio files only: the project's labeling config (XML), from Settings "
        "→ Labeling Interface → Code.",
    )

    def __init__(self, *args: object, project: Project, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["format"].choices = format_choices(project_kind=project.kind)

    def import_options(self) -> dict[str, str]:
        """Format options from the form (the Label Studio config, read as UTF-8)."""
        upload = self.cleaned_data.get("label_config")
        if not upload:
            return {}
        return {"label_config": upload.read(2_000_000).decode("utf-8", errors="replace")}
