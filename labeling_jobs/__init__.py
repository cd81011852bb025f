"""Labeling jobs: LLM-as-judge, Monte-Carlo step estimation, first-error search, consensus,
pair judge and turn coder, run as chunked Celery tasks on the `gpu` queue (see services)."""
