"""Production: PostgreSQL and Redis, secrets from the environment only.

HTTPS is on unless DJANGO_HTTPS=false (a plain-HTTP trial on localhost): plain-HTTP requests
are redirected, cookies are marked Secure and browsers are told to use HTTPS for a year
(HSTS). Behind a TLS-terminating proxy set DJANGO_TRUST_X_FORWARDED_PROTO=true (the proxy
must set X-Forwarded-Proto and drop any value a client sent) and STEPWISE_PROXY_COUNT.
`manage.py check --deploy` with these settings reports no issue (tests/test_deploy_check.py).
"""

from celery.schedules import crontab

from config.env import env
from config.settings.base import *  # noqa: F403

DEBUG = False
# No default: production refuses to start without a real key.
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
DATABASES = {"default": env.db_url("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL")

# --- HTTPS -------------------------------------------------------------------------------
# DJANGO_SECURE_COOKIES=false (the older switch for a plain-HTTP trial) also turns HTTPS off.
HTTPS = env.bool("DJANGO_HTTPS", default=env.bool("DJANGO_SECURE_COOKIES", default=True))
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=HTTPS)
# Health probes of a load balancer or of compose speak plain HTTP to the container.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=HTTPS)
if env.bool("DJANGO_TRUST_X_FORWARDED_PROTO", default=False):
    # Only behind a proxy that sets this header itself: otherwise a client could claim HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- cache, mail, periodic tasks ---------------------------------------------------------
# The API throttles count in the cache, which every gunicorn worker must share.
CACHES = {"default": env.cache_url("DJANGO_CACHE_URL", default="redis://127.0.0.1:6379/1")}
# Password-reset mail: smtp://user:password@host:25, smtp+tls://...:587 or smtp+ssl://...:465.
# Unset, mails are printed to the web process's log (consolemail://) instead of failing.
_email = env.email_url("DJANGO_EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)

# Celery beat (`celery -A config beat`) runs these; the embedded default has no beat.
CELERY_BEAT_SCHEDULE = {
    "runs-sweep": {
        "task": "annotation.tasks.runs_sweep_task",
        "schedule": float(STEPWISE_RUN_SWEEP_SECONDS),  # noqa: F405
    },
    "import-upload-sweep": {
        "task": "annotation.tasks.import_upload_sweep_task",
        "schedule": crontab(minute=17),
    },
}
