"""REST URLs of exports and agreement; included by annotation.api.urls."""

from django.urls import path

from annotation.api import export_views

project = "projects/<slug:slug>/"

export_urlpatterns = [
    path(f"{project}exports/", export_views.ExportRunListCreateApi.as_view(), name="export-list"),
    path(
        f"{project}exports/<int:pk>/",
        export_views.ExportRunDetailApi.as_view(),
        name="export-detail",
    ),
    path(
        f"{project}exports/<int:pk>/retry/",
        export_views.ExportRunRetryApi.as_view(),
        name="export-retry",
    ),
    path(
        f"{project}exports/<int:pk>/download/<path:filename>",
        export_views.ExportRunDownloadApi.as_view(),
        name="export-download",
    ),
    path(f"{project}agreement/", export_views.AgreementApi.as_view(), name="agreement"),
]
