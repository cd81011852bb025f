"""Settings of the worker subprocess in the crash-recovery test: the test settings, with a
short Redis visibility timeout so that the message of a SIGKILLed worker is delivered again
within seconds instead of an hour."""

from config.settings.test import *  # noqa: F403

CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 4, "unacked_restore_interval": 1}
