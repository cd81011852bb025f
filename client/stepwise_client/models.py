"""Typed results of the Stepwise API. Each mirrors one JSON object of the REST API; fields the
client does not know yet are kept in `raw`. Objects that belong to a project carry the
project's slug and a reference to the client, so `run.refresh()`, `job.wait()` or
`project.export(...)` read naturally in a notebook."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stepwise_client.client import Client
    from stepwise_client.exports import Export

__all__ = [
    "Agreement",
    "Dataset",
    "FieldAgreement",
    "ImportRun",
    "Item",
    "LabelingJob",
    "Project",
    "ServerInfo",
]

_field = field  # FieldAgreement has an attribute named `field`

FINISHED = frozenset({"succeeded", "failed", "cancelled"})


def _bound(client: Client | None) -> Client:
    if client is None:
        raise RuntimeError("this object is not bound to a Client; fetch it through one")
    return client


@dataclass
class ServerInfo:
    """`GET /api/v1/`: the API's name and version, who you are, and where things are."""

    name: str = ""
    version: str = ""
    user: str | None = None
    schema: str = ""
    docs: str = ""
    resources: list[dict[str, Any]] = field(default_factory=list, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Dataset:
    id: int
    name: str
    source_format: str = ""
    license: str = ""
    provenance: str = ""
    item_count: int = 0
    created_at: datetime | None = None
    project: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Item:
    """An item with its content: steps (reasoning), turns (dialogue) or candidates (preference)."""

    id: int
    dataset: int
    external_id: str = ""
    group_key: str = ""
    prompt: str = ""
    reference_answer: str = ""
    final_answer: str = ""
    final_answer_correct: bool | None = None
    generator_model: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    turns: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    created_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def step_texts(self) -> list[str]:
        return [s["text"] for s in sorted(self.steps, key=lambda s: s["index"])]


@dataclass
class ImportRun:
    """An upload being imported by a worker. `errors` lists problems with their line (JSONL),
    row (CSV) or record (JSON array) number, field and message."""

    id: int
    status: str
    format: str = ""
    dataset: int | None = None
    dataset_name: str = ""
    original_filename: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    progress_done: int = 0
    items_created: int = 0
    items_unchanged: int = 0
    records_skipped: int = 0
    steps_created: int = 0
    turns_created: int = 0
    candidates_created: int = 0
    annotations_created: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0
    message: str = ""
    created_by: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    project: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    _client: Client | None = field(default=None, repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.status in FINISHED

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def refresh(self) -> ImportRun:
        return _bound(self._client).get_import(self.project, self.id)

    def wait(
        self, *, timeout: float | None = None, progress: bool = False, raise_on_failure: bool = True
    ) -> ImportRun:
        return _bound(self._client).wait_import(
            self, timeout=timeout, progress=progress, raise_on_failure=raise_on_failure
        )


@dataclass
class LabelingJob:
    """A pre-labeling job (LLM judge, Monte-Carlo estimation, consensus, ...) run by workers."""

    id: int
    kind: str
    status: str
    scope: dict[str, Any] = field(default_factory=dict)
    backend: str = ""
    model_name: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    progress_done: int = 0
    progress_total: int = 0
    percent: int = 0
    tokens_generated: int = 0
    wall_seconds: float = 0.0
    attempts: int = 0
    skipped: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    created_by: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    project: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    _client: Client | None = field(default=None, repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.status in FINISHED

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def refresh(self) -> LabelingJob:
        return _bound(self._client).get_job(self.project, self.id)

    def wait(
        self, *, timeout: float | None = None, progress: bool = True, raise_on_failure: bool = True
    ) -> LabelingJob:
        return _bound(self._client).wait_job(
            self, timeout=timeout, progress=progress, raise_on_failure=raise_on_failure
        )

    def cancel(self) -> LabelingJob:
        return _bound(self._client).cancel_job(self.project, self.id)

    def retry(self) -> LabelingJob:
        return _bound(self._client).retry_job(self.project, self.id)


@dataclass
class FieldAgreement:
    """Agreement on one label field. `alpha` is Krippendorff's α (None when undefined: fewer
    than two ratings on any unit, or no variation); `raters` has each rater's count and
    leave-one-out α."""

    field: str
    label: str = ""
    level: str = ""
    values: list[str] = _field(default_factory=list)
    n_units: int = 0
    n_units_total: int = 0
    n_ratings: int = 0
    n_raters: int = 0
    alpha: float | None = None
    percent_agreement: float | None = None
    fleiss_kappa: float | None = None
    first_error_exact: float | None = None
    first_error_within_one: float | None = None
    raters: list[dict[str, Any]] = _field(default_factory=list)
    raw: dict[str, Any] = _field(default_factory=dict, repr=False)


@dataclass
class Agreement:
    """Agreement per field of a project. `computed_at` is when the dashboard's figures were
    computed (None: computed for this request, `fresh=True`)."""

    project: str
    sources: list[str] = _field(default_factory=list)
    fields: list[FieldAgreement] = _field(default_factory=list)
    computed_at: datetime | None = None
    raw: dict[str, Any] = _field(default_factory=dict, repr=False)

    def __getitem__(self, name: str) -> FieldAgreement:
        for f in self.fields:
            if f.field == name:
                return f
        raise KeyError(f"no agreement for field {name!r}; fields: {[f.field for f in self.fields]}")

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per field (for printing, or `pandas.DataFrame(agreement.rows())`)."""
        keys = ("field", "level", "n_units", "n_ratings", "n_raters", "alpha",
                "percent_agreement", "fleiss_kappa")  # fmt: skip
        return [{k: getattr(f, k) for k in keys} for f in self.fields]

    def to_pandas(self) -> Any:
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("Agreement.to_pandas() needs pandas (pip install pandas)") from exc
        return pd.DataFrame(self.rows()).set_index("field")


@dataclass
class Project:
    """A project and the things a script does with it; every method goes through the client
    that fetched it (`client.project(slug)`)."""

    id: int
    slug: str
    name: str = ""
    kind: str = ""
    label_schema: dict[str, Any] = field(default_factory=dict)
    overlap: int = 1
    instructions: str = ""
    show_suggestions: bool = False
    item_count: int | None = None
    created_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    _client: Client | None = field(default=None, repr=False, compare=False)

    def datasets(self) -> list[Dataset]:
        return _bound(self._client).datasets(self.slug)

    def items(self, *, dataset: int | None = None, page_size: int = 100) -> Any:
        return _bound(self._client).items(self.slug, dataset=dataset, page_size=page_size)

    def import_file(self, path: str | Path, *, format: str, **kw: Any) -> ImportRun:  # noqa: A002
        return _bound(self._client).import_file(self.slug, path, format=format, **kw)

    def start_job(self, kind: str, **kw: Any) -> LabelingJob:
        return _bound(self._client).start_job(self.slug, kind, **kw)

    def run_job(self, kind: str, **kw: Any) -> LabelingJob:
        return _bound(self._client).run_job(self.slug, kind, **kw)

    def jobs(self) -> list[LabelingJob]:
        return _bound(self._client).jobs(self.slug)

    def agreement(self, **kw: Any) -> Agreement:
        return _bound(self._client).agreement(self.slug, **kw)

    def export(self, format: str, **kw: Any) -> Export:  # noqa: A002
        return _bound(self._client).export(self.slug, format, **kw)
