from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from annotation.exporters.pipeline import export_write
from annotation.models import Project
from annotation.services.imports import dataset_import
from tests.conftest import shared_file


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture
def import_native(make_project) -> Callable[..., Project]:
    def make(kind: str, records: list[dict[str, Any]], slug: str | None = None, **kw) -> Project:
        project = make_project(kind, slug=slug, **kw)
        data = "".join(json.dumps(r) + "\n" for r in records).encode()
        result = dataset_import(
            project=project, dataset_name="native", fmt="native", stream=io.BytesIO(data),
            dataset_license="MIT",
        )  # fmt: skip
        assert result.ok, result.errors
        return project

    return make


@pytest.fixture
def export(tmp_path) -> Callable[..., tuple[dict[str, Any], Path]]:
    counter = {"n": 0}

    def run(project: Project, fmt: str, **options: Any) -> tuple[dict[str, Any], Path]:
        counter["n"] += 1
        out = tmp_path / f"export-{counter['n']}"
        manifest = export_write(project=project, fmt=fmt, options=options, out_dir=out)
        return manifest, out

    return run


@pytest.fixture
def counsel_chat_project(make_project) -> Project:
    path = shared_file("counsel_chat.csv")
    project = make_project("preference", slug="counsel-chat")
    with open(path, "rb") as fh:
        result = dataset_import(
            project=project, dataset_name="counsel-chat", fmt="counsel_chat", stream=fh,
            dataset_license="MIT",
        )  # fmt: skip
    assert result.ok, result.errors[:3]
    return project


@pytest.fixture
def processbench_project(make_project) -> tuple[Project, list[dict[str, Any]]]:
    path = shared_file("processbench_gsm8k.json")
    project = make_project("step_labels", slug="pb-gsm8k")
    with open(path, "rb") as fh:
        result = dataset_import(
            project=project, dataset_name="processbench-gsm8k", fmt="processbench", stream=fh,
            dataset_license="Apache-2.0",
        )  # fmt: skip
    assert result.ok, result.errors[:3]
    with open(path, encoding="utf-8") as fh:
        original = json.load(fh)
    return project, original
