"""The Exports page's form: a format of the project's kind and the options that format takes,
each with one line on what it means (`annotation.exporters.explain`). It only checks shapes;
`export_run_start` validates the options against the project, as for REST."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from annotation.exporters import EXPORTERS
from annotation.exporters.base import DEFAULT_OPTIONS, Exporter
from annotation.exporters.explain import OPTION_HELP
from annotation.models import Project
from annotation.selectors.gold import project_quality_settings

NUMBER_BOUNDS = {"min_confidence": (0.0, 1.0), "min_agreement": (0.0, 1.0), "test_size": (0.0, 0.9)}


def export_formats(*, project: Project) -> list[Exporter]:
    """The formats that export projects of this kind, in the registry's order."""
    return [cls() for cls in EXPORTERS.values() if project.kind in cls.project_kinds]


def _field(name: str, exporter: Exporter) -> forms.Field:
    info = OPTION_HELP[name]
    default = DEFAULT_OPTIONS[name]
    if name == "file_format":
        choices = [c for c in info.choices if c[0] in exporter.file_formats]
        return forms.ChoiceField(
            label=info.label, help_text=info.help, choices=choices,
            initial=exporter.default_file_format,
        )  # fmt: skip
    if info.choices:
        return forms.ChoiceField(
            label=info.label, help_text=info.help, choices=info.choices, initial=default,
            widget=forms.RadioSelect if len(info.choices) <= 3 else forms.Select,
        )  # fmt: skip
    if isinstance(default, bool):
        return forms.BooleanField(
            label=info.label, help_text=info.help, required=False, initial=default
        )
    if name == "seed":
        return forms.IntegerField(
            label=info.label, help_text=info.help, initial=default, min_value=0,
            max_value=2**31 - 1,
        )  # fmt: skip
    lo, hi = NUMBER_BOUNDS[name]
    return forms.FloatField(
        label=info.label, help_text=info.help, initial=default, min_value=lo, max_value=hi,
        required=name != "min_agreement",
        widget=forms.NumberInput(attrs={"step": "0.05"}),
    )  # fmt: skip


class ExportStartForm(forms.Form):
    """`format` first; the option fields follow from the chosen format (the page reloads the
    form when the format changes)."""

    format = forms.ChoiceField(label="Format", choices=())

    def __init__(self, *args: Any, project: Project, fmt: str | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        formats = export_formats(project=project)
        self.exporters = {e.name: e for e in formats}
        field = cast(forms.ChoiceField, self.fields["format"])
        field.choices = [(e.name, f"{e.name} — {e.label}") for e in formats]
        chosen = fmt or (self.data.get("format") if self.is_bound else None)
        if chosen not in self.exporters:
            chosen = formats[0].name if formats else None
        self.exporter = self.exporters.get(chosen or "")
        field.initial = chosen
        self.consensus_allowed = project_quality_settings(project=project).allow_consensus_labels
        self.option_names: list[str] = []
        if self.exporter is None:
            return
        for name in self.exporter.web_options:
            if name == "balance" and not self.exporter.balanceable:
                continue
            self.fields[name] = _field(name, self.exporter)
            self.option_names.append(name)
        if "include_consensus" in self.fields and not self.consensus_allowed:
            self.fields["include_consensus"].disabled = True
            self.fields["include_consensus"].help_text += (
                " This project does not allow consensus labels (a manager can change that "
                "in its settings)."
            )

    def option_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.option_names]

    def export_options(self) -> dict[str, Any]:
        """The options to start the export with (after `is_valid`)."""
        out: dict[str, Any] = {}
        for name in self.option_names:
            value = self.cleaned_data.get(name)
            if name == "include_consensus" and not self.consensus_allowed:
                continue
            if name == "min_agreement" and value is None:
                continue
            out[name] = value
        return out
