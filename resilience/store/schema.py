"""Relational schema of the core store (SQLAlchemy Core), the single source for migrations and queries.

Time-series tables (``readings``, ``risk_series``) are not declared here as ORM tables because their
physical layout depends on the backend (TimescaleDB hypertable or native range partitions); they are
created by ``resilience.store.timeseries`` and described by ``TIMESERIES_TABLES``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()


def _log_order(table: str) -> list[Any]:
    """``seq``: a log's order, given to committed rows by ``sequence_log()`` (resilience.store.cursors)."""
    return [Column("seq", BigInteger), Index(f"ix_{table}_unsequenced", "id", postgresql_where=text("seq IS NULL"))]


utilities = Table(
    "utilities",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("name_zh", Text),  # names in the reader's language (migration 0020); each falls back to the other
    Column("name_en", Text),
    Column("contact_email", Text),
    Column("webhook_url", Text),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)

districts = Table(
    "districts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("name_zh", Text),
    Column("name_en", Text),
    Column("population", Integer, nullable=False, server_default="0"),
    Column("polygon", JSONB),  # GeoJSON Polygon geometry
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)

assets = Table(
    "assets",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("name_zh", Text),
    Column("name_en", Text),
    Column("kind", String(32), nullable=False),  # resilience.core.domain.AssetKind
    Column("district_id", String(64), ForeignKey("districts.id"), nullable=True),
    Column("utility_id", String(64), ForeignKey("utilities.id"), nullable=True),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("criticality", SmallInteger, nullable=False, server_default="3"),  # 1 (low) .. 5 (vital)
    Column("install_year", SmallInteger),
    Column("material", String(64)),
    Column("past_incidents", Integer, nullable=False, server_default="0"),
    Column("attributes", JSONB, nullable=False, server_default="{}"),  # e.g. facility type, upstream asset
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Index("ix_assets_district", "district_id"),
    Index("ix_assets_kind", "kind"),
)

sensors = Table(
    "sensors",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("asset_id", String(64), ForeignKey("assets.id"), nullable=False),
    Column("utility_id", String(64), ForeignKey("utilities.id"), nullable=False),
    Column("kind", String(32), nullable=False),  # key of resilience.core.domain.SENSOR_KINDS
    Column("unit", String(32), nullable=False),  # canonical unit (pint string)
    Column("expected_interval_s", Float, nullable=False),
    Column("thresholds", JSONB),  # per-sensor override of graded limits {"blue": .., "red": ..}
    Column("detector_overrides", JSONB),  # per-sensor override of the ensemble configuration
    Column("active", Boolean, nullable=False, server_default="true"),
    Column("name_zh", Text),  # optional display names (migration 0020)
    Column("name_en", Text),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Index("ix_sensors_asset", "asset_id"),
    Index("ix_sensors_utility", "utility_id"),
)

# Basemap layers (roads, rivers) an operator uploads as GeoJSON, drawn under the console map (migration 0020).
basemap_layers = Table(
    "basemap_layers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name_zh", Text, nullable=False),
    Column("name_en", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # roads | rivers | other
    Column("features", Integer, nullable=False),
    Column("geojson", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("updated_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)

# One row: bumped by statement triggers on districts, assets and sensors (migration 0009), so a process can
# tell whether its cached registry is current by reading one number (resilience.core.registry_cache).
registry_version = Table(
    "registry_version",
    metadata,
    Column("id", SmallInteger, CheckConstraint("id = 1"), primary_key=True, server_default=text("1")),
    Column("version", BigInteger, nullable=False, server_default=text("1")),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("received_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("transport", String(8), nullable=False),  # mqtt | http
    Column("utility_id", String(64)),
    Column("topic", Text),
    Column("sensor_id", String(64)),
    Column("reason", Text, nullable=False),
    Column("payload", Text, nullable=False),  # the raw payload (or the offending record), as received
    Index("ix_dead_letters_utility_time", "utility_id", "received_at"),
    Index("ix_dead_letters_received", "received_at"),
)

# Anomaly events produced by detection (open/update/close merged into one row per anomaly).
anomalies = Table(
    "anomalies",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("sensor_id", String(64), nullable=False),
    Column("asset_id", String(64), nullable=False),
    Column("sensor_kind", String(32), nullable=False),
    Column("detector", String(64), nullable=False),
    Column("start", DateTime(timezone=True), nullable=False),
    Column("end", DateTime(timezone=True)),
    Column("last_ts", DateTime(timezone=True), nullable=False),
    Column("peak_score", Float, nullable=False),
    Column("level", SmallInteger, nullable=False, server_default="0"),
    Column("last_value", Float),
    Column("explanation", Text, nullable=False, server_default=""),
    Index("ix_anomalies_sensor_start", "sensor_id", "start"),
    Index("ix_anomalies_asset_start", "asset_id", "start"),
)

# Durable, ordered internal event log (resilience.store.eventlog.PgEventLog).
events = Table(
    "events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    *_log_order("events"),
    Index("ix_events_seq", "seq"),
)

# One row per consumer of a log (events, reading_batches): position (last_seq), items handed on.
event_cursors = Table(
    "event_cursors",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("last_seq", BigInteger, nullable=False, server_default="0"),
    Column("processed", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)

# Events a consumer handled ahead of its cursor, most severe first (resilience.store.event_lanes); the
# in-order pass skips them and deletes the rows as it passes.
event_lane_done = Table(
    "event_lane_done",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
)

# Committed readings handed to detection, written in the ingest transaction (resilience.store.handoff).
reading_batches = Table(
    "reading_batches",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    *_log_order("reading_batches"),
    Column("shard", SmallInteger, nullable=False),
    Column("transport", String(8), nullable=False),
    Column("n", Integer, nullable=False),
    Column("readings", LargeBinary, nullable=False),  # resilience.store.handoff.encode
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Index("ix_reading_batches_shard_seq", "shard", "seq"),
    Index("ix_reading_batches_created", "created_at"),
)

# Each worker's liveness and progress (resilience.store.heartbeats), read by /readyz and the platform watch.
worker_heartbeats = Table(
    "worker_heartbeats",
    metadata,
    Column("worker", String(64), primary_key=True),
    Column("role", String(32), nullable=False),
    Column("beat_at", DateTime(timezone=True), nullable=False),
    Column("progress_at", DateTime(timezone=True)),
    Column("backlog", Integer, nullable=False, server_default="0"),
    Column("oldest_pending_s", Float, nullable=False, server_default="0"),
    Column("detail", JSONB, nullable=False, server_default="{}"),
)

# leader leases (migration 0022, resilience/store/leases.py): the epoch is the holder's fencing token
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

detector_snapshots = Table(
    "detector_snapshots",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("saved_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("state", JSONB, nullable=False),
)

#: The detection worker's state in parts (resilience.detection.state_parts): a group of sensors per row as
#: compressed MessagePack. The ``detector_snapshots`` row of the same name is the header (cursor positions,
#: layout); the header and every part written with it commit in one transaction.
detector_state_parts = Table(
    "detector_state_parts",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("part", Integer, primary_key=True),  # -1: the engine-wide document
    Column("sensors", Integer, nullable=False),
    Column("saved_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("data", LargeBinary, nullable=False),
)

#: Projections in force (resilience.detection.forecast): one row per trending sensor, replaced by each issue
#: or update event and deleted by its withdrawal, in the detection worker's transaction.
forecasts = Table(
    "forecasts",
    metadata,
    Column("sensor_id", String(64), primary_key=True),
    Column("asset_id", String(64), nullable=False),
    Column("sensor_kind", String(32), nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("value", Float),
    Column("slope_per_min", Float, nullable=False),
    Column("projections", JSONB, nullable=False),
    Column("explanation", Text, nullable=False, server_default=""),
    Column("message", JSONB),
    Index("ix_forecasts_asset", "asset_id"),
)

ml_models = Table(
    "ml_models",
    metadata,
    Column("asset_id", String(64), nullable=False, primary_key=True),
    Column("version", String(64), nullable=False, primary_key=True),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("n_samples", Integer, nullable=False, server_default="0"),
    Column("blob", LargeBinary, nullable=False),
)

# Per-asset state models (resilience.store.state_models): versioned fits on each asset's normal history.
state_models = Table(
    "state_models",
    metadata,
    Column("asset_id", String(64), nullable=False, primary_key=True),
    Column("version", String(40), nullable=False, primary_key=True),
    Column("fitted_at", DateTime(timezone=True), nullable=False),
    Column("train_start", DateTime(timezone=True), nullable=False),
    Column("train_end", DateTime(timezone=True), nullable=False),
    Column("n_rows", Integer, nullable=False),
    Column("sensor_ids", JSONB, nullable=False),  # column order of the model
    Column("excluded", JSONB, nullable=False, server_default="[]"),  # abnormal periods left out of training
    Column("blob", LargeBinary, nullable=False),
    Index("ix_state_models_newest", "asset_id", "fitted_at"),
)

# An engineer's re-baseline of an asset's state model (migration 0016): who, when, why, and what came of it.
state_model_rebaselines = Table(
    "state_model_rebaselines",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("asset_id", String(64), nullable=False),
    Column("requested_by", Text, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("reason", Text, nullable=False),
    Column("hours", Float, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),  # pending | fitted | refused
    Column("completed_at", DateTime(timezone=True)),
    Column("window_start", DateTime(timezone=True)),
    Column("window_end", DateTime(timezone=True)),
    Column("n_rows", Integer),
    Column("previous_version", String(64)),
    Column("version", String(64)),
    Column("refused", Text),
    CheckConstraint(
        "status = 'pending' OR (status = 'fitted' AND version IS NOT NULL) "
        "OR (status = 'refused' AND refused IS NOT NULL)"
    ),
    Index("state_model_rebaselines_asset", "asset_id", "requested_at"),
)

# Current risk per scope (asset:ID | district:ID | city) and hazard; the history lives in risk_series.
risk_current = Table(
    "risk_current",
    metadata,
    Column("scope", String(80), primary_key=True),
    Column("hazard", String(32), primary_key=True),
    Column("score", Float, nullable=False),
    Column("level", SmallInteger, nullable=False),
    Column("likelihood", SmallInteger),
    Column("consequence", SmallInteger),
    Column("factors", JSONB, nullable=False, server_default="[]"),
    Column("explanation", Text, nullable=False, server_default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Who may act (resilience.store.api_keys): keys stored as the SHA-256 of their secret; dashboard sessions.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("secret_sha256", LargeBinary, nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("utility_id", String(64), ForeignKey("utilities.id", ondelete="CASCADE")),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
)

api_sessions = Table(
    "api_sessions",
    metadata,
    Column("token_sha256", LargeBinary, primary_key=True),
    Column("key_id", String(16), ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_api_sessions_expires", "expires_at"),
)

# Rollup bookkeeping for the native (non-TimescaleDB) path.
rollup_state = Table(
    "rollup_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("watermark", DateTime(timezone=True), nullable=False),
)

# Late readings' ranges the rollups still lack (migration 0011, resilience.store.rollups).
rollup_invalidations = Table(
    "rollup_invalidations",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("sensor_id", Text, nullable=False),
    Column("lo", DateTime(timezone=True), nullable=False),
    Column("hi", DateTime(timezone=True), nullable=False),
    CheckConstraint("lo <= hi"),
    Index("ix_rollup_invalidations_sensor_lo", "sensor_id", "lo"),
)

# Below this instant a write must log what it adds (rollups may be materialized there).
rollup_threshold = Table(
    "rollup_threshold",
    metadata,
    Column("id", SmallInteger, CheckConstraint("id = 1"), primary_key=True, server_default=text("1")),
    Column("threshold", DateTime(timezone=True), nullable=False),
)

TIMESERIES_TABLES = {
    # name: (key columns besides ts, value columns DDL)
    "readings": ("sensor_id text NOT NULL", "value double precision NOT NULL, quality smallint NOT NULL DEFAULT 0"),
    "risk_series": (
        "scope text NOT NULL, hazard text NOT NULL",
        "score double precision NOT NULL, level smallint NOT NULL, explanation text NOT NULL DEFAULT ''",
    ),
}
