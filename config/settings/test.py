"""Test settings: PostgreSQL and Redis when DATABASE_URL / CELERY_BROKER_URL are set (CI),
otherwise SQLite and an in-memory broker."""

import tempfile
from pathlib import Path

from config.env import env
from config.settings.base import *  # noqa: F403

SECRET_KEY = "test-only-not-secret"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["*"]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default="sqlite:///:memory:"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": "file:stepwise_test?mode=memory&cache=shared"}

# A host in the URL, or kombu warns "No hostname was supplied" on every connection.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="memory://localhost/")
# Model tests compare scores computed two ways; float32 keeps them exactly comparable.
STEPWISE_CPU_DTYPE = "float32"
CELERY_TASK_ALWAYS_EAGER = False

_tmp = Path(tempfile.mkdtemp(prefix="stepwise-test-"))
MEDIA_ROOT = _tmp / "media"
VAR_DIR = _tmp
STATIC_ROOT = _tmp / "static"
STATIC_ROOT.mkdir()
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False}
WHITENOISE_AUTOREFRESH = True
CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
# Login lockout and API throttles are off for the suite (one client, hundreds of requests per
# second); their own tests turn them on with override_settings and a real cache.
AXES_ENABLED = False
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None, "login": None},
}
