import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Annotation, Item, Membership, Project, User
from annotation.services.demo import DEMO_PROJECTS, DEMO_USERS
from tests.conftest import shared_file


def _write(tmp_path, lines):
    path = tmp_path / "traces.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def test_import_dataset_creates_project_and_imports(tmp_path, db):
    path = _write(tmp_path, [{"external_id": "a", "prompt": "p", "steps": ["s1", "s2"]}])
    out = StringIO()
    call_command("import_dataset", str(path), "--format", "native", "--project", "cli-proj",
                 "--create-project", "step_labels", stdout=out)  # fmt: skip
    assert "Imported 1 items" in out.getvalue()
    project = Project.objects.get(slug="cli-proj")
    assert project.kind == "step_labels"
    assert Item.objects.filter(project=project, dataset__name="traces.jsonl").count() == 1
    out = StringIO()
    call_command(
        "import_dataset", str(path), "--format", "native", "--project", "cli-proj", stdout=out
    )
    assert "Nothing to do" in out.getvalue()


def test_import_dataset_lists_problems_and_fails(tmp_path, db, make_project):
    make_project("step_labels", slug="cli-bad")
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b'{"external_id": "a", "steps": ["ok"]}\n{"external_id": "b", "steps": 3}\nnot json\n'
    )
    err = StringIO()
    with pytest.raises(CommandError, match="Rejected: 2 problem"):
        call_command(
            "import_dataset", str(path), "--format", "native", "--project", "cli-bad", stderr=err
        )
    assert "line 2: steps: must be a list of strings, got integer" in err.getvalue()
    assert "line 3: invalid JSON" in err.getvalue()
    assert not Item.objects.exists()


def test_import_dataset_unknown_project_and_format(tmp_path, db):
    path = _write(tmp_path, [{"external_id": "a", "steps": ["s"]}])
    with pytest.raises(CommandError, match="no project 'nope'"):
        call_command("import_dataset", str(path), "--format", "native", "--project", "nope")
    with pytest.raises(CommandError, match="unknown format 'xml'"):
        call_command("import_dataset", str(path), "--format", "xml", "--project", "nope")


def test_import_dataset_cli_exit_status_is_nonzero(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings.embedded",
        "STEPWISE_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "CELERY_BROKER_URL": "memory://",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=root, env=env, check=True)
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\xff\xfe\n")
    cmd = [sys.executable, "manage.py", "import_dataset", str(path), "--format", "native",
           "--project", "x", "--create-project", "step_labels"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "line 1: not valid UTF-8 (byte 0xff at column 1)" in proc.stderr
    assert "nothing was written" in proc.stderr


def test_import_processbench_with_answers_cli(db):
    path = shared_file("processbench_gsm8k.json")
    answers = shared_file("gsm8k_test.jsonl")
    out = StringIO()
    call_command("import_dataset", str(path), "--format", "processbench", "--project", "pb",
                 "--create-project", "step_labels", "--answers", str(answers), stdout=out)  # fmt: skip
    assert "Imported 400 items" in out.getvalue()
    assert Annotation.objects.filter(first_error_index__gte=0).count() == 207


def test_demo_setup_is_idempotent_and_prints_password_once(db, monkeypatch):
    monkeypatch.delenv("STEPWISE_DEMO_PASSWORD", raising=False)
    out = StringIO()
    call_command("demo_setup", stdout=out)
    first = out.getvalue()
    assert "created with password:" in first
    password = first.split("password: ")[1].split()[0]
    assert User.objects.get(username="annotator1").check_password(password)
    assert set(User.objects.values_list("username", flat=True)) >= set(DEMO_USERS)
    kinds = set(Project.objects.values_list("kind", flat=True))
    assert kinds == {"step_labels", "dialogue_coding", "preference"}
    for spec in DEMO_PROJECTS:
        project = Project.objects.get(slug=spec["slug"])
        assert project.items.count() > 0
        assert Membership.objects.filter(project=project).count() == len(DEMO_USERS)
    n_items = Item.objects.count()
    out = StringIO()
    call_command("demo_setup", stdout=out)
    assert "password" not in out.getvalue()
    assert Item.objects.count() == n_items


def test_demo_password_from_environment(db, monkeypatch):
    monkeypatch.setenv("STEPWISE_DEMO_PASSWORD", "demo-pass-123")
    call_command("demo_setup", stdout=StringIO())
    assert User.objects.get(username="reviewer").check_password("demo-pass-123")
