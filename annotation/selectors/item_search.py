"""Reads behind the item browser's text search: the filter (PostgreSQL full-text search on
the `search_vector` column of migration 0008, a substring match on SQLite) and the plan its
page query runs with."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.expressions import RawSQL

from annotation.models import Candidate, Step, Turn


def item_search_q(q: str) -> Q:
    """Items whose text matches `q`: the GIN-indexed vector on PostgreSQL, icontains on
    SQLite."""
    if connection.vendor == "postgresql":
        # The GIN-indexed column of migration 0008 (websearch syntax: "a phrase", or, -not).
        matches = Q(
            RawSQL(
                '"annotation_item"."search_vector" @@ websearch_to_tsquery(\'simple\', %s)',
                [q],
                output_field=models.BooleanField(),
            )
        )
        return matches
    # SQLite: a plain substring match (case-insensitive for ASCII).
    return (
        Q(external_id__icontains=q)
        | Q(prompt__icontains=q)
        | Q(Exists(Step.objects.filter(item=OuterRef("pk"), text__icontains=q)))
        | Q(Exists(Turn.objects.filter(item=OuterRef("pk"), text__icontains=q)))
        | Q(Exists(Candidate.objects.filter(item=OuterRef("pk"), text__icontains=q)))
    )


# A search whose words together match at least this share of items finds a page at once
# walking the items in order; a rarer one is read through the GIN index.
COMMON_SEARCH_SHARE = 0.02
_TERM_SHARES = """
SELECT t.lexeme, coalesce(s.share, 0) FROM unnest(tsvector_to_array(to_tsvector('simple', %s)))
    AS t(lexeme)
LEFT JOIN (SELECT unnest(most_common_elems::text::text[]) AS elem,
                  unnest(most_common_elem_freqs) AS share
           FROM pg_stats WHERE tablename = 'annotation_item' AND attname = 'search_vector') s
    ON s.elem = t.lexeme
"""


@contextmanager
def item_search_plan(q: str) -> Iterator[None]:
    """Read a rare search's matches through the GIN index (PostgreSQL).

    The planner cannot know how many items an unusual word matches; guessing a few hundred,
    it walks the primary key in order and tests every item's stored vector (detoasting each:
    seconds at 100,000 items for a word that is in none). ANALYZE's statistics know the
    common words: when the query's words together are rarer than COMMON_SEARCH_SHARE (a word
    missing from the statistics counts as rare), plain index and sequential scans are off
    for this one statement, so the GIN bitmap is used; the other filters' indexes still are,
    as bitmap scans. Common words keep the in-order walk, which meets a page at once.
    """
    if not q or connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cur:
        cur.execute(_TERM_SHARES, [q])
        shares = [float(share) for _, share in cur.fetchall()]
    share = 1.0
    for x in shares:
        share *= x
    if shares and share >= COMMON_SEARCH_SHARE:
        yield
        return
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL enable_indexscan = off")
        cur.execute("SET LOCAL enable_seqscan = off")
        yield
