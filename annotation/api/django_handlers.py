"""Django's handler404 and handler500, answering JSON under /api/ like the API's own errors.

A URL under /api/v1/ that matches no route (`/projects/x/items/-1/`), or a crash outside a
DRF view, would otherwise get Django's HTML page, which API clients cannot read and the
OpenAPI schema does not describe.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Server error.", "code": "server_error"}, status=500)
    return defaults.server_error(request)
