"""API keys and browser sessions: who may act on the platform.

- ``api_keys``: one row per key. The secret is shown once and stored only as its SHA-256 (keys are 256-bit
  random, so no salt or slow hash is needed); a role, for ``utility`` keys the one utility, an expiry,
  revocation and the last time it was used.
- ``api_sessions``: dashboard logins, exchanged for a key; the cookie's token is stored hashed too.

Revision ID: 0005_api_keys
Revises: 0004_reliability
"""

from __future__ import annotations

from alembic import op

revision = "0005_api_keys"
down_revision = "0004_reliability"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE IF NOT EXISTS api_keys (
            id varchar(16) PRIMARY KEY,
            secret_sha256 bytea NOT NULL,
            name varchar(200) NOT NULL,
            role varchar(16) NOT NULL CHECK (role IN ('admin', 'operator', 'engineer', 'utility', 'viewer')),
            utility_id varchar(64) REFERENCES utilities (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz,
            revoked_at timestamptz,
            last_used_at timestamptz,
            CHECK ((role = 'utility') = (utility_id IS NOT NULL))
        )""")
    op.execute("""
        CREATE TABLE IF NOT EXISTS api_sessions (
            token_sha256 bytea PRIMARY KEY,
            key_id varchar(16) NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL
        )""")
    op.execute("CREATE INDEX IF NOT EXISTS ix_api_sessions_expires ON api_sessions (expires_at)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS api_sessions")
    op.execute("DROP TABLE IF EXISTS api_keys")
