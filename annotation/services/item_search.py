"""The item browser's full-text search column (PostgreSQL only; see migration 0008).

`annotation_item.search_vector` holds the `simple`-configuration tsvector of an item's external
id, problem, steps, turns and candidates, under a GIN index. It is not a model field, so
SQLite and the ORM never see it; the browser's selector searches it with raw SQL and falls
back to icontains elsewhere. The import writer fills it as it inserts each batch: items are
copied into a temporary table with their parts' text and inserted from there with the vector
computed in the same statement (`ImportWriter._insert_items_with_search`, in the COPY thread,
so the work overlaps parsing). `item_search_refresh` recomputes it from the stored rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

# One statement for a list of item ids (%s is an int array). The children are read through
# their (item, index) unique indexes.
_SET_SQL = """
UPDATE annotation_item AS i SET search_vector =
    setweight(to_tsvector('simple', i.external_id || ' ' || i.prompt), 'A')
    || to_tsvector('simple', coalesce((SELECT string_agg(s.text, ' ') FROM annotation_step s
                                       WHERE s.item_id = i.id), ''))
    || to_tsvector('simple', coalesce((SELECT string_agg(t.text, ' ') FROM annotation_turn t
                                       WHERE t.item_id = i.id), ''))
    || to_tsvector('simple', coalesce((SELECT string_agg(c.text, ' ') FROM annotation_candidate c
                                       WHERE c.item_id = i.id), ''))
"""
SEARCH_VECTOR_SQL = _SET_SQL + "WHERE i.id = ANY(%s)"
_PROJECT_SQL = _SET_SQL + "WHERE i.project_id = %s"


# The same vector, computed while importing from a staging row: the external id and problem,
# then the text of the item's parts, joined in Python (`search_text_of`).
SEARCH_VECTOR_OF_STAGE = (
    "setweight(to_tsvector('simple', external_id || ' ' || prompt), 'A')"
    " || to_tsvector('simple', search_text)"
)


def search_text_of(*, steps: Sequence[str], turns: Sequence[str], candidates: Sequence[str]) -> str:
    """The text of an item's parts for its search column (NUL-free: PostgreSQL text)."""
    return " ".join((*steps, *turns, *candidates)).replace("\x00", "")


def search_supported() -> bool:
    """Whether the database has the search column (PostgreSQL)."""
    return connection.vendor == "postgresql"


def item_search_refresh(*, item_ids: Sequence[int]) -> None:
    """Recompute the search column of these items (after their content changed outside the
    import writer, e.g. items made in tests or restored from a backup). A no-op off
    PostgreSQL."""
    if not search_supported() or not item_ids:
        return
    with connection.cursor() as cur:
        cur.execute(SEARCH_VECTOR_SQL, [list(item_ids)])


def project_search_refresh(*, project_id: int) -> None:
    """`item_search_refresh` for every item of a project (a restored backup)."""
    if not search_supported():
        return
    with connection.cursor() as cur:
        cur.execute(_PROJECT_SQL, [project_id])
