"""URLs of the managers' dashboard; included by annotation.web.urls."""

from django.urls import path

from annotation.web import dashboard, dashboard_model_loop

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
    path(
        "projects/<slug:slug>/dashboard/model-loop/",
        dashboard_model_loop.model_loop_settings,
        name="dashboard_model_loop",
    ),
]
