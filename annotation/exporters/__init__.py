"""Training-data exporters: one small writer per format and a registry.

`exporter_get(name)` returns the format; `annotation.exporters.pipeline.export_write` runs
one (streaming) into a folder with the data files, `manifest.json` and a dataset card.
"""

from __future__ import annotations

from annotation.errors import ApplicationError
from annotation.exporters.base import Exporter
from annotation.exporters.label_studio import LabelStudioExporter
from annotation.exporters.preference import (
    HelpSteer2Exporter,
    OpenAIPreferenceExporter,
    TrlPreferenceExporter,
)
from annotation.exporters.steps import (
    MathShepherdExporter,
    Prm800kExporter,
    ProcessBenchExporter,
    TrlStepwiseExporter,
)

EXPORTERS: dict[str, type[Exporter]] = {
    cls.name: cls
    for cls in (
        TrlPreferenceExporter,
        OpenAIPreferenceExporter,
        HelpSteer2Exporter,
        TrlStepwiseExporter,
        MathShepherdExporter,
        ProcessBenchExporter,
        Prm800kExporter,
        LabelStudioExporter,
    )
}
EXPORT_FORMAT_NAMES: tuple[str, ...] = tuple(EXPORTERS)


class UnknownExportFormatError(ApplicationError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown export format {name!r}; known: {', '.join(EXPORTERS)}",
            code="unknown",
            field="format",
        )


def exporter_get(name: str) -> Exporter:
    """The exporter called `name`; raises UnknownExportFormatError (field `format`)."""
    try:
        return EXPORTERS[name]()
    except KeyError:
        raise UnknownExportFormatError(name) from None
