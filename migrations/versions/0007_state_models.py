"""Per-asset state models: versioned CVA fits on each asset's normal history, newest loaded by the detector.

- ``state_models``: one row per fitted model (asset, version), with when it was fitted, the training window,
  its row count, the sensors in column order, the abnormal periods left out of training, and the model.

Revision ID: 0007_state_models
Revises: 0006_service_role
"""

from __future__ import annotations

from alembic import op

revision = "0007_state_models"
down_revision = "0006_service_role"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE IF NOT EXISTS state_models (
            asset_id varchar(64) NOT NULL,
            version varchar(40) NOT NULL,
            fitted_at timestamptz NOT NULL,
            train_start timestamptz NOT NULL,
            train_end timestamptz NOT NULL,
            n_rows integer NOT NULL CHECK (n_rows > 0),
            sensor_ids jsonb NOT NULL,
            excluded jsonb NOT NULL DEFAULT '[]',
            blob bytea NOT NULL,
            PRIMARY KEY (asset_id, version),
            CHECK (train_start < train_end)
        )""")
    op.execute("CREATE INDEX IF NOT EXISTS ix_state_models_newest ON state_models (asset_id, fitted_at)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS state_models")
