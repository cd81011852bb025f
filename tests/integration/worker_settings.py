"""Settings of the worker subprocesses in the run-crash tests: the test settings, with a short
Redis visibility timeout (a SIGKILLed worker's message comes back within seconds, not an
hour), fast heartbeats (a dead worker's run is stale after 3 s instead of 3 minutes), and the
test process's MEDIA_ROOT, where the uploads are (see tests/integration/workers.py)."""

import os
from pathlib import Path

from config.settings.test import *  # noqa: F403

MEDIA_ROOT = Path(os.environ["STEPWISE_TEST_MEDIA_ROOT"])

CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 4, "unacked_restore_interval": 1}
STEPWISE_RUN_HEARTBEAT_SECONDS = 0.5
STEPWISE_RUN_STALE_SECONDS = 3
STEPWISE_WORKER_HEARTBEAT_SECONDS = 2
