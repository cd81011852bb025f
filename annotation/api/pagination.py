"""Cursor pagination: stable under concurrent inserts and O(page) on large tables."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class ItemCursorPagination(CursorPagination):
    """Items in id order; `?page_size=` up to 500."""

    ordering = "id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ImportRunCursorPagination(CursorPagination):
    """Import runs, newest first."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
