#!/bin/sh
# Container entry point: `web`, `worker` (queue default), `beat` (periodic tasks) or
# `worker-gpu` (queue gpu, one process per GPU; pick the GPU with CUDA_VISIBLE_DEVICES).
set -e
case "${1:-web}" in
  web)
    python manage.py migrate --noinput
    exec gunicorn config.wsgi:application --bind 0.0.0.0:8000 \
      --workers "${GUNICORN_WORKERS:-4}" --access-logfile -
    ;;
  worker)
    exec celery -A config worker -Q default --concurrency "${CELERY_CONCURRENCY:-2}" \
      --loglevel INFO -n "default@%h"
    ;;
  beat)
    exec celery -A config beat --loglevel INFO --schedule /tmp/celerybeat-schedule
    ;;
  worker-gpu)
    exec celery -A config worker -Q gpu --concurrency 1 --prefetch-multiplier 1 \
      --loglevel INFO -n "gpu@%h"
    ;;
  *)
    exec "$@"
    ;;
esac
