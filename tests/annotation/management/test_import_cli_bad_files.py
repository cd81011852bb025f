"""import_dataset on files that used to crash it: one line per problem, no traceback, nothing
written (not even a project created for the import)."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from annotation.models import Dataset, Item, Project

GOOD = b'{"external_id": "a", "steps": ["1+1=2"]}\n'
DEEP = b"[" * 100_000 + b"]" * 100_000

BAD_FILES = [
    ("nested", GOOD + b'{"external_id": "b", "steps": ["x"], "metadata": {"m": ' + DEEP + b"}}\n",
     "line 2: metadata.m[0][0]…: is nested more than 64 levels deep"),
    ("nul", GOOD + b'{"external_id": "b", "prompt": "a\\u0000b", "steps": ["x"]}\n',
     "line 2: prompt: contains a NUL character (\\u0000) at position 2"),
    ("nan", GOOD + b'{"external_id": "b", "steps": ["x"], "metadata": {"p": NaN}}\n',
     "line 2: metadata.p: nan is not a number JSON can hold (NaN/Infinity)"),
    ("empty", b"", "file: the file is empty: it holds no records"),
    ("blank", b"\n\n   \n", "file: the file is empty: it holds no records"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "expected"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_bad_file_is_one_line_per_problem_and_creates_nothing(tmp_path, db, data, expected):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(data)
    err = StringIO()
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_dataset", str(path), "--format", "native", "--project", "fresh",
                     "--create-project", "step_labels", stderr=err)  # fmt: skip
    assert f"bad.jsonl: {expected}" in err.getvalue()
    # the project made for this import is rolled back with it
    assert not Project.objects.filter(slug="fresh").exists()
    assert not Dataset.objects.exists()
    assert not Item.objects.exists()


def _cli_env(tmp_path: Path) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings.embedded",
        "STEPWISE_VAR_DIR": str(tmp_path / "var"),
        "CELERY_BROKER_URL": "memory://",
    }
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        user, host, port = db["USER"], db["HOST"] or "127.0.0.1", db["PORT"] or "5432"
        env["DATABASE_URL"] = f"postgres://{user}@{host}:{port}/{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    return env


def test_cli_prints_no_traceback_for_bad_files(tmp_path, transactional_db):
    """The real command line (on the suite's database: PostgreSQL in CI, where NUL and NaN
    used to raise psycopg errors)."""
    root = Path(__file__).resolve().parents[3]
    env = _cli_env(tmp_path)
    if connection.vendor != "postgresql":
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=root, env=env,
                       check=True)  # fmt: skip
    for name, data, expected in BAD_FILES[:3]:
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(data)
        cmd = [sys.executable, "manage.py", "import_dataset", str(path), "--format", "native",
               "--project", "x", "--create-project", "step_labels"]  # fmt: skip
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        assert expected in proc.stderr
        assert proc.stderr.rstrip().endswith("nothing was written.")
    assert not Project.objects.filter(slug="x").exists()
