"""Settings shared by every deployment. Deployment modules override what differs."""

from datetime import timedelta
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
    "axes",
    "csp",
    "annotation",
    "labeling_jobs",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "annotation.middleware.RejectNulMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A study-link worker's session reaches that link's pages only.
    "annotation.middleware.StudySessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
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

# django-axes checks every authentication (login form, token endpoint, admin) before the
# password is tried: STEPWISE_LOGIN_FAILURE_LIMIT wrong passwords for one username from one
# client address lock that pair out for STEPWISE_LOGIN_COOLOFF_MINUTES (the form shows
# registration/locked_out.html, the API answers 429). Locking the pair, not the username
# alone, keeps a stranger from locking a colleague out from everywhere; the API throttles
# below bound guessing across usernames. Staff unlock with POST /api/v1/auth/unlock/ or
# `manage.py unlock_user USERNAME`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("STEPWISE_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("STEPWISE_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "annotation.web.accounts.lockout_response"
AXES_CLIENT_IP_CALLABLE = "annotation.client_ip.client_ip"
AXES_VERBOSE = False
# Reverse proxies in front of the app (a TLS proxy, a load balancer): with N > 0 the client
# address is read from X-Forwarded-For (the N-th address from the right), for the login
# lockout and the API throttles alike. Leave 0 when clients reach gunicorn directly, or
# anyone could pick their own address.
STEPWISE_PROXY_COUNT = env.int("STEPWISE_PROXY_COUNT", default=0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Password reset mails (Django's flow under /accounts/password/reset/): printed on the console
# here and in the embedded default; production sends them through DJANGO_EMAIL_URL.
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="stepwise@localhost")
PASSWORD_RESET_TIMEOUT = 24 * 3600

# Content-Security-Policy (django-csp): scripts, styles, fonts and images come from this
# server only, with no inline script, inline style or event-handler attribute (the templates
# keep none: values a page computes go in data- attributes or classes), and no page may be
# framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

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

# Uploads bigger than this go to a temporary file rather than memory; a file over
# STEPWISE_IMPORT_MAX_FILE_BYTES is refused while it streams in.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "annotation.upload_handlers.UploadLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "annotation.api.authentication.FastTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "annotation.api.schema.StepwiseAutoSchema",
    # JSON with a NUL character or nested too deeply is a 400, not a database error.
    "DEFAULT_PARSER_CLASSES": [
        "annotation.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "annotation.api.errors.exception_handler",
    # Per client address (anonymous calls, the token endpoint) and per user; a rate is
    # "N/second|minute|hour|day", and an empty value turns that throttle off. Over the rate,
    # the API answers 429 with Retry-After.
    "DEFAULT_THROTTLE_CLASSES": [
        "annotation.api.throttles.AnonRateThrottle",
        "annotation.api.throttles.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("STEPWISE_API_THROTTLE_ANON", default="60/minute") or None,
        "user": env.str("STEPWISE_API_THROTTLE_USER", default="1200/minute") or None,
        "login": env.str("STEPWISE_API_THROTTLE_LOGIN", default="20/minute") or None,
    },
    "NUM_PROXIES": STEPWISE_PROXY_COUNT,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Stepwise API",
    "DESCRIPTION": "Annotation and human-feedback data for LLM training: reasoning traces, "
    "counseling dialogues and preference pairs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # One enum per choice set: several models have a `kind` and a `status`.
    "ENUM_NAME_OVERRIDES": {
        "ImportFormatEnum": "annotation.importers.FORMAT_NAMES",
        "ProjectKindEnum": "annotation.models.ProjectKind",
        "UserKindEnum": "annotation.models.User.Kind",
        "JobKindEnum": "labeling_jobs.models.JobKind",
        "RunStatusEnum": "annotation.models.RunStatus",
        "AssignmentStatusEnum": "annotation.models.Assignment.Status",
    },
    # Every operation documents its error answers (400/401/403/404/415/429).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "annotation.api.schema.add_error_responses",
    ],
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
# Uploads: the largest file one import takes (REST and the upload form), and the bytes of
# uploads a project may keep stored at once (0 = no quota). An upload is deleted when its
# import succeeds; a failed import keeps it STEPWISE_IMPORT_FAILED_RETENTION_DAYS days (for a
# retry), then the sweep (`import_upload_sweep_task`, periodic) deletes it.
STEPWISE_IMPORT_MAX_FILE_BYTES = env.int("STEPWISE_IMPORT_MAX_FILE_BYTES", default=512 * 1024**2)
STEPWISE_PROJECT_UPLOAD_QUOTA_BYTES = env.int(
    "STEPWISE_PROJECT_UPLOAD_QUOTA_BYTES", default=10 * 1024**3
)
STEPWISE_IMPORT_FAILED_RETENTION_DAYS = env.int("STEPWISE_IMPORT_FAILED_RETENTION_DAYS", default=7)
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
# Local models listed on the jobs page (a folder with stepwise_model.json; trained PRMs).
STEPWISE_MODELS_DIR = env.str("STEPWISE_MODELS_DIR", default=STEPWISE_MODEL_CACHE_DIR)
# Device of the model worker for the jobs page's defaults and estimates ("" = detect).
STEPWISE_JOB_DEVICE = env.str("STEPWISE_JOB_DEVICE", default="")
# Local models on CPU: float32, bfloat16, or auto (bfloat16 where the CPU has AMX-BF16).
STEPWISE_CPU_DTYPE = env.str("STEPWISE_CPU_DTYPE", default="auto")
# Tokens per forward pass when scoring (verify, PRM): rows x longest row.
STEPWISE_LABELING_TOKEN_BUDGET = env.int("STEPWISE_LABELING_TOKEN_BUDGET", default=8192)
STEPWISE_OPENAI_BASE_URL = env.str("STEPWISE_OPENAI_BASE_URL", default="http://127.0.0.1:8001/v1")
STEPWISE_OPENAI_API_KEY = env.str("STEPWISE_OPENAI_API_KEY", default="")
STEPWISE_OPENAI_CONCURRENCY = env.int("STEPWISE_OPENAI_CONCURRENCY", default=8)
STEPWISE_DEMO_MODEL = env.str("STEPWISE_DEMO_MODEL", default="SmolLM2-135M-Instruct")
# A worker whose heartbeat is older than this is reported as down by /healthz.
STEPWISE_WORKER_HEARTBEAT_SECONDS = env.int("STEPWISE_WORKER_HEARTBEAT_SECONDS", default=10)
# Background runs (imports, exports, dashboard refreshes, labeling jobs): a running run beats
# this often; one whose last beat is older than STEPWISE_RUN_STALE_SECONDS has lost its worker,
# and a redelivered task or the sweep (every STEPWISE_RUN_SWEEP_SECONDS) takes it over. A run
# started STEPWISE_RUN_MAX_ATTEMPTS times without finishing ends failed.
STEPWISE_RUN_HEARTBEAT_SECONDS = env.int("STEPWISE_RUN_HEARTBEAT_SECONDS", default=10)
STEPWISE_RUN_STALE_SECONDS = env.int("STEPWISE_RUN_STALE_SECONDS", default=180)
STEPWISE_RUN_MAX_ATTEMPTS = env.int("STEPWISE_RUN_MAX_ATTEMPTS", default=3)
STEPWISE_RUN_SWEEP_SECONDS = env.int("STEPWISE_RUN_SWEEP_SECONDS", default=60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}
