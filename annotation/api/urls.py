"""URLs of the REST API, mounted at /api/v1/ (namespace `api`)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from annotation.api import (
    auth_views,
    backup_views,
    docs,
    item_views,
    model_loop_views,
    settings_views,
    study_views,
    views,
)
from annotation.api.index import ApiIndexApi

app_name = "api"

project = "projects/<slug:slug>/"

urlpatterns = [
    path("", ApiIndexApi.as_view(), name="index"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs.ApiDocsView.as_view(), name="docs"),
    path("schemas/import/", views.ImportSchemaApi.as_view(), name="schema-import"),
    path("auth/token/", auth_views.AuthTokenCreateApi.as_view(), name="auth-token"),
    path("auth/unlock/", auth_views.AuthUnlockApi.as_view(), name="auth-unlock"),
    path("projects/", views.ProjectListCreateApi.as_view(), name="project-list"),
    path("backups/restore/", backup_views.ProjectRestoreApi.as_view(), name="project-restore"),
    path(project, views.ProjectDetailApi.as_view(), name="project-detail"),
    path(f"{project}backup/", backup_views.ProjectBackupApi.as_view(), name="project-backup"),
    path(
        f"{project}model-loop/",
        model_loop_views.ModelLoopSettingsApi.as_view(),
        name="project-model-loop",
    ),
    path(f"{project}members/", views.MemberListSetApi.as_view(), name="member-list"),
    path(
        f"{project}members/<int:pk>/",
        settings_views.MemberDetailApi.as_view(),
        name="member-detail",
    ),
    path(
        f"{project}settings/", settings_views.ProjectSettingsApi.as_view(), name="project-settings"
    ),
    path(f"{project}schema/", settings_views.ProjectSchemaApi.as_view(), name="project-schema"),
    path(f"{project}datasets/", views.DatasetListCreateApi.as_view(), name="dataset-list"),
    path(f"{project}datasets/<int:pk>/", views.DatasetDetailApi.as_view(), name="dataset-detail"),
    path(f"{project}items/", item_views.ItemListApi.as_view(), name="item-list"),
    path(f"{project}items/bulk/", item_views.ItemBulkApi.as_view(), name="item-bulk"),
    path(f"{project}items/<int:pk>/", item_views.ItemDetailApi.as_view(), name="item-detail"),
    path(f"{project}imports/", views.ImportRunListCreateApi.as_view(), name="import-list"),
    path(f"{project}imports/<int:pk>/", views.ImportRunDetailApi.as_view(), name="import-detail"),
    path(
        f"{project}imports/<int:pk>/retry/", views.ImportRunRetryApi.as_view(), name="import-retry"
    ),
    path(
        f"{project}study-links/",
        study_views.StudyLinkListCreateApi.as_view(),
        name="study-link-list",
    ),
    path(
        f"{project}study-links/<int:pk>/",
        study_views.StudyLinkDetailApi.as_view(),
        name="study-link-detail",
    ),
    path(
        f"{project}study-links/<int:pk>/workers/",
        study_views.StudyWorkerListApi.as_view(),
        name="study-worker-list",
    ),
    path("", include("annotation.api.annotate_urls")),
]

from annotation.api.export_urls import export_urlpatterns  # noqa: E402

urlpatterns += export_urlpatterns
