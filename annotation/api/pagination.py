"""Cursor pagination: stable under concurrent inserts and O(page) on large tables."""

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

ID_MAX = 2**63 - 1


class IdCursorPagination(CursorPagination):
    """Cursor pagination over an id ordering. A cursor is client input (base64 of a query
    string): a position that is not an id is an invalid cursor (404, as DRF answers any other
    bad cursor), never a database error."""

    ordering = "id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request: Request) -> Cursor | None:
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                position = int(cursor.position)
            except ValueError:
                raise NotFound(self.invalid_cursor_message) from None
            if not -ID_MAX <= position <= ID_MAX:
                raise NotFound(self.invalid_cursor_message)
        return cursor


class ImportRunCursorPagination(IdCursorPagination):
    """Import runs, newest first."""

    ordering = "-id"
