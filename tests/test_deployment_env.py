"""docker-compose.yml cannot run here (no Docker engine); these tests keep it honest by
reading it: the variables it sets are the ones the settings read, and production settings
start with exactly that environment and refuse to start without a secret key."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# Read by something other than config/: Django itself, CUDA, and platform/entrypoint.sh.
# Read by Django, CUDA, and (the last three) tqdm, huggingface_hub and transformers.
READ_ELSEWHERE = {
    "DJANGO_SETTINGS_MODULE", "CUDA_VISIBLE_DEVICES", "TQDM_DISABLE",
    "HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY",
}  # fmt: skip


def _settings_vars() -> set[str]:
    names = set()
    paths = [*(ROOT / "config").rglob("*.py"), *(ROOT / "annotation" / "management").rglob("*.py")]
    for path in paths:
        names |= set(re.findall(r'env\.\w+\(\s*"([A-Z0-9_]+)"', path.read_text()))
    return names


def _entrypoint_vars() -> set[str]:
    return set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "platform" / "entrypoint.sh").read_text()))


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _substitute(value: str) -> str:
    # ${VAR:-default} and ${VAR:?message}: take the default, or a placeholder for required vars.
    def repl(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if op == ":-":
            return arg
        return f"compose-{name.lower()}"

    return re.sub(r"\$\{([A-Z0-9_]+)(:-|:\?)?([^}]*)\}", repl, str(value))


def test_compose_services_and_queues():
    services = _compose()["services"]
    assert {"postgres", "redis", "web", "worker", "beat", "worker-gpu"} <= set(services)
    assert services["worker-gpu"]["profiles"] == ["gpu"]
    entry = (ROOT / "platform" / "entrypoint.sh").read_text()
    assert "-Q gpu --concurrency 1" in entry
    assert "-Q default" in entry
    assert "gunicorn config.wsgi:application" in entry


def test_every_compose_variable_is_read():
    read = _settings_vars() | _entrypoint_vars() | READ_ELSEWHERE
    for name, service in _compose()["services"].items():
        if name in {"postgres", "redis"}:
            continue
        for var in service.get("environment", {}):
            assert var in read, f"{name} sets {var}, which nothing reads"


def test_env_example_documents_read_variables():
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    read = _settings_vars() | _entrypoint_vars() | READ_ELSEWHERE | {"POSTGRES_PASSWORD"}
    assert documented <= read, documented - read
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"} <= documented


def _production_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = (
        "import django, os; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL, settings.DEBUG)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )


def _clean_env() -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}
    return {k: v for k, v in os.environ.items() if k in keep}


def test_production_settings_start_with_the_compose_environment():
    env = _clean_env()
    web = _compose()["services"]["web"]
    for var, value in web["environment"].items():
        env[var] = _substitute(value)
    proc = _production_check(env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["django.db.backends.postgresql", "redis://redis:6379/0", "False"]


def test_production_refuses_to_start_without_secret_key():
    env = _clean_env()
    web = _compose()["services"]["web"]
    for var, value in web["environment"].items():
        env[var] = _substitute(value)
    env.pop("DJANGO_SECRET_KEY")
    proc = _production_check(env)
    assert proc.returncode != 0
    assert "DJANGO_SECRET_KEY" in proc.stderr


def test_compose_runs_celery_beat_with_the_runs_sweep():
    assert _compose()["services"]["beat"]["command"] == ["beat"]
    assert "exec celery -A config beat" in (ROOT / "platform" / "entrypoint.sh").read_text()
    env = _clean_env()
    for var, value in _compose()["services"]["beat"].get("environment", {}).items():
        env[var] = _substitute(value)
    for var, value in _compose()["services"]["web"]["environment"].items():
        env.setdefault(var, _substitute(value))
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.CELERY_BEAT_SCHEDULE, default=str))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    schedule = json.loads(proc.stdout)
    assert schedule["runs-sweep"]["task"] == "annotation.tasks.runs_sweep_task"
    assert schedule["runs-sweep"]["schedule"] == 60.0

    from config.celery import app

    app.loader.import_default_modules()
    assert "annotation.tasks.runs_sweep_task" in app.tasks
