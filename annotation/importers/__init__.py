"""Importer registry: format name -> pure parser class."""

from __future__ import annotations

from importlib import import_module

from annotation.errors import ApplicationError
from annotation.importers.base import Importer

_REGISTRY: dict[str, str] = {
    "native": "annotation.importers.native:NativeImporter",
    "processbench": "annotation.importers.processbench:ProcessBenchImporter",
    "prm800k": "annotation.importers.prm800k:Prm800kImporter",
    "math_shepherd": "annotation.importers.math_shepherd:MathShepherdImporter",
    "gsm8k_solutions": "annotation.importers.gsm8k_solutions:Gsm8kSolutionsImporter",
    "annomi": "annotation.importers.annomi:AnnoMIImporter",
    "counsel_chat": "annotation.importers.counsel_chat:CounselChatImporter",
    "trl_preference": "annotation.importers.trl_preference:TrlPreferenceImporter",
    "label_studio": "annotation.importers.label_studio:LabelStudioImporter",
}

FORMAT_NAMES: tuple[str, ...] = tuple(_REGISTRY)


class UnknownFormatError(ApplicationError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown format {name!r}; known formats: {', '.join(FORMAT_NAMES)}",
            code="unknown",
            field="format",
        )


def importer_get(name: str) -> Importer:
    """The importer for a format name; UnknownFormatError lists the known names."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise UnknownFormatError(name) from None
    module, cls = target.split(":")
    return getattr(import_module(module), cls)()
