"""Names in the reader's language, and basemap layers for the console map.

Registry entities (utilities, districts, assets, sensors) carry a Chinese and an English name beside the
``name`` they had: ``name`` stays the name of record (what an import without languages gives, what logs
use); ``name_zh`` / ``name_en`` are what a reader of that language sees, each falling back to the other and
then to ``name``. Sensors had no name; theirs are optional display names. Basemap layers (roads, rivers) are
GeoJSON an operator uploads, kept whole and served to the console map as a layer.

Revision ID: 0020_names_and_basemap
Revises: 0018_event_lane
"""

from __future__ import annotations

from alembic import op

revision = "0020_names_and_basemap"
down_revision = "0018_event_lane"
branch_labels = None
depends_on = None

TABLES = ("utilities", "districts", "assets", "sensors")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN name_zh text, ADD COLUMN name_en text")
    op.execute("""
        CREATE TABLE basemap_layers (
            id varchar(64) PRIMARY KEY,
            name_zh text NOT NULL,
            name_en text NOT NULL,
            kind varchar(16) NOT NULL,
            features integer NOT NULL,
            geojson jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )""")


def downgrade() -> None:
    op.execute("DROP TABLE basemap_layers")
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN name_zh, DROP COLUMN name_en")
