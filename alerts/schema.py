"""Where the alert tables were before they moved into the store (``alerts.store.schema``).

Kept only for the console modules, whose queries move to the store on the console branch; new code imports
the store's functions, never the tables (tests/spine/test_store_boundary.py).
"""

from __future__ import annotations

from alerts.store.schema import (ALERT_TABLES, alert_actions, alert_transitions, alerts, notification_log,
                                 notifications, silences)

__all__ = ["ALERT_TABLES", "alert_actions", "alert_transitions", "alerts", "notification_log", "notifications",
           "silences"]
