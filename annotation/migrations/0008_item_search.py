"""The item browser: per-item extra labels (send back to the queue) and, on PostgreSQL, a
full-text search column over an item's problem, steps, turns and candidates with a GIN index.

The search column is not a model field: only PostgreSQL has it (the SQLite suite searches
with icontains), and the import writer fills it per batch (annotation/services/item_search.py).
"""

from django.db import migrations, models

# Kept in step with annotation.services.item_search.SEARCH_VECTOR_SQL.
BACKFILL = """
UPDATE annotation_item AS i SET search_vector =
    setweight(to_tsvector('simple', i.external_id || ' ' || i.prompt), 'A')
    || to_tsvector('simple', coalesce((SELECT string_agg(s.text, ' ') FROM annotation_step s
                                       WHERE s.item_id = i.id), ''))
    || to_tsvector('simple', coalesce((SELECT string_agg(t.text, ' ') FROM annotation_turn t
                                       WHERE t.item_id = i.id), ''))
    || to_tsvector('simple', coalesce((SELECT string_agg(c.text, ' ') FROM annotation_candidate c
                                       WHERE c.item_id = i.id), ''))
"""


def add_search(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("ALTER TABLE annotation_item ADD COLUMN search_vector tsvector")
    schema_editor.execute(BACKFILL)
    schema_editor.execute(
        "CREATE INDEX item_search_gin ON annotation_item USING gin (search_vector)"
    )


def drop_search(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS item_search_gin")
    schema_editor.execute("ALTER TABLE annotation_item DROP COLUMN IF EXISTS search_vector")


class Migration(migrations.Migration):

    dependencies = [
        ("annotation", "0007_project_settings"),
    ]

    operations = [
        migrations.AddField(
            model_name="item",
            name="extra_labels",
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        migrations.AddIndex(
            model_name="item",
            index=models.Index(
                fields=["project", "-priority", "id"], name="item_browse_priority"
            ),
        ),
        migrations.RunPython(add_search, drop_search),
    ]
