"""URLs of the managers' dashboard; included by annotation.web.urls."""

from django.urls import path

from annotation.web import dashboard

urlpatterns = [
    path("projects/<slug:slug>/dashboard/", dashboard.dashboard, name="dashboard"),
    path("projects/<slug:slug>/dashboard/body/", dashboard.dashboard_body, name="dashboard_body"),
    path(
        "projects/<slug:slug>/dashboard/status/",
        dashboard.dashboard_status,
        name="dashboard_status",
    ),
    path(
        "projects/<slug:slug>/dashboard/refresh/",
        dashboard.dashboard_refresh,
        name="dashboard_refresh",
    ),
]
