"""Forms of the web pages. They only check shapes; services validate and write."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from annotation.importers import FORMAT_NAMES, importer_get
from annotation.importers.split import MAX_PATTERN_LENGTH, SPLIT_MODES
from annotation.kinds import label_kind_for
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
    # An empty file is refused by the service with the message the CLI gives.
    file = forms.FileField(allow_empty_file=True)
    format = forms.ChoiceField(choices=())
    dataset_name = forms.CharField(max_length=200)
    split = forms.ChoiceField(
        required=False,
        choices=[("", "the format's default")] + [(k, v) for k, v in SPLIT_MODES.items()],
        help_text="Native and GSM8K solutions only: how to cut reasoning text into steps "
        "(native: as given; GSM8K solutions: one step per line, by default).",
    )
    split_pattern = forms.CharField(
        required=False,
        max_length=MAX_PATTERN_LENGTH,
        help_text="With a custom regular expression: what separates two steps, e.g. "
        r"\n(?=\d+\.) to split before numbered lines.",
    )
    label_config = forms.FileField(
        required=False,
        help_text="Label Studio files only: the project's labeling config (XML), from Settings "
        "→ Labeling Interface → Code.",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = format_choices(project_kind=project.kind)
        cast(forms.ChoiceField, self.fields["format"]).choices = choices
        # The split fields are shown for kinds whose parts can be cut out of text (steps).
        self.offers_split = label_kind_for(project).splits_text
        # The labeling-config file for kinds that some format reads with one (Label Studio).
        self.offers_label_config = any(
            "label_config" in importer_get(name).options_help for name, _ in choices
        )

    def import_options(self) -> dict[str, str]:
        """The format options the form asks for (only those set); the Label Studio config
        is read as UTF-8."""
        options = {
            k: self.cleaned_data[k] for k in ("split", "split_pattern") if self.cleaned_data[k]
        }
        upload = self.cleaned_data.get("label_config")
        if upload:
            options["label_config"] = upload.read(2_000_000).decode("utf-8", errors="replace")
        return options
