"""The one exception type for expected failures.

Services raise `ApplicationError` for anything a user can cause and fix (bad input, a state
that forbids the operation, a conflict). The REST exception handler
(`annotation.api.errors.exception_handler`) and the web-form helper
(`annotation.web.errors.form_add_error`) turn it into a response. Any other exception —
including a bare `ValueError` from a bug — is not caught and surfaces as a 500.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """An expected failure: `message` for people, `code` for programs, `field` where it is.

    `field` is a dotted path into the input (`steps[3].rating`, `options.test_size`) or None
    for the request as a whole. `details` carries structured extras (a list of line errors).
    """

    # code -> HTTP status; anything else is 400.
    STATUS = {"not_found": 404, "conflict": 409, "permission_denied": 403, "locked": 423}

    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid",
        field: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.details = details

    @property
    def status(self) -> int:
        return self.STATUS.get(self.code, 400)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "field": self.field, "message": self.message}
        if self.details is not None:
            out["details"] = self.details
        return out
