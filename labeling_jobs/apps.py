from django.apps import AppConfig


class LabelingJobsConfig(AppConfig):
    name = "labeling_jobs"
    verbose_name = "Labeling jobs"
