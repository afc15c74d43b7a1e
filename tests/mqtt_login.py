"""Broker logins for tests: anonymous access is off, so every paho client a test makes authenticates."""

from __future__ import annotations

from resilience.ops.broker_accounts import ensure_utility_account, service_credentials
from resilience.core.settings import get_settings


def platform_login(role: str = "bench") -> tuple[str, str]:
    """(username, password) of a platform service account: 'bench' (local only) may publish and subscribe under
    any root, so tests with throwaway topic roots use it; 'simulator' may publish ``<root>/#``, 'alerts-reader'
    subscribe ``alerts/#``, 'ingest' subscribe ``<root>/#``, 'alerts' publish ``alerts/#``."""
    c = service_credentials(get_settings(), role)
    return c.username, c.password


def utility_login(utility_id: str) -> tuple[str, str]:
    """(username, password) of a utility's own account (may publish ``<root>/<utility>/#`` only), created on the
    broker now if it is new."""
    c = ensure_utility_account(get_settings(), utility_id)
    return c.username, c.password
