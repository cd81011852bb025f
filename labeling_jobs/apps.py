import os

from django.apps import AppConfig


class LabelingJobsConfig(AppConfig):
    name = "labeling_jobs"
    verbose_name = "Labeling jobs"

    def ready(self) -> None:
        # OpenMP threads that spin while waiting thrash when the cores are shared (the
        # embedded default runs the web app and two workers on one machine): a 200-token
        # forward pass of the demo model took 37 s spinning and 2 s sleeping on a busy 2-core
        # machine. torch is imported lazily, after this; an operator's setting wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

        from annotation.services.runs import run_kind_register
        from labeling_jobs import backup, tasks  # noqa: F401
        from labeling_jobs.models import LabelingJob

        # Task senders (annotation.dispatch) and the sweep's watch over jobs. Attempts are
        # capped per chunk, so the sweep requeues a stale job's open chunks and never fails
        # the job itself.
        run_kind_register(model=LabelingJob, capped=False)
        # Jobs and their chunks go into project backups; annotation keeps the registry and
        # never imports this app.
        backup.register()
