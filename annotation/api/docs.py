"""The API reference at /api/v1/docs/: every operation of the OpenAPI schema, rendered on the
server inside the app's layout — parameters, request and response bodies as field tables, and
an example of each body built from its schema.

Server-rendered rather than Swagger UI or ReDoc: nothing to vendor, no script of its own
(the Content-Security-Policy forbids inline scripts), and it works where no CDN is reachable.
The machine-readable schema stays at /api/v1/schema/.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.text import slugify
from django.views import View
from drf_spectacular.generators import SchemaGenerator

from annotation.api.schema import first_sentence
from annotation.web.rendering import rich_text

METHOD_ORDER = ("get", "post", "put", "patch", "delete")
# Nested objects are shown as dotted field names down to this depth; deeper ones as "object".
FIELD_DEPTH = 3
EXAMPLE_DEPTH = 5

_FORMAT_EXAMPLES = {
    "date-time": "2026-01-31T12:00:00Z",
    "date": "2026-01-31",
    "uri": "https://stepwise.example/api/v1/",
    "email": "ada@example.org",
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "binary": "<file>",
}


@dataclass
class FieldRow:
    name: str
    type: str
    required: bool
    description: str
    choices: list[str] = field(default_factory=list)
    read_only: bool = False


@dataclass
class Body:
    content_type: str
    fields: list[FieldRow]
    example: str
    type: str


@dataclass
class Response:
    code: str
    description: str
    body: Body | None


@dataclass
class Operation:
    method: str
    path: str
    anchor: str
    summary: str
    description: Any
    auth: bool
    parameters: list[FieldRow]
    request: Body | None
    responses: list[Response]


@dataclass
class Section:
    tag: str
    anchor: str
    operations: list[Operation]


class _Schemas:
    def __init__(self, components: dict[str, Any]) -> None:
        self.components = components

    def resolve(self, schema: dict[str, Any] | None) -> dict[str, Any]:
        seen = 0
        while schema and "$ref" in schema and seen < 20:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = self.components.get(name, {})
            seen += 1
        if schema and "allOf" in schema and len(schema["allOf"]) == 1:
            merged = {
                **self.resolve(schema["allOf"][0]),
                **{k: v for k, v in schema.items() if k != "allOf"},
            }
            return merged
        return schema or {}

    def type_of(self, schema: dict[str, Any]) -> str:
        raw = schema
        schema = self.resolve(schema)
        if "oneOf" in schema or "anyOf" in schema:
            options = schema.get("oneOf") or schema.get("anyOf") or []
            return " or ".join(self.type_of(o) for o in options[:4])
        kind = schema.get("type", "object" if "properties" in schema else "any")
        if isinstance(kind, list):
            kind = " or ".join(kind)
        if kind == "array":
            return f"array of {self.type_of(schema.get('items', {}))}"
        if schema.get("format") and kind == "string":
            kind = f"string ({schema['format']})"
        if "$ref" in raw and kind == "object":
            return raw["$ref"].rsplit("/", 1)[-1]
        if schema.get("nullable"):
            kind += " or null"
        return str(kind)

    def fields(self, schema: dict[str, Any], prefix: str = "", depth: int = 0) -> list[FieldRow]:
        schema = self.resolve(schema)
        if schema.get("type") == "array" and not prefix:
            return self.fields(schema.get("items", {}), "[].", depth)
        rows: list[FieldRow] = []
        required = set(schema.get("required", []))
        for name, sub in (schema.get("properties") or {}).items():
            resolved = self.resolve(sub)
            description, choices = _choices_of(
                sub.get("description", "") or resolved.get("description", ""),
                [str(c) for c in resolved.get("enum", []) if c not in ("", None)],
            )
            rows.append(
                FieldRow(
                    name=prefix + name,
                    type=self.type_of(sub),
                    required=name in required,
                    description=description,
                    choices=choices,
                    read_only=bool(resolved.get("readOnly") or sub.get("readOnly")),
                )
            )
            if depth + 1 < FIELD_DEPTH:
                inner = resolved.get("items", {}) if resolved.get("type") == "array" else resolved
                inner = self.resolve(inner)
                if inner.get("properties"):
                    suffix = "[]." if resolved.get("type") == "array" else "."
                    rows += self.fields(inner, f"{prefix}{name}{suffix}", depth + 1)
        return rows

    def example(self, schema: dict[str, Any], depth: int = 0) -> Any:
        schema = self.resolve(schema)
        if "example" in schema:
            return schema["example"]
        if "default" in schema and schema["default"] not in (None, "", [], {}):
            return schema["default"]
        if schema.get("enum"):
            return next((c for c in schema["enum"] if c not in ("", None)), schema["enum"][0])
        options = schema.get("oneOf") or schema.get("anyOf")
        if options:
            return self.example(options[0], depth)
        if depth > EXAMPLE_DEPTH:
            return None
        kind = schema.get("type", "object" if "properties" in schema else "string")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "string")
        if kind == "object":
            props = schema.get("properties")
            if props:
                return {k: self.example(v, depth + 1) for k, v in props.items()}
            return {}
        if kind == "array":
            return [self.example(schema.get("items", {}), depth + 1)]
        if kind == "integer":
            return max(int(schema.get("minimum", 1) or 1), 1)
        if kind == "number":
            return 0.5
        if kind == "boolean":
            return True
        return _FORMAT_EXAMPLES.get(schema.get("format", ""), "string")


# drf-spectacular describes a choice field as Markdown lines "* `value` - Label".
_CHOICE_LINE = re.compile(r"^\*\s+`([^`]*)`\s+-\s+(.*)$")


def _choices_of(description: str, values: list[str]) -> tuple[str, list[str]]:
    """(the description without drf-spectacular's list of choices, the choices as
    "value — Label"), so a table cell shows them as one readable line."""
    labels: dict[str, str] = {}
    kept = []
    for line in description.splitlines():
        m = _CHOICE_LINE.match(line.strip())
        if m:
            labels[m.group(1)] = m.group(2).strip()
        else:
            kept.append(line)
    choices = [
        f"{v} — {labels[v]}" if labels.get(v) and labels[v].lower() != v.lower() else v
        for v in values
    ]
    return "\n".join(kept).strip(), choices


_SUCCESS = {"200": "OK", "201": "Created", "202": "Accepted", "204": "No content"}


def _body(schemas: _Schemas, content: dict[str, Any] | None, *, write: bool) -> Body | None:
    if not content:
        return None
    content_type = next(iter(content))
    schema = content[content_type].get("schema") or {}
    rows = schemas.fields(schema)
    if write:
        rows = [r for r in rows if not r.read_only]
    example = schemas.example(schema)
    text = json.dumps(example, indent=2, ensure_ascii=False)
    if content_type.startswith("multipart/"):
        text = "\n".join(f"{k}={v}" for k, v in (example or {}).items())
    return Body(content_type=content_type, fields=rows, example=text, type=schemas.type_of(schema))


def _parameters(schemas: _Schemas, op: dict[str, Any]) -> list[FieldRow]:
    rows = []
    for p in op.get("parameters", []):
        schema = schemas.resolve(p.get("schema") or {})
        rows.append(
            FieldRow(
                name=f"{p['name']} ({p.get('in', 'query')})",
                type=schemas.type_of(p.get("schema") or {}),
                required=bool(p.get("required")),
                description=p.get("description", "") or schema.get("description", ""),
                choices=[str(c) for c in schema.get("enum", []) if c not in ("", None)],
            )
        )
    return rows


def after_summary(description: str, summary: str) -> str:
    """The description without its first sentence when that is the summary: the summary is
    the operation's heading and the text below goes on from there."""
    paragraphs = description.strip().split("\n\n")
    first = " ".join(paragraphs[0].split())
    if not summary or not first.startswith(summary):
        return description
    tail = first[len(summary) :].strip()
    return "\n\n".join(([tail] if tail else []) + paragraphs[1:])


def api_reference(schema: dict[str, Any]) -> list[Section]:
    """The schema's operations grouped by their first tag, in path order."""
    schemas = _Schemas(schema.get("components", {}).get("schemas", {}))
    sections: dict[str, list[Operation]] = {}
    for path, operations in schema.get("paths", {}).items():
        for method in METHOD_ORDER:
            op = operations.get(method)
            if not op:
                continue
            description = op.get("description", "")
            summary = op.get("summary") or first_sentence(description) or path
            rest = after_summary(description, summary)
            security = op.get("security") or []
            ops = sections.setdefault((op.get("tags") or ["api"])[0], [])
            ops.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    anchor=op.get("operationId") or slugify(f"{method} {path}"),
                    summary=summary.replace("`", ""),
                    description=rich_text(rest),
                    auth=bool(security) and {} not in security,
                    parameters=_parameters(schemas, op),
                    request=_body(
                        schemas, (op.get("requestBody") or {}).get("content"), write=True
                    ),
                    responses=[
                        Response(
                            code=code,
                            description=r.get("description") or _SUCCESS.get(code, ""),
                            body=_body(schemas, r.get("content"), write=False)
                            if code.startswith("2")
                            else None,
                        )
                        for code, r in sorted(op.get("responses", {}).items())
                    ],
                )
            )
    return [Section(tag=t, anchor=f"tag-{slugify(t)}", operations=o) for t, o in sections.items()]


class ApiDocsView(View):
    """The API reference page; public, like the schema it is built from."""

    def get(self, request: HttpRequest) -> HttpResponse:
        schema = SchemaGenerator().get_schema(request=None, public=True)
        context = {
            "info": schema["info"],
            "description": rich_text(schema["info"].get("description", "")),
            "sections": api_reference(schema),
            "schema_url": reverse("api:schema"),
            "import_url": reverse("api:schema-import"),
            "token_url": reverse("api:auth-token"),
            "index_url": reverse("api:index"),
        }
        return render(request, "web/api_docs.html", context)
