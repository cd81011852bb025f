"""The Celery app. Queues: `default` for imports and bookkeeping, `gpu` for model jobs.

This module imports no app code: the apps register their tasks (autodiscovery of each app's
`tasks` module), their senders (`annotation.dispatch`) and their worker signals (the worker
heartbeat, `annotation.worker`) from their AppConfig's `ready()`.
"""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.embedded")

app = Celery("stepwise")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("gpu"))
app.conf.task_default_queue = "default"
app.autodiscover_tasks()
