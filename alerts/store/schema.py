"""Alert tables (SQLAlchemy Core) on the platform's one MetaData, so migrations and queries share them.

``notifications`` is the transactional outbox: rows are written in the same transaction as the alert
change that caused them and sent later by the dispatcher. ``notification_log`` is what each receiver was
last told per group (written after a successful send, read by dedup).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

from resilience.store.schema import metadata

alerts = Table(
    "alerts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("fingerprint", String(40), nullable=False, unique=True),
    Column("rule", String(64), nullable=False),
    Column("hazard", String(32), nullable=False),
    Column("scope", String(100), nullable=False),
    Column("source_type", String(16), nullable=False),
    Column("level", SmallInteger, nullable=False),
    Column("peak_level", SmallInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("asset_id", String(64)),
    Column("district_id", String(64)),
    Column("utility_id", String(64)),
    Column("sensor_kind", String(32)),
    Column("sources", JSONB, nullable=False, server_default="{}"),
    Column("fire_count", Integer, nullable=False, server_default="1"),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("explanation", Text, nullable=False, server_default=""),
    Column("evidence", JSONB, nullable=False, server_default="{}"),
    Column("action_zh", Text, nullable=False, server_default=""),
    Column("action_en", Text, nullable=False, server_default=""),
    Column("first_fired_at", DateTime(timezone=True), nullable=False),
    Column("fired_at", DateTime(timezone=True), nullable=False),
    Column("level_since", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("cleared_at", DateTime(timezone=True)),
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("acknowledged_by", Text),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolved_by", Text),
    Column("silenced", Boolean, nullable=False, server_default="false"),
    Column("inhibited", Boolean, nullable=False, server_default="false"),
    Column("parent_fingerprint", String(40)),
    Column("escalation_tier", SmallInteger, nullable=False, server_default="0"),
    Column("assigned_unit", String(64)),
    # bumped on every save; a save of a row read at another row_version is refused (optimistic locking)
    Column("row_version", Integer, nullable=False, server_default="0"),
    Index("ix_alerts_state_level", "state", "level"),
    Index("ix_alerts_asset", "asset_id"),
    Index("ix_alerts_district", "district_id"),
    Index("ix_alerts_fired", "first_fired_at"),
)

alert_transitions = Table(
    "alert_transitions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("alert_id", BigInteger, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", Text, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("from_state", String(16)),
    Column("to_state", String(16)),
    Column("level", SmallInteger),
    Column("data", JSONB, nullable=False, server_default="{}"),
    Index("ix_alert_transitions_alert", "alert_id", "id"),
)

# Closed loop: the responsible unit's steps (dispatch, on_site, disposed, feedback) and comments.
alert_actions = Table(
    "alert_actions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("alert_id", BigInteger, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("fire_count", Integer, nullable=False),
    Column("step", String(16), nullable=False),  # assign | dispatch | on_site | disposed | feedback | comment
    Column("unit", String(64)),
    Column("actor", Text, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("ts", DateTime(timezone=True), nullable=False),
    Index("ix_alert_actions_alert", "alert_id", "step"),
)

silences = Table(
    "silences",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("matchers", JSONB, nullable=False),  # [{name, value, is_regex, is_equal}]
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("created_by", Text, nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expired_by", Text),
    Index("ix_silences_ends", "ends_at"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("alert_id", BigInteger, ForeignKey("alerts.id", ondelete="CASCADE")),
    Column("group_key", String(40), nullable=False),
    # firing (first message of a new or re-fired alert) | update (level rose, repeat) | resolved | escalation
    Column("kind", String(16), nullable=False, server_default="firing"),
    Column("channel", String(16), nullable=False),  # webhook | email | mqtt
    Column("receiver", String(100), nullable=False),
    Column("target", Text, nullable=False),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("payload", JSONB, nullable=False),
    Column("firing_keys", JSONB, nullable=False, server_default="[]"),
    Column("resolved_keys", JSONB, nullable=False, server_default="[]"),
    # pending | delivered | failed | cancelled (superseded before it was sent: grouped, muted, resolved)
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True)),  # when it was scheduled to go out (group_wait/interval)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("failure_alerted", Boolean, nullable=False, server_default="false"),
    Index("ix_notifications_due", "status", "next_attempt_at"),
    Index("ix_notifications_group", "group_key", "receiver", "id"),
    Index("ix_notifications_alert", "alert_id"),
)

notification_log = Table(
    "notification_log",
    metadata,
    Column("group_key", String(40), nullable=False),
    Column("receiver", String(100), nullable=False),
    Column("firing_keys", JSONB, nullable=False),
    Column("resolved_keys", JSONB, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("group_key", "receiver", name="uq_notification_log_group_receiver"),
)

ALERT_TABLES = [alerts, alert_transitions, alert_actions, silences, notifications, notification_log]
