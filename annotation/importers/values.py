"""Safe JSON decoding for the readers: values a database cannot store are problems, not crashes.

`json.loads` accepts things PostgreSQL (and sometimes Python itself) cannot take further:
`NaN`/`Infinity` (and `1e999`, which decodes to infinity), a NUL character (`\\u0000`), a
lone UTF-16 surrogate (`\\ud800`), nesting deep enough to overflow the C decoder's recursion
(`RecursionError`) and integers longer than Python's 4,300-digit conversion limit
(`ValueError`). `decode_json` turns each into a `ValueProblem` naming the path of the value
(`metadata.scores[2]`) and the reason.

The checks cost almost nothing for ordinary records: the decoder flags non-finite numbers
through its hooks, and a cheap scan of the text (`\\u0000`, `\\ud…` escapes) decides
whether the decoded value needs a walk at all. Nesting between MAX_DEPTH and the decoder's
own limit decodes; fields of a fixed type refuse it anyway, and the import service checks
the depth of the free-form values it stores (metadata) with `check_depth`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Deepest nesting of objects and lists accepted in a record (the record itself is level 1).
MAX_DEPTH = 64
# \u0000 (NUL) or a \ud800-\udfff half of a surrogate pair: decoded text that may not store.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89abAB])")


class ValueProblem(Exception):
    """A value that cannot be imported; `path` is where it is ('' for the record itself)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class _Flags:
    __slots__ = ("non_finite",)

    def __init__(self) -> None:
        self.non_finite = False


def _decoder() -> tuple[json.JSONDecoder, _Flags]:
    flags = _Flags()

    def constant(name: str) -> float:
        flags.non_finite = True
        return float(name.lower().replace("infinity", "inf"))

    def number(text: str) -> float:
        value = float(text)
        if value in (math.inf, -math.inf):
            flags.non_finite = True
        return value

    return json.JSONDecoder(parse_constant=constant, parse_float=number), flags


class JsonReader:
    """Decodes one JSON text after another; keep one per file (it is not thread-safe)."""

    def __init__(self) -> None:
        self._decoder, self._flags = _decoder()

    def decode(self, text: str) -> Any:
        """The decoded value, or raise ValueProblem (json.JSONDecodeError for bad syntax)."""
        flags = self._flags
        flags.non_finite = False
        try:
            value = self._decoder.decode(text)
        except RecursionError:
            raise ValueProblem(
                deep_path(text), f"is nested more than {MAX_DEPTH} levels deep"
            ) from None
        except json.JSONDecodeError:
            raise
        except ValueError as exc:  # an integer beyond the digit limit
            raise ValueProblem("", f"invalid JSON number: {exc}") from None
        escapes = "\\" in text and _SUSPECT_ESCAPE.search(text) is not None
        if flags.non_finite or escapes:
            check_value(value, surrogates=escapes)
        return value


def check_value(value: Any, path: str = "", *, surrogates: bool = True) -> None:
    """Raise ValueProblem for the first value that cannot be stored (walks iteratively).

    `surrogates=False` skips the (costlier) lone-surrogate test when the text had no
    `\\ud…` escape, so none can be there."""
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        obj, where, depth = stack.pop()
        if isinstance(obj, str):
            check_text(obj, where, surrogates=surrogates)
        elif isinstance(obj, float):
            if not math.isfinite(obj):
                raise ValueProblem(where, f"{obj!r} is not a number JSON can hold (NaN/Infinity)")
        elif isinstance(obj, dict | list):
            if depth > MAX_DEPTH:
                raise ValueProblem(
                    short_path(where, path), f"is nested more than {MAX_DEPTH} levels deep"
                )
            if isinstance(obj, dict):
                children = []
                for key, child in obj.items():
                    sub = f"{where}.{key}" if where else str(key)
                    check_text(key, sub, surrogates=surrogates)
                    children.append((child, sub, depth + 1))
            else:
                children = [(child, f"{where}[{i}]", depth + 1) for i, child in enumerate(obj)]
            stack.extend(reversed(children))


def check_depth(value: Any, path: str) -> None:
    """Raise ValueProblem if `value` nests objects and lists deeper than MAX_DEPTH (counting
    `value` itself as level 1); visits containers only."""
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        obj, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueProblem(short_path(where), f"is nested more than {MAX_DEPTH} levels deep")
        if obj.__class__ is dict:
            for key, child in obj.items():
                if isinstance(child, dict | list):
                    stack.append((child, f"{where}.{key}" if where else str(key), depth + 1))
        else:
            for i, child in enumerate(obj):
                if isinstance(child, dict | list):
                    stack.append((child, f"{where}[{i}]", depth + 1))


def check_text(text: str, path: str, *, surrogates: bool = True) -> None:
    """Raise ValueProblem if `text` holds a NUL character or a lone surrogate."""
    if "\x00" in text:
        at = text.index("\x00")
        raise ValueProblem(
            path, f"contains a NUL character (\\u0000) at position {at + 1}, which cannot be stored"
        )
    if not surrogates:
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise ValueProblem(
            path, f"contains a lone surrogate (\\u{ord(bad):04x}), which is not valid Unicode"
        ) from None


_COMPONENT = re.compile(r"\[\d+\]|\.?[^.\[]+")


def short_path(where: str, base: str = "", keep: int = 4) -> str:
    """`where` cut to its first `keep` components below `base` (a deep path is unreadable)."""
    rest = where[len(base) :]
    parts = _COMPONENT.findall(rest)
    if len(parts) <= keep:
        return where
    return base + "".join(parts[:keep]) + "…"


def deep_path(text: str, limit: int = MAX_DEPTH) -> str:
    """The path at which `text` (JSON) first nests deeper than `limit`, as far as it names
    keys and indexes (the first few components); '' if the record itself is the problem."""
    path: list[str] = []
    depth = 0
    counters: list[int] = []
    key: str | None = None
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            end = i + 1
            while end < n and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            token = text[i + 1 : end]
            rest = text[end + 1 : end + 40].lstrip()
            if rest.startswith(":"):
                key = token
            i = end + 1
            continue
        if ch in "[{":
            depth += 1
            if depth > 1:
                path.append(f".{key}" if key is not None else f"[{counters[-1]}]")
            if depth > limit:
                shown = path[:4]
                out = "".join(shown).lstrip(".")
                return out + ("…" if len(path) > len(shown) else "")
            counters.append(0)
            key = None
        elif ch in "]}":
            depth -= 1
            if counters:
                counters.pop()
            if path:
                path.pop()
            key = None
        elif ch == ",":
            if counters:
                counters[-1] += 1
            key = None
        i += 1
    return ""


def first_nul(names: list[str], values: list[str]) -> ValueProblem | None:
    """The first of `values` (a CSV row) holding a NUL character, named by its column."""
    for name, value in zip(names, values, strict=True):
        try:
            check_text(value, name, surrogates=False)
        except ValueProblem as exc:
            return exc
    return None
