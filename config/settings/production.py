"""Production: PostgreSQL and Redis, secrets from the environment only."""

from config.env import env
from config.settings.base import *  # noqa: F403

DEBUG = False
# No default: production refuses to start without a real key.
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
DATABASES = {"default": env.db_url("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Celery beat (the `beat` service in docker-compose.yml) runs the sweep that fails or requeues
# background runs whose worker stopped beating.
CELERY_BEAT_SCHEDULE = {
    "runs-sweep": {
        "task": "annotation.tasks.runs_sweep_task",
        "schedule": float(STEPWISE_RUN_SWEEP_SECONDS),  # noqa: F405
    },
}
