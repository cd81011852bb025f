"""The embedded default: SQLite in WAL mode and a Celery broker on the local filesystem.

`make run` uses these settings on a fresh laptop with no servers installed. A secret key is
generated once and kept under var/. Setting DATABASE_URL / CELERY_BROKER_URL switches the
database or broker without changing module.
"""

import secrets

from config.env import env
from config.settings.base import *  # noqa: F403
from config.settings.base import VAR_DIR

DEBUG = env.bool("DJANGO_DEBUG", default=True)
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret_key() -> str:
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _local_secret_key()

_sqlite_path = VAR_DIR / "stepwise.sqlite3"
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{_sqlite_path}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # Run on every new connection. WAL lets the web app read while a worker writes;
        # synchronous=NORMAL is safe in WAL (a power cut may lose the last commits, never
        # corrupt) and saves an fsync per commit; a 64 MB page cache, memory-mapped reads
        # (256 MB) and temporary tables in memory keep a 100,000-item project's reads off
        # the disk. The busy timeout is also `timeout` below; both say 20 s.
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; "
            "PRAGMA mmap_size=268435456; PRAGMA temp_store=MEMORY; PRAGMA busy_timeout=20000;"
        ),
        # IMMEDIATE takes the write lock at BEGIN so two writers queue on the busy timeout
        # instead of failing mid-transaction ("database is locked" on the upgrade).
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Threads of the web server reuse their connection (the PRAGMAs run once per thread).
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=600)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

_broker_dir = VAR_DIR / "broker"
# A host in the URL: kombu warns "No hostname was supplied" on every start without one.
_broker_default = "filesystem://localhost/"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=_broker_default)
if CELERY_BROKER_URL == "filesystem://":
    CELERY_BROKER_URL = _broker_default
if CELERY_BROKER_URL in (_broker_default,):
    for sub in ("in", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "in"),
        "data_folder_out": str(_broker_dir / "in"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }

# Static files straight from the apps' folders: the embedded server needs no collectstatic,
# with DEBUG on or off.
WHITENOISE_USE_FINDERS = True
