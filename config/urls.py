from django.contrib import admin
from django.urls import include, path

from annotation.web.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("annotation.api.urls")),
    path("", include("labeling_jobs.urls")),
    path("", include("annotation.web.urls")),
]
