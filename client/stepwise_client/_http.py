"""The HTTP layer: one httpx.Client, token authentication, timeouts, retries with backoff,
and the server's error answers turned into `ApiError`s.

Retries: a request that never reached the server (connection refused, connect timeout) and
the answers 429 and 503 (the server did no work and says so) are retried for every method.
Errors that may come after the server started working (a read timeout, a dropped connection,
500/502/504) are retried only for idempotent methods, so an upload or an export is never
started twice. Waits grow exponentially with jitter; a `Retry-After` header is honoured.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from stepwise_client import errors

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_ANY_STATUS = frozenset({429, 503})
RETRY_IDEMPOTENT_STATUS = frozenset({500, 502, 504})
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
MAX_RETRY_AFTER = 60.0

STATUS_ERRORS: dict[int, type[errors.ApiError]] = {
    400: errors.ValidationError,
    401: errors.AuthenticationError,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    409: errors.Conflict,
    429: errors.RateLimited,
}


def api_root(url: str) -> str:
    """'http://host:8000', '.../' or '.../api/v1' -> 'http://host:8000/api/v1/'."""
    base = url.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise errors.ConfigError(f"server URL must start with http:// or https://, got {url!r}")
    if base.endswith("/api/v1"):
        base = base[: -len("/api/v1")]
    return base + "/api/v1/"


def server_url(url: str) -> str:
    """The server's root URL as the config file stores it ('http://host:8000')."""
    return api_root(url)[: -len("/api/v1/")]


def quote_path(segment: str) -> str:
    return quote(str(segment), safe="/")


def _flatten(prefix: str, value: Any, out: dict[str, list[str]]) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), sub, out)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        out.setdefault(prefix or "non_field_errors", []).extend(value)
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            if sub:
                _flatten(f"{prefix}[{i}]", sub, out)
    else:
        out.setdefault(prefix or "non_field_errors", []).append(str(value))


def error_from_response(response: httpx.Response) -> errors.ApiError:
    status = response.status_code
    if 300 <= status < 400:
        # Redirects are not followed: the token must not travel to another address. The usual
        # cause is http:// for a server that redirects to https://.
        location = response.headers.get("Location", "?")
        return errors.ApiError(
            status, f"the server redirects to {location}; use that address as the server URL",
            method=response.request.method, url=str(response.request.url),
        )  # fmt: skip
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    field_errors: dict[str, list[str]] = {}
    detail, code = "", None
    if isinstance(body, dict):
        detail = str(body.get("detail", "")) if "detail" in body else ""
        code = body.get("code")
        if status == 400:
            _flatten("", {k: v for k, v in body.items() if k not in ("code",)}, field_errors)
            detail = detail or "; ".join(f"{k}: {' '.join(v)}" for k, v in field_errors.items())
    elif isinstance(body, str):
        detail = body.strip()[:300] if "<html" not in body[:200].lower() else response.reason_phrase
    if not detail:
        detail = response.reason_phrase
    cls = STATUS_ERRORS.get(status) or (errors.ServerError if status >= 500 else errors.ApiError)
    return cls(
        status, detail, errors=field_errors, code=code, body=body,
        method=response.request.method, url=str(response.request.url),
    )  # fmt: skip


class Http:
    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        verify: bool | str = True,
        user_agent: str = "stepwise-client",
    ) -> None:
        self.root = api_root(url)
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.max_backoff = max_backoff
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Token {token}"
        self.client = httpx.Client(
            base_url=self.root,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            verify=verify,
            follow_redirects=False,
        )
        self.sleep: Callable[[float], None] = time.sleep

    def close(self) -> None:
        self.client.close()

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None and "Retry-After" in response.headers:
            try:
                return min(MAX_RETRY_AFTER, max(0.0, float(response.headers["Retry-After"])))
            except ValueError:
                pass
        wait = min(self.max_backoff, self.backoff * float(2**attempt))
        return wait * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not security

    def _retryable(self, method: str, exc: Exception | None, status: int | None) -> bool:
        if exc is not None:
            return isinstance(exc, NOT_SENT) or (
                method in IDEMPOTENT and isinstance(exc, httpx.TransportError)
            )
        if status is None:
            return False
        return status in RETRY_ANY_STATUS or (
            method in IDEMPOTENT and status in RETRY_IDEMPOTENT_STATUS
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        data: Any = None,
        files: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """Send with retries; return a 2xx response or raise ApiError/ConnectionFailed."""
        method = method.upper()
        attempt = 0
        while True:
            for value in (files or {}).values():
                fileobj = value[1] if isinstance(value, tuple) else value
                if hasattr(fileobj, "seek"):
                    fileobj.seek(0)
            exc: Exception | None = None
            response: httpx.Response | None = None
            try:
                response = self.client.request(
                    method, path, params=params, json=json, data=data, files=files
                )
            except httpx.TransportError as e:
                exc = e
            status = response.status_code if response is not None else None
            if response is not None and status is not None and status < 300:
                return response
            if attempt < self.retries and self._retryable(method, exc, status):
                self.sleep(self._delay(attempt, response))
                attempt += 1
                continue
            if response is not None:
                raise error_from_response(response)
            raise errors.ConnectionFailed(
                f"{method} {self.root}{path} failed after {attempt + 1} attempt(s): "
                f"{type(exc).__name__}: {exc}",
                url=f"{self.root}{path}",
                attempts=attempt + 1,
            ) from exc

    def get_json(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean or None).json()

    def download(self, path: str, dest: Path) -> Path:
        """Stream a file to `dest` (via `dest.part`), retrying a dropped connection."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        attempt = 0
        while True:
            try:
                with self._stream(path) as response, open(part, "wb") as fh:
                    for chunk in response.iter_bytes(1 << 16):
                        fh.write(chunk)
                os.replace(part, dest)
                return dest
            except httpx.TransportError as exc:
                part.unlink(missing_ok=True)
                if attempt >= self.retries:
                    raise errors.ConnectionFailed(
                        f"download of {path} failed after {attempt + 1} attempt(s): {exc}",
                        url=f"{self.root}{path}", attempts=attempt + 1,
                    ) from exc  # fmt: skip
                self.sleep(self._delay(attempt, None))
                attempt += 1

    @contextmanager
    def _stream(self, path: str) -> Iterator[httpx.Response]:
        attempt = 0
        while True:
            with self.client.stream("GET", path) as response:
                if response.status_code < 300:
                    yield response
                    return
                response.read()
                if attempt < self.retries and self._retryable("GET", None, response.status_code):
                    delay = self._delay(attempt, response)
                else:
                    raise error_from_response(response)
            self.sleep(delay)
            attempt += 1
