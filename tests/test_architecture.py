"""The shape of the code: file sizes, import cycles, and where the project kind is named.
Read with the standard library only (`ast`, `pathlib`); nothing here imports the apps."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from tests.architecture import ROOT, cycles, import_graph

MAX_LINES = 500
TEXT_SUFFIXES = {".py", ".html", ".js", ".css", ".md", ".toml", ".txt", ".yml", ".yaml", ".cfg"}
SKIPPED_DIRS = {".git", ".venv", "node_modules", "__pycache__", "var", "staticfiles",
                "test-artifacts", "migrations", "bench", "vendor"}  # fmt: skip


def _source_files() -> Iterator[tuple[Path, Path]]:
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".")]
        for name in files:
            path = Path(folder) / name
            if path.suffix in TEXT_SUFFIXES:
                yield path.relative_to(ROOT), path


def test_no_file_over_500_lines() -> None:
    long = {
        str(rel): n
        for rel, path in _source_files()
        if (n := len(path.read_text(encoding="utf-8", errors="replace").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these files (over {MAX_LINES} lines): {long}"


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == [], "import cycles between modules"


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_annotation_never_imports_labeling_jobs() -> None:
    graph = import_graph()
    wrong = {m: sorted(t for t in targets if t.startswith("labeling_jobs"))
             for m, targets in graph.items() if m.startswith("annotation")}  # fmt: skip
    assert {m: t for m, t in wrong.items() if t} == {}


# Where a project kind may be named: the label-kind registry, the models (and the job kinds'
# declarations), migrations, and the importers and exporters, which are per format anyway.
KIND_ALLOWED = ("annotation/kinds/", "annotation/models/", "annotation/migrations/",
                "annotation/importers/", "annotation/exporters/", "labeling_jobs/models.py",
                "labeling_jobs/migrations/")  # fmt: skip


def test_project_kinds_are_named_only_in_the_registry() -> None:
    named = re.compile(
        r"ProjectKind\.[A-Z_]+|kind\s*[!=]=\s*[\"'](step_labels|dialogue_coding|preference)"
    )
    found = []
    for package in ("annotation", "labeling_jobs"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(KIND_ALLOWED):
                continue
            for n, line in enumerate(path.read_text().splitlines(), start=1):
                if named.search(line):
                    found.append(f"{rel}:{n}: {line.strip()}")
    assert found == []


def test_templates_do_not_branch_on_the_project_kind() -> None:
    branch = re.compile(r"\{%\s*(el)?if[^%]*\bkind\s*==")
    found = [
        f"{rel}:{n}"
        for rel, path in sorted(_source_files())
        if path.suffix == ".html"
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if branch.search(line)
    ]
    assert found == []
