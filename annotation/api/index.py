"""`GET /api/v1/`: a JSON index of the API, for clients and people exploring with curl.

The resources are read from the URL configuration itself (every route under api/v1/, with
the HTTP methods its view answers and the first line of its docstring), so the index cannot
drift from the API. Public, like the schema; `user` says who the token belongs to (null
without one), so a client can check its credentials with one request.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

API_PREFIX = "api/v1/"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def _template(route: str) -> str:
    """'projects/<slug:slug>/items/<int:pk>/' -> '/projects/{slug}/items/{id}/' (the OpenAPI
    schema's spelling: drf-spectacular names a `pk` parameter `id`)."""
    return "/" + _CONVERTER.sub(lambda m: "{id}" if m[1] == "pk" else "{" + m[1] + "}", route)


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def _summary(view_class: type) -> str:
    doc = (view_class.__doc__ or "").strip()
    return " ".join(doc.split("\n\n", 1)[0].split())


@cache
def api_resources() -> tuple[dict[str, Any], ...]:
    """Every route under /api/v1/ except the index: name, path template, methods, summary."""
    out = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if not route.startswith(API_PREFIX) or route == API_PREFIX:
            continue
        view_class = getattr(pattern.callback, "cls", None) or getattr(
            pattern.callback, "view_class", None
        )
        if view_class is None:
            continue
        methods = [m.upper() for m in HTTP_METHODS if hasattr(view_class, m)]
        name = (pattern.name or "").removeprefix("api-")
        out.append(
            {
                "name": name,
                "path": _template(route),
                "methods": methods,
                "summary": _summary(view_class),
            }
        )
    return tuple(sorted(out, key=lambda r: r["path"]))


class ApiIndexApi(APIView):
    """The API index: version, the caller, links to the schema and docs, and every resource."""

    permission_classes = (AllowAny,)

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, operation_id="index_retrieve")
    def get(self, request: Request) -> Response:
        spectacular = settings.SPECTACULAR_SETTINGS
        user = request.user
        return Response(
            {
                "name": spectacular.get("TITLE", "Stepwise API"),
                "version": spectacular.get("VERSION", ""),
                "description": spectacular.get("DESCRIPTION", ""),
                "user": user.get_username() if user.is_authenticated else None,
                "authentication": {
                    "header": "Authorization: Token <key>",
                    "token_url": request.build_absolute_uri(reverse("api:auth-token")),
                },
                "schema": request.build_absolute_uri(reverse("api:schema")),
                "docs": request.build_absolute_uri(reverse("api:docs")),
                "import_schema": request.build_absolute_uri(reverse("api:schema-import")),
                "projects": request.build_absolute_uri(reverse("api:project-list")),
                "resources": list(api_resources()),
            }
        )
