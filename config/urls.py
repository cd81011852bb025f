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

handler404 = "annotation.api.django_handlers.page_not_found"
handler500 = "annotation.api.django_handlers.server_error"
