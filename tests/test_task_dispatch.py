"""How background work is wired: services queue through `annotation.dispatch` and never import
task modules, `config/` imports no app code, there is no import cycle between modules, every
run model has a sender and is watched by the sweep, and Celery finds every task (labeling
jobs routed to the `gpu` queue). Read with the standard library's `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

from annotation.dispatch import sender_names
from annotation.models import BackgroundRun
from annotation.services.runs import run_kinds
from config.celery import app

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("annotation", "labeling_jobs", "config", "frontend")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (anywhere in it, functions included)."""

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                deps |= {r for a in node.names if (r := resolve(a.name))}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps |= {r for a in node.names if (r := resolve(f"{node.module}.{a.name}"))}
        graph[name] = deps - {name}
    return graph


GRAPH = _imports(_modules())


def test_config_imports_no_app_code():
    bad = {
        (name, dep)
        for name, deps in GRAPH.items()
        if name.startswith("config")
        for dep in deps
        if not dep.startswith("config")
    }
    assert not bad


def test_only_apps_and_task_modules_import_task_modules():
    bad = {
        (name, dep)
        for name, deps in GRAPH.items()
        for dep in deps
        if dep.endswith(".tasks") and not name.endswith((".tasks", ".apps"))
    }
    assert not bad, "services queue through annotation.dispatch, never by importing tasks"


def test_annotation_never_imports_labeling_jobs():
    bad = {
        (name, dep)
        for name, deps in GRAPH.items()
        if name.startswith("annotation")
        for dep in deps
        if dep.startswith("labeling_jobs")
    }
    assert not bad


def test_no_import_cycles():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert not cycles


def _run_models() -> list[type[BackgroundRun]]:
    found, todo = [], list(BackgroundRun.__subclasses__())
    while todo:
        model = todo.pop()
        todo += model.__subclasses__()
        if not model._meta.abstract:
            found.append(model)
    return found


def test_every_run_model_has_a_sender_and_the_sweep_watches_it():
    models = {m._meta.label: m for m in _run_models()}
    assert set(models) == {
        "annotation.ImportRun",
        "annotation.ExportRun",
        "annotation.StatsRefresh",
        "labeling_jobs.LabelingJob",
    }
    assert {m.dispatch_name for m in models.values()} <= set(sender_names())
    assert {k.model._meta.label for k in run_kinds()} == set(models)
    assert "labeling_jobs.chunk" in sender_names()


def test_celery_finds_every_task_and_routes_labeling_jobs_to_gpu():
    app.loader.import_default_modules()  # what a worker does at start: autodiscovery
    queues = {
        "annotation.tasks.import_run_execute_task": "default",
        "annotation.tasks.export_run_execute_task": "default",
        "annotation.tasks.project_stats_refresh_task": "default",
        "annotation.tasks.runs_sweep_task": "default",
        "annotation.tasks.item_routing_recompute_task": "default",
        "labeling_jobs.tasks.labeling_job_chunk_run_task": "gpu",
    }
    for name, queue in queues.items():
        assert name in app.tasks, name
        assert app.amqp.router.route({}, name)["queue"].name == queue, name
