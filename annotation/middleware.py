"""Request guards that run before any view."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse


class RejectNulMiddleware:
    """A NUL character (%00) in a query parameter or a form field is a 400 before any view
    runs.

    PostgreSQL cannot compare text with a NUL in it (psycopg refuses the query), so a view
    filtering on such a parameter would crash; no legitimate link carries one. Form fields
    and API bodies are checked where they are parsed (Django's and DRF's CharField, and
    `annotation.api.parsers.JSONParser`).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        params = [request.GET]
        if request.method == "POST" and request.content_type in FORM_TYPES:
            # Form fields (not files); Django and DRF reuse what is parsed here.
            params.append(request.POST)
        for querydict in params:
            for key, values in querydict.lists():
                if "\x00" in key or any("\x00" in v for v in values):
                    return _refuse(request, key.replace("\x00", ""))
        return self.get_response(request)


FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _refuse(request: HttpRequest, field: str) -> HttpResponse:
    message = f"{field}: must not contain NUL characters"
    if request.path.startswith("/api/"):
        return JsonResponse({field or "non_field_errors": [message]}, status=400)
    return HttpResponseBadRequest(message)
