"""PostgreSQL storage tuning for the hot tables (no-op elsewhere).

- feeds_market: fillfactor 70 leaves room on each page so that a line's update can stay on
  its page (a HOT update: no index entries written, since no indexed column changes).
- feeds_feedmessage.body: lz4 instead of pglz for the raw XML (much cheaper to compress).
"""

from django.db import migrations


def tune(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("ALTER TABLE feeds_market SET (fillfactor = 70)")
        cursor.execute("ALTER TABLE feeds_sportevent SET (fillfactor = 80)")
        cursor.execute(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
        )
        if cursor.fetchone():
            cursor.execute("ALTER TABLE feeds_feedmessage ALTER COLUMN body SET COMPRESSION lz4")


def untune(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("ALTER TABLE feeds_market RESET (fillfactor)")
        cursor.execute("ALTER TABLE feeds_sportevent RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("feeds", "0001_initial")]
    operations = [migrations.RunPython(tune, untune)]
