from django.apps import AppConfig


class LabelingJobsConfig(AppConfig):
    name = "labeling_jobs"
    verbose_name = "Labeling jobs"

    def ready(self) -> None:
        # Jobs and their chunks go into project backups; annotation keeps the registry and
        # never imports this app.
        from labeling_jobs import backup

        backup.register()
