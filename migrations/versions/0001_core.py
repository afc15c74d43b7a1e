"""Core schema: registry, dead letters, anomalies, event log, risk, and the time-series tables.

The time-series layout is chosen here, once, by what the database offers: TimescaleDB when the
extension is available, native range partitions otherwise. The choice is recorded in
``timeseries_backend`` so every process agrees on it later.

Revision ID: 0001_core
"""

from alembic import op
from sqlalchemy import text

from resilience.store import schema
from resilience.store.timeseries import NativeBackend, TimescaleBackend, timescale_available

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

CORE_TABLES = [
    schema.utilities, schema.districts, schema.assets, schema.sensors, schema.dead_letters, schema.anomalies,
    schema.events, schema.event_cursors, schema.detector_snapshots, schema.ml_models, schema.risk_current,
    schema.rollup_state,
]


def upgrade() -> None:
    bind = op.get_bind()
    for table in CORE_TABLES:
        table.create(bind, checkfirst=True)
    backend = TimescaleBackend() if timescale_available(bind) else NativeBackend()
    bind.execute(text("CREATE TABLE timeseries_backend (name text PRIMARY KEY)"))
    bind.execute(text("INSERT INTO timeseries_backend (name) VALUES (:n)"), {"n": backend.name})
    backend.create_tables(bind)


def downgrade() -> None:
    bind = op.get_bind()
    name = bind.execute(text("SELECT name FROM timeseries_backend")).scalar()
    backend = TimescaleBackend() if name == "timescaledb" else NativeBackend()
    backend.drop_tables(bind)
    bind.execute(text("DROP TABLE IF EXISTS timeseries_backend"))
    for table in reversed(CORE_TABLES):
        table.drop(bind, checkfirst=True)
