"""The REST API's one exception handler: ApplicationError in, a JSON error response out.

A 400 keeps DRF's validation shape, `{field: [message]}` (`non_field_errors` when the error
is about the request as a whole), so clients see the same body whether a serializer or a
service refused the input. Other codes answer `{"detail": message, "code": code}` with the
code's status (404, 409, ...). Anything that is not an ApplicationError or a DRF exception
is left to Django: a 500, which fails a test.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from annotation.errors import ApplicationError


def application_error_response(exc: ApplicationError) -> Response:
    if exc.status == 400:
        body: dict[str, Any] = {exc.field or "non_field_errors": [exc.message]}
        if exc.details is not None:
            body["details"] = exc.details
        return Response(body, status=400)
    return Response({"detail": exc.message, "code": exc.code}, status=exc.status)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return application_error_response(exc)
    return drf_exception_handler(exc, context)


def as_validation_error(exc: ApplicationError) -> ValidationError:
    """For code that must raise inside a serializer's validation."""
    return ValidationError({exc.field or "non_field_errors": [exc.message]})
