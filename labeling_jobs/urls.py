"""Labeling-job URLs: the REST API under /api/v1/projects/{slug}/jobs/ and the managers'
pages under /projects/{slug}/jobs/. Mounted at the site root by config/urls.py."""

from django.urls import path

from labeling_jobs import api, views

app_name = "labeling_jobs"

_api = "api/v1/projects/<slug:slug>/jobs/"
_web = "projects/<slug:slug>/jobs/"

urlpatterns = [
    path(_api, api.LabelingJobListCreateApi.as_view(), name="api-job-list"),
    path(f"{_api}<int:pk>/", api.LabelingJobDetailApi.as_view(), name="api-job-detail"),
    path(f"{_api}<int:pk>/cancel/", api.LabelingJobCancelApi.as_view(), name="api-job-cancel"),
    path(f"{_api}<int:pk>/retry/", api.LabelingJobRetryApi.as_view(), name="api-job-retry"),
    path(_web, views.jobs, name="jobs"),
    path(f"{_web}form/", views.job_form, name="job_form"),
    path("api/v1/projects/<slug:slug>/models/", api.ModelListApi.as_view(), name="api-model-list"),
    path(f"{_web}<int:job_id>/", views.job_detail, name="job_detail"),
    path(f"{_web}<int:job_id>/progress/", views.job_progress, name="job_progress"),
    path(f"{_web}<int:job_id>/row/", views.job_row, name="job_row"),
    path(f"{_web}<int:job_id>/results/", views.job_results, name="job_results"),
    path(f"{_web}<int:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path(f"{_web}<int:job_id>/retry/", views.job_retry, name="job_retry"),
]
