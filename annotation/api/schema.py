"""OpenAPI schema post-processing: every operation documents the errors it can answer.

drf-spectacular documents the success responses each view declares; the errors come from
the machinery around views (authentication, ProjectRole, throttles, parsers), so this hook
adds them by rule, never overriding a response a view documents itself:

- 400 where the operation takes a body or query parameters (validation, parse errors) or
  writes (a state that refuses it: the last manager, a skipped assignment);
- 401 and 403 where authentication is required (403: role, site permission, CSRF);
- 404 where the path names a project or an object (non-members get 404; bad cursors too);
- 409 where the operation writes (ApplicationError code "conflict": a taken slug);
- 415 where the operation takes a body (an unsupported Content-Type);
- 429 everywhere (throttles; the token endpoint's lockout).

`tests/annotation/api/test_schemathesis.py` checks every answer's status against this.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from drf_spectacular.openapi import AutoSchema

ERROR_SCHEMA = {
    "type": "object",
    "description": "An error that is not about a field: a message and a machine code.",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "required": ["detail"],
}
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "Invalid input: a list of messages per field (`non_field_errors` for the request as "
        "a whole; a dotted path for nested fields), or `detail` for a body that does not parse."
    ),
    "additionalProperties": {},
}

_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_VALIDATION_REF = {"$ref": "#/components/schemas/ValidationError"}

DESCRIPTIONS = {
    "400": "Invalid input; the body names each field and what is wrong with it.",
    "401": "Not authenticated: send `Authorization: Token <key>` or log in.",
    "403": "Authenticated, but your role or permissions do not allow this.",
    "404": "No such project or object, or you are not a member of the project.",
    "409": "Conflicts with the current state (a name that is taken, a run that has finished).",
    "415": "Unsupported Content-Type for the body.",
    "429": "Too many requests (throttled) or too many failed logins; see Retry-After.",
}


def _response(code: str) -> dict[str, Any]:
    ref = _VALIDATION_REF if code == "400" else _ERROR_REF
    return {"description": DESCRIPTIONS[code], "content": {"application/json": {"schema": ref}}}


WRITES = frozenset({"post", "put", "patch", "delete"})


def _codes_for(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    security = operation.get("security") or []
    public = not security or {} in security
    has_body = "requestBody" in operation
    has_query = any(p.get("in") == "query" for p in operation.get("parameters", []))
    writes = method in WRITES and not path.startswith("/api/v1/auth/")
    codes = []
    if has_body or has_query or writes:
        codes.append("400")
    if not public:
        codes += ["401", "403"]
    if "{" in path:
        codes.append("404")
    if writes:
        codes.append("409")
    if has_body:
        codes.append("415")
    codes.append("429")
    return codes


def add_error_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS entry: document the error answers of every operation."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR_SCHEMA)
    schemas.setdefault("ValidationError", VALIDATION_ERROR_SCHEMA)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method.startswith("x-") or not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            for code in _codes_for(path, method, operation):
                responses.setdefault(code, _response(code))
    return result


# --- descriptions ----------------------------------------------------------------------------

# "GET: ...", "POST (multipart): ..." at the start of the text or of a sentence.
_METHOD_PART = re.compile(
    r"(?:^|(?<=[.;]\s))(GET|POST|PUT|PATCH|DELETE)\b(?:\s*\([^)]{0,40}\))?:\s*"
)


def method_part(text: str, method: str) -> str:
    """The part of a view's docstring about `method` when the docstring describes several
    ("GET: list them. POST: create one."): what precedes the first marker, then that
    method's part. Text without markers comes back whole."""
    parts = _METHOD_PART.split(text)
    if len(parts) < 3:
        return text.strip()
    head, rest = parts[0].strip(), parts[1:]
    chosen = [body.strip() for name, body in zip(rest[::2], rest[1::2], strict=True)
              if name == method.upper()]  # fmt: skip
    if not chosen:
        return text.strip()
    body = " ".join(chosen)
    body = body[:1].upper() + body[1:]
    return f"{head}\n\n{body}" if head else body


class StepwiseAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, with descriptions from the view's own docstring only
    (never a base class's, which describes the machinery, not the endpoint), cut to the
    part about the operation's method, and a summary: the description's first sentence."""

    def get_description(self) -> str:  # type: ignore[override]
        handler = getattr(
            self.view, getattr(self.view, "action", None) or self.method.lower(), None
        )
        own = inspect.cleandoc(handler.__doc__) if handler is not None and handler.__doc__ else ""
        view_doc = type(self.view).__dict__.get("__doc__") or ""
        return method_part(own or inspect.cleandoc(view_doc), self.method)

    def get_summary(self) -> str | None:
        return first_sentence(self.get_description()) or None


def first_sentence(text: str) -> str:
    """The first sentence of `text` (up to a full stop followed by a space or the end),
    on one line; the whole first paragraph when it has no full stop."""
    paragraph = " ".join(text.strip().split("\n\n", 1)[0].split())
    m = re.search(r"(?<!\be\.g)(?<!\bi\.e)\.(\s|$)", paragraph)
    return paragraph[: m.start() + 1] if m else paragraph
