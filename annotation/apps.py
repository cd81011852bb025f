from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Annotation"

    def ready(self) -> None:
        # Task senders (services queue through annotation.dispatch), the worker heartbeat
        # (a bootstep of every worker), and the runs the sweep watches.
        from annotation import tasks  # noqa: F401
        from annotation.backup import sections as backup_sections
        from annotation.models import ExportRun, ImportRun, StatsRefresh
        from annotation.services.runs import run_kind_register
        from annotation.worker import worker_heartbeat_install
        from config.celery import app

        worker_heartbeat_install(app)
        for model in (ExportRun, ImportRun, StatsRefresh):
            run_kind_register(model=model)
        # The models this app puts in project backups, and those it leaves out.
        backup_sections.register()
