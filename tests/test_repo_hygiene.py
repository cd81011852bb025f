"""The repository's own promises: layout, migrations, and that platform/ never shadows the
standard library's `platform`."""

import platform as stdlib_platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_platform_folder_holds_no_python():
    assert not list((ROOT / "platform").rglob("*.py"))
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_platform_module_is_the_standard_library():
    assert callable(stdlib_platform.system)
    assert stdlib_platform.system() in {"Linux", "Darwin", "Windows"}
    out = subprocess.run(
        [sys.executable, "-c", "import platform; print(platform.__file__)"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert str(ROOT / "platform") not in out.stdout


def test_migrations_are_complete(db):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_layout_exists():
    for path in ["config/celery.py", "annotation/importers", "annotation/services",
                 "annotation/selectors", "annotation/api", "labeling_jobs", "frontend/templates",
                 "frontend/static", "bench", "docker-compose.yml", ".ci/run", "Makefile"]:  # fmt: skip
        assert (ROOT / path).exists(), path


def test_no_shared_data_copied_into_repo():
    import hashlib

    shared = ROOT.parent / "shared" / "data"
    if not shared.is_dir():
        return
    shared_sums = {
        hashlib.sha256(p.read_bytes()).hexdigest() for p in shared.iterdir() if p.is_file()
    }
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    for name in tracked.stdout.decode().split("\0"):
        p = ROOT / name
        if name and p.is_file() and not p.is_symlink():
            assert hashlib.sha256(p.read_bytes()).hexdigest() not in shared_sums, name
