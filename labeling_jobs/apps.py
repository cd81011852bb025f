from django.apps import AppConfig


class LabelingJobsConfig(AppConfig):
    name = "labeling_jobs"
    verbose_name = "Labeling jobs"

    def ready(self) -> None:
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
