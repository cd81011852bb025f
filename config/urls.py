"""The site's URLs; the apps' URLconfs are included by name (config/ imports no app code)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("annotation.api.urls")),
    path("", include("labeling_jobs.urls")),
    path("", include("annotation.web.urls")),
]

handler404 = "annotation.api.django_handlers.page_not_found"
handler500 = "annotation.api.django_handlers.server_error"
