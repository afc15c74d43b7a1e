"""Alembic migrations of the resilience database, shipped in the wheel (see resilience.store.db.alembic_config)."""
