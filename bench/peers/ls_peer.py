"""Label Studio as a peer process: install it once into a virtualenv under var/peers/, give
each run a fresh data dir (its default SQLite, copied from a migrated template), start it
under gunicorn, create users with API tokens, stop it by its process group.

Used by bench/peers/label_studio.py (the side-by-side benchmark), by
bench/peers/ls_fixtures.py (export files that Label Studio itself writes) and by the slow
Label Studio round-trip test. Nothing here imports Label Studio: it runs in its own
interpreter (`_ls_admin.py` for the database-side set-up).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
LS_VERSION = "1.23.2"
PEERS_DIR = ROOT / "var" / "peers"
VENV = PEERS_DIR / f"label-studio-{LS_VERSION}"
TEMPLATE_DIR = PEERS_DIR / f"label-studio-{LS_VERSION}-template"
ADMIN_SCRIPT = Path(__file__).with_name("_ls_admin.py")
HOST = "127.0.0.1"


class PeerUnavailableError(RuntimeError):
    """Label Studio cannot be installed or started here (no registry, no Python 3.11 ...)."""


def python() -> Path:
    return VENV / "bin" / "python"


def package_dir() -> Path:
    return next((VENV / "lib").glob("python3*/site-packages/label_studio"))


def installed() -> bool:
    if not (VENV / "bin" / "gunicorn").exists() or not python().exists():
        return False
    probe = subprocess.run(
        [str(python()), "-c", "import importlib.metadata as m; print(m.version('label-studio'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.returncode == 0 and probe.stdout.strip() == LS_VERSION


def ensure_installed(*, skip_install: bool = False, timeout: float = 1200) -> None:
    """pip-install label-studio==LS_VERSION and gunicorn into VENV, once."""
    if installed():
        return
    if skip_install:
        raise PeerUnavailableError(
            f"--skip-install: no label-studio {LS_VERSION} in {VENV}; run once without it"
        )
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    base = shutil.which("python3.11") or sys.executable
    steps = [
        [base, "-m", "venv", "--clear", str(VENV)],
        [str(python()), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         f"label-studio=={LS_VERSION}", "gunicorn"],
    ]  # fmt: skip
    for cmd in steps:
        print(f"$ {' '.join(cmd)}", file=sys.stderr, flush=True)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise PeerUnavailableError(f"{cmd[2]} timed out after {timeout:.0f} s") from exc
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise PeerUnavailableError(f"installing label-studio failed: {tail}")


def ls_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="label_studio.core.settings.label_studio",
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        # Production-like: Label Studio defaults to DEBUG=True and DEBUG logging.
        DEBUG="false",
        LOG_LEVEL="WARNING",
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",  # noqa: S106 - a flag, not a secret
        COLLECT_ANALYTICS="false",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
    )
    return env


def _admin(data_dir: Path, *args: str, timeout: float = 600) -> str:
    done = subprocess.run(
        # -P: bench/peers/label_studio.py (this harness) must not shadow the package.
        [str(python()), "-P", str(ADMIN_SCRIPT), *args],
        env=ls_env(data_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise PeerUnavailableError(f"label-studio admin {args[0]} failed: {done.stderr[-2000:]}")
    return done.stdout


def fresh_data_dir() -> Path:
    """A new data dir holding a copy of the migrated template database (migrating a fresh
    SQLite file takes Label Studio about a minute; copying it, milliseconds)."""
    db = TEMPLATE_DIR / "label_studio.sqlite3"
    if not db.exists():
        TEMPLATE_DIR.mkdir(parents=True, exist_ok=True)
        _admin(TEMPLATE_DIR, "migrate")
    runs = PEERS_DIR / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="ls-", dir=runs))
    shutil.copy2(db, data_dir / db.name)
    return data_dir


def create_users(data_dir: Path, emails: list[str]) -> dict[str, dict[str, object]]:
    """An organization whose first email is its owner; email -> {id, token}."""
    return json.loads(_admin(data_dir, "users", *emails).strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, *, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PeerUnavailableError(f"{url}: the server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise PeerUnavailableError(f"{url} did not answer within {timeout:.0f} s")


def start(
    data_dir: Path, *, port: int, workers: int = 2, threads: int = 4, log: Path | None = None
) -> subprocess.Popen:
    """Label Studio under gunicorn (`workers` × `threads`), in its own process group."""
    cmd = [
        str(VENV / "bin" / "gunicorn"), "label_studio.core.wsgi:application",
        "--bind", f"{HOST}:{port}", "--workers", str(workers), "--threads", str(threads),
        "--worker-class", "gthread", "--timeout", "300", "--log-level", "warning",
        # Label Studio imports its apps as top-level modules (`core`, `projects`, ...).
        "--pythonpath", str(package_dir()),
    ]  # fmt: skip
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, env=ls_env(data_dir), cwd=data_dir, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_http(f"http://{HOST}:{port}/health", proc)
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(proc: subprocess.Popen | None) -> None:
    """Stop a server started with start_new_session: its whole process group, by its PID."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    page = os.sysconf("SC_PAGE_SIZE")
    while todo:
        p = todo.pop()
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * page
        except OSError:
            continue
        todo += children.get(p, [])
    return total
