"""Which MQTT filter the ingest worker subscribes: its own for a lone worker, the group's for named copies."""

from __future__ import annotations

from ingest.mqtt_worker import subscription_filters
from resilience.core.settings import Settings


def test_a_lone_worker_subscribes_plainly_and_named_copies_share() -> None:
    lone = Settings(mqtt_topic_root="lifeline")
    assert subscription_filters(lone) == ("lifeline/#", "$share/ingest/lifeline/#")
    copy = Settings(mqtt_topic_root="lifeline", instance="a")
    assert subscription_filters(copy) == ("$share/ingest/lifeline/#", "lifeline/#")
    assert (
        subscription_filters(Settings(mqtt_topic_root="lifeline", instance="a", mqtt_shared_subscription=False))[0]
        == "lifeline/#"
    )
    assert subscription_filters(Settings(mqtt_topic_root="lifeline", mqtt_shared_subscription=True))[0].startswith(
        "$share/"
    )
