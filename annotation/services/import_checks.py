"""Checks of an import's input that need the database's shape: options, blank uploads, and
values too long for their columns. `annotation.services.imports` calls them; parsers (pure)
check each format's own rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from django.db import models

from annotation.errors import ApplicationError
from annotation.importers import UnknownFormatError, importer_get
from annotation.importers.answers import trace_final_answer
from annotation.importers.base import EMPTY_FILE, ImportIssue, ParsedItem
from annotation.importers.split import SplitOptionError, StepSplit, split_from_options
from annotation.importers.values import ValueProblem, check_depth
from annotation.models import Candidate, Dataset, Item, PrincipleRating, Turn, TurnLabel, User

# PostgreSQL smallint, the column of a principle rating's value.
_SMALLINT = (-32768, 32767)
_BLANK = b" \t\r\n\f\v"
_BOM = b"\xef\xbb\xbf"


def import_options_check(
    *, fmt: str, options: Mapping[str, Any] | None, upload: bool, project_kind: str | None = None
) -> dict[str, Any]:
    """The options of an import of `fmt`, checked; ApplicationError names `options.<name>`.

    An option the format does not take is refused (a typo would otherwise be ignored), and
    so is one naming a server file (`answers`) when it comes with an upload. Then the
    format checks its own values for a project of `project_kind` (label_studio: the
    labeling config), before any file is read.
    """
    importer = importer_get(fmt)  # UnknownFormatError is an ApplicationError on `format`
    options = dict(options or {})
    known = importer.options_help
    import_split_get(fmt=fmt, options=options)
    for name in options:
        if name not in known:
            takes = f"its options are: {', '.join(known)}" if known else "it takes none"
            raise ApplicationError(
                f"is not an option of the {fmt} format ({takes})", field=f"options.{name}"
            )
        if upload and name in importer.path_options:
            raise ApplicationError(
                "names a file on the server; it can only be given on the command line",
                field=f"options.{name}",
            )
    try:
        importer.options_check(options=options, project_kind=project_kind)
    except ApplicationError as exc:
        field = exc.field or ""
        raise ApplicationError(
            exc.message,
            code=exc.code,
            field=field if field.startswith("options") else f"options.{field}".rstrip("."),
        ) from exc
    return options


def import_split_get(*, fmt: str, options: Mapping[str, Any]) -> StepSplit | None:
    """The split an import uses (None for a format that takes none); ApplicationError for a
    bad `split` or `split_pattern`."""
    default = importer_get(fmt).split_default
    if default is None:
        for name in ("split", "split_pattern"):
            if options.get(name):
                raise ApplicationError(
                    f"the {fmt} format takes no split; only native and gsm8k_solutions do",
                    field=f"options.{name}",
                )
        return None
    try:
        return split_from_options(dict(options), default=default)
    except SplitOptionError as exc:
        raise ApplicationError(exc.message, field=f"options.{exc.field}") from None


def upload_check_not_blank(*, chunks: Iterable[bytes]) -> None:
    """ApplicationError(field='file') when the upload holds nothing but white space (and a
    byte-order mark). Stops reading at the first other byte, so a real file costs one chunk."""
    first = True
    for chunk in chunks:
        if first and chunk.startswith(_BOM):
            chunk = chunk[len(_BOM) :]
        first = False
        if chunk.strip(_BLANK):
            return
    raise ApplicationError(EMPTY_FILE, field="file")


@cache
def _limits() -> dict[str, int]:
    def size(model: type[models.Model], name: str) -> int:
        limit = getattr(model._meta.get_field(name), "max_length", None)
        if not isinstance(limit, int):
            raise TypeError(f"{model.__name__}.{name} has no max_length")
        return limit

    return {
        "external_id": size(Item, "external_id"),
        "group_key": size(Item, "group_key"),
        "generator_model": size(Item, "generator_model"),
        "speaker": size(Turn, "speaker"),
        "source_model": size(Candidate, "source_model"),
        "turn_field": size(TurnLabel, "field"),
        "turn_value": size(TurnLabel, "value"),
        "principle": size(PrincipleRating, "principle"),
        "annotator": size(User, "username"),
        "dataset": size(Dataset, "name"),
        "license": size(Dataset, "license"),
    }


def _too_long(item: ParsedItem, field: str, value: str, limit: int) -> ImportIssue | None:
    if len(value) > limit:
        return ImportIssue(item.line, field, f"is longer than the limit of {limit} characters")
    return None


def item_check_columns(item: ParsedItem) -> ImportIssue | None:
    """The first value of `item` that its column cannot hold, as an issue naming the field."""
    lim = _limits()
    try:  # free-form JSON goes into jsonb columns: bounded nesting
        if item.metadata:
            check_depth(item.metadata, "metadata")
        for i, c in enumerate(item.candidates):
            if c.metadata:
                check_depth(c.metadata, f"candidates[{i}].metadata")
    except ValueProblem as exc:
        return ImportIssue(item.line, exc.path, exc.message)
    for field, value, limit in (
        ("external_id", item.external_id, lim["external_id"]),
        ("group_key", item.group_key, lim["group_key"]),
        ("generator_model", item.generator_model, lim["generator_model"]),
    ):
        if len(value) > limit:
            return _too_long(item, field, value, limit)
    for i, (speaker, _) in enumerate(item.turns):
        if len(speaker) > lim["speaker"]:
            return _too_long(item, f"turns[{i}].speaker", speaker, lim["speaker"])
    for i, c in enumerate(item.candidates):
        if len(c.source_model) > lim["source_model"]:
            limit = lim["source_model"]
            return _too_long(item, f"candidates[{i}].source_model", c.source_model, limit)
    for i, a in enumerate(item.annotations):
        p = f"annotations[{i}]"
        if len(a.annotator) > lim["annotator"]:
            return _too_long(item, f"{p}.annotator", a.annotator, lim["annotator"])
        for j, t in enumerate(a.turn_labels):
            for name, value in (("field", t.field), ("value", t.value)):
                limit = lim["turn_field" if name == "field" else "turn_value"]
                if len(value) > limit:
                    return _too_long(item, f"{p}.turn_labels[{j}].{name}", value, limit)
        for j, r in enumerate(a.principle_ratings):
            q = f"{p}.principle_ratings[{j}]"
            if len(r.principle) > lim["principle"]:
                return _too_long(item, f"{q}.principle", r.principle, lim["principle"])
            if not _SMALLINT[0] <= r.value <= _SMALLINT[1]:
                return ImportIssue(
                    item.line, f"{q}.value", f"must be between {_SMALLINT[0]} and {_SMALLINT[1]}"
                )
    return None


def dataset_fields_check(*, name: str, license: str) -> ImportIssue | None:  # noqa: A002
    """A problem with the dataset's own fields (its name or license), else None."""
    lim = _limits()
    if not name.strip():
        return ImportIssue(None, "dataset", "a dataset name is required")
    if len(name) > lim["dataset"]:
        return ImportIssue(
            None, "dataset", f"is longer than the limit of {lim['dataset']} characters"
        )
    if len(license) > lim["license"]:
        return ImportIssue(
            None, "license", f"is longer than the limit of {lim['license']} characters"
        )
    return None


def item_final_answer_fill(item: ParsedItem) -> None:
    """A trace without a final answer from its format takes the one its text states."""
    if not item.final_answer and item.steps:
        item.final_answer = trace_final_answer(item.steps)


def dataset_split_record(*, dataset: Dataset, split: StepSplit | None) -> ImportIssue | None:
    """Record the split on the dataset, or return a problem if the dataset already holds
    items cut another way (a dataset's traces are all split alike)."""
    if split is None:
        return None
    wanted = split.as_dict()
    recorded = dataset.step_split or {}
    if recorded == wanted:
        return None
    legacy = not recorded and wanted == StepSplit(split_default_of(dataset)).as_dict()
    if (recorded or not legacy) and Item.objects.filter(dataset=dataset).exists():
        was = StepSplit(**recorded).describe() if recorded else "as given (no split)"
        return ImportIssue(
            None,
            "options.split",
            f"dataset {dataset.name!r} holds items split by {was}; this import splits by "
            f"{split.describe()} (import it into another dataset)",
        )
    dataset.step_split = wanted
    dataset.save(update_fields=["step_split"])
    return None


def split_default_of(dataset: Dataset) -> str:
    try:
        return importer_get(dataset.source_format).split_default or "none"
    except UnknownFormatError:
        return "none"
