"""An upload handler that refuses a file over STEPWISE_IMPORT_MAX_FILE_BYTES while it
streams in, before it fills the disk: Django would otherwise write the whole body to a
temporary file and let the view look at its size afterwards.

The refusal stops parsing (the rest of the body is read and discarded) and leaves the reason
on the request as `upload_refused`; views that take uploads answer it as a `file` error.
A proxy in front (nginx `client_max_body_size`) can refuse such bodies even earlier.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

# Room for the multipart boundaries and the form's other fields around the file.
BODY_SLACK_BYTES = 1024 * 1024


def upload_limit_message(limit: int) -> str:
    return f"is larger than the limit of {limit:,} bytes ({limit / 1024**2:,.0f} MiB)"


class UploadLimitHandler(FileUploadHandler):
    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],  # noqa: N803 - Django's parameter name
        content_length: int,
        boundary: bytes | str,
        encoding: str | None = None,
    ) -> None:
        self.limit = settings.STEPWISE_IMPORT_MAX_FILE_BYTES
        if content_length > self.limit + BODY_SLACK_BYTES:
            self._refuse()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            self._refuse()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None

    def _refuse(self) -> None:
        if self.request is not None:
            # Read back by the views with getattr(request, "upload_refused", None).
            self.request.upload_refused = upload_limit_message(self.limit)  # type: ignore[attr-defined]
        raise StopUpload(connection_reset=False)
