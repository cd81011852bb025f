"""`manage.py check --deploy` under the production settings with HTTPS configured reports
nothing (HSTS, SSL redirect, secure cookies, the schema's warnings, axes and csp checks);
the switches are settings read from the environment."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLEAN = "System check identified no issues (0 silenced)."


def _env(**extra: str) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL="postgres://stepwise:pw@db.internal:5432/stepwise",
        CELERY_BROKER_URL="redis://redis:6379/0",
        DJANGO_ALLOWED_HOSTS="stepwise.example.org",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://stepwise.example.org",
    )
    env.update(extra)
    return env


def _manage(*args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_env(**extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _settings(*names: str, **extra: str) -> dict:
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {list(names)!r}}}, default=str))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(**extra), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_check_deploy_with_https_reports_nothing():
    proc = _manage("check", "--deploy", "--fail-level", "WARNING")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == CLEAN
    assert proc.stderr.strip() == ""


def test_check_deploy_without_https_says_what_is_missing():
    """The check is not vacuous: a plain-HTTP trial (DJANGO_HTTPS=false) is reported."""
    proc = _manage("check", "--deploy", DJANGO_HTTPS="false")
    out = proc.stdout + proc.stderr
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in out, out


def test_https_settings_default_on_and_follow_the_environment():
    names = (
        "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
        "SECURE_PROXY_SSL_HEADER", "SECURE_REDIRECT_EXEMPT",
    )  # fmt: skip
    on = _settings(*names)
    assert on["SECURE_SSL_REDIRECT"] is True
    assert on["SECURE_HSTS_SECONDS"] == 31_536_000
    assert on["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert on["SECURE_HSTS_PRELOAD"]
    assert on["SESSION_COOKIE_SECURE"]
    assert on["CSRF_COOKIE_SECURE"]
    # Trusting X-Forwarded-Proto is opt-in: only behind a proxy that sets it.
    assert on["SECURE_PROXY_SSL_HEADER"] is None
    assert on["SECURE_REDIRECT_EXEMPT"] == ["^healthz$"]
    proxied = _settings("SECURE_PROXY_SSL_HEADER", DJANGO_TRUST_X_FORWARDED_PROTO="true")
    assert proxied["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    trial = _settings(*names, DJANGO_SECURE_COOKIES="false")
    assert trial["SECURE_SSL_REDIRECT"] is False
    assert trial["SECURE_HSTS_SECONDS"] == 0
    assert trial["SESSION_COOKIE_SECURE"] is False


def test_production_mail_cache_and_throttles_come_from_the_environment():
    got = _settings(
        "EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_USE_TLS", "EMAIL_HOST_USER",
        "CACHES", "REST_FRAMEWORK", "STEPWISE_PROXY_COUNT",
        DJANGO_EMAIL_URL="smtp+tls://mailer:secret@smtp.example.org:587",
        DJANGO_CACHE_URL="redis://redis:6379/1",
        STEPWISE_API_THROTTLE_USER="", STEPWISE_PROXY_COUNT="1",
    )  # fmt: skip
    assert got["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (got["EMAIL_HOST"], got["EMAIL_PORT"], got["EMAIL_USE_TLS"]) == (
        "smtp.example.org", 587, True,
    )  # fmt: skip
    assert got["EMAIL_HOST_USER"] == "mailer"
    assert got["CACHES"]["default"]["LOCATION"] == "redis://redis:6379/1"
    rates = got["REST_FRAMEWORK"]["DEFAULT_THROTTLE_RATES"]
    assert rates["user"] is None
    assert rates["anon"] == "60/minute"
    assert got["REST_FRAMEWORK"]["NUM_PROXIES"] == 1


def test_beat_schedule_names_registered_tasks():
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "from config.celery import app; app.loader.import_default_modules(); "
        "print(json.dumps({k: v['task'] in app.tasks "
        "for k, v in settings.CELERY_BEAT_SCHEDULE.items()}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    registered = json.loads(proc.stdout)
    assert registered == {"import-upload-sweep": True, "runs-sweep": True}
