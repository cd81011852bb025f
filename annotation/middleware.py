"""Request guards that run before any view."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse


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


STUDY_SESSION_KEY = "stepwise:study"


class StudySessionMiddleware:
    """A session that came in through a study link (`annotation.web.study`) reaches that
    link's pages and the static files, and nothing else: every other page, other projects
    and the API answer 404 as if they did not exist.

    The marker is set at the worker's sign-in and lives in their session only; signing in
    as anyone else (or out) flushes it. Runs after the authentication middleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Only requests with a session cookie can carry the marker; others never touch the
        # session (which would add `Vary: Cookie` to every API answer).
        token = None
        if settings.SESSION_COOKIE_NAME in request.COOKIES and hasattr(request, "session"):
            token = request.session.get(STUDY_SESSION_KEY)
        if token and not _study_path_allowed(request.path, str(token)):
            raise Http404("No such page")
        return self.get_response(request)


def _study_path_allowed(path: str, token: str) -> bool:
    static = settings.STATIC_URL or "/static/"
    if not static.startswith("/"):
        static = "/" + static
    # Another link's entry URL stays open: the same worker may start a second study.
    return path.startswith((f"/s/{token}/", static)) or _ENTRY_RE.match(path) is not None


_ENTRY_RE = re.compile(r"^/s/[-\w]+/$")
