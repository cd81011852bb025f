"""Settings shared by every deployment. Deployment modules override what differs."""

from pathlib import Path

from config.env import BASE_DIR, env

VAR_DIR = Path(env.str("STEPWISE_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "django_htmx",
    "template_partials",
    "annotation",
    "labeling_jobs",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

AUTH_USER_MODEL = "annotation.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = Path(env.str("STEPWISE_MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Uploads bigger than this go to a temporary file rather than memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "annotation.api.errors.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Stepwise API",
    "DESCRIPTION": "Annotation and human-feedback data for LLM training: reasoning traces, "
    "counseling dialogues and preference pairs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"ImportFormatEnum": "annotation.importers.FORMAT_NAMES"},
}

# --- Celery -----------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
# One queue per kind of work: model jobs go to `gpu` workers (concurrency 1 per GPU).
CELERY_TASK_ROUTES = {
    "annotation.tasks.*": {"queue": "default"},
    "labeling_jobs.tasks.*": {"queue": "gpu"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Stepwise ---------------------------------------------------------------------------
# A line (or a record of a JSON-array file) over this many bytes is rejected with its number.
STEPWISE_IMPORT_MAX_LINE_BYTES = env.int("STEPWISE_IMPORT_MAX_LINE_BYTES", default=1_000_000)
STEPWISE_IMPORT_MAX_FILE_BYTES = env.int("STEPWISE_IMPORT_MAX_FILE_BYTES", default=2_000_000_000)
# Items parsed per COPY batch. PostgreSQL stores one batch while the next is parsed, so a
# smaller batch shortens the parts that cannot overlap (the first parse, the last COPY).
STEPWISE_IMPORT_BATCH_SIZE = env.int("STEPWISE_IMPORT_BATCH_SIZE", default=1000)
STEPWISE_IMPORT_ERROR_LIMIT = 100
# How long a claimed item stays reserved for its annotator before it returns to the pool.
STEPWISE_LEASE_SECONDS = env.int("STEPWISE_LEASE_SECONDS", default=30 * 60)
# Idle gaps longer than this do not count as time spent on an item.
STEPWISE_IDLE_SECONDS = 5 * 60
# Labeling jobs: chunking, attempts before a chunk fails its job, the local model cache, and
# an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, Ollama) for the `openai` backend.
STEPWISE_LABELING_CHUNK_SIZE = env.int("STEPWISE_LABELING_CHUNK_SIZE", default=16)
STEPWISE_LABELING_MAX_ATTEMPTS = env.int("STEPWISE_LABELING_MAX_ATTEMPTS", default=3)
STEPWISE_LABELING_BATCH_SEQUENCES = env.int("STEPWISE_LABELING_BATCH_SEQUENCES", default=64)
STEPWISE_MODEL_CACHE_DIR = env.str("STEPWISE_MODEL_CACHE_DIR", default=str(VAR_DIR / "models"))
STEPWISE_OPENAI_BASE_URL = env.str("STEPWISE_OPENAI_BASE_URL", default="http://127.0.0.1:8001/v1")
STEPWISE_OPENAI_API_KEY = env.str("STEPWISE_OPENAI_API_KEY", default="")
STEPWISE_OPENAI_CONCURRENCY = env.int("STEPWISE_OPENAI_CONCURRENCY", default=8)
STEPWISE_DEMO_MODEL = env.str("STEPWISE_DEMO_MODEL", default="SmolLM2-135M-Instruct")
# A worker whose heartbeat is older than this is reported as down by /healthz.
STEPWISE_WORKER_HEARTBEAT_SECONDS = env.int("STEPWISE_WORKER_HEARTBEAT_SECONDS", default=10)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}
