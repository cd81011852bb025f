"""Exceptions of the Stepwise client.

Everything the client raises on purpose is a `StepwiseError`. The server's refusals are
`ApiError`s carrying the HTTP status, the server's message and, for a 400, its field errors
(`{field: [message, ...]}`, the REST API's validation shape); the subclasses name the common
statuses so callers can catch exactly what they mean. A background run that ends badly raises
`ImportFailed`, `JobFailed` or `ExportFailed` with the run attached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stepwise_client.exports import Export
    from stepwise_client.models import ImportRun, LabelingJob


class StepwiseError(Exception):
    """Base of every error the client raises."""


class ConfigError(StepwiseError):
    """No server URL or token could be found, or the config file is unreadable."""


class ConnectionFailed(StepwiseError):
    """The server could not be reached (after the retries), or it did not answer in time."""

    def __init__(self, message: str, *, url: str, attempts: int) -> None:
        super().__init__(message)
        self.url = url
        self.attempts = attempts


class ApiError(StepwiseError):
    """The server answered with an error status.

    `status` is the HTTP status; `detail` the server's message; `errors` the field errors of
    a 400 (`{"format": ["..."], "options.test_size": ["..."]}`), empty otherwise; `body` the
    decoded JSON body (or the text when it was not JSON).
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: dict[str, list[str]] | None = None,
        code: str | None = None,
        body: Any = None,
        method: str = "",
        url: str = "",
    ) -> None:
        self.status = status
        self.detail = detail
        self.errors = errors or {}
        self.code = code
        self.body = body
        self.method = method
        self.url = url
        super().__init__(self._summary())

    def _summary(self) -> str:
        head = f"{self.status} from {self.method} {self.url}".strip()
        if self.errors:
            parts = [f"{field}: {'; '.join(msgs)}" for field, msgs in self.errors.items()]
            return f"{head}: " + " | ".join(parts)
        return f"{head}: {self.detail}" if self.detail else head


class ValidationError(ApiError):
    """400: the request was refused; `errors` names each bad field."""


class AuthenticationError(ApiError):
    """401: no token, or the token is not valid."""


class PermissionDenied(ApiError):
    """403: your role in the project does not allow this."""


class NotFound(ApiError):
    """404: no such object, or you are not a member of its project."""


class Conflict(ApiError):
    """409: the object is not in a state that allows this (e.g. cancelling a finished job)."""


class RateLimited(ApiError):
    """429 after the retries: the server asks you to slow down."""


class ServerError(ApiError):
    """5xx after the retries."""


class WaitTimeout(StepwiseError, TimeoutError):
    """A run did not finish within the `timeout` given to a wait; `run` is its last state."""

    def __init__(self, message: str, *, run: Any) -> None:
        super().__init__(message)
        self.run = run


def _problem_text(problem: dict[str, Any]) -> str:
    where = ", ".join(
        f"{key} {problem[key]}" for key in ("line", "row", "record") if key in problem
    )
    field = problem.get("field")
    text = f"{field}: {problem.get('message', '')}" if field else str(problem.get("message", ""))
    return f"{where}, {text}" if where else text


class ImportFailed(StepwiseError):
    """An import run failed. `errors` are the run's problems, each a dict with the location
    (`line` for JSONL, `row` for CSV, `record` for a JSON array), `field` and `message`;
    `error_count` is the total (the server keeps the first 100)."""

    def __init__(self, run: ImportRun) -> None:
        self.run = run
        self.errors: list[dict[str, Any]] = list(run.errors)
        self.error_count = run.error_count
        lines = [_problem_text(p) for p in self.errors[:10]]
        more = self.error_count - len(lines)
        msg = f"import {run.id} of {run.original_filename!r} failed"
        if run.message:
            msg += f": {run.message}"
        if lines:
            msg += "\n  " + "\n  ".join(lines)
        if more > 0:
            msg += f"\n  ... and {more} more"
        super().__init__(msg)


class JobFailed(StepwiseError):
    """A labeling job ended failed or cancelled; `job` is its final state."""

    def __init__(self, job: LabelingJob) -> None:
        self.job = job
        reason = f": {job.error}" if job.error else ""
        super().__init__(f"labeling job {job.id} ({job.kind}) {job.status}{reason}")


class ExportFailed(StepwiseError):
    """An export run failed; `export` is its final state."""

    def __init__(self, export: Export) -> None:
        self.export = export
        reason = f": {export.error}" if export.error else ""
        super().__init__(f"export {export.id} ({export.format}) failed{reason}")
