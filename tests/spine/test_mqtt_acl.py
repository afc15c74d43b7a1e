"""The broker enforces who may publish where: real Mosquitto with the generated password and ACL files, the
real ingest worker logged in as the 'ingest' account on the configured topic root, utilities as themselves."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from subprocess import Popen

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import insert, text

from resilience.ops.broker_accounts import SERVICE_ROLES, acl_file, hold_root, sync
from resilience.core.settings import Settings
from resilience.store.schema import sensors, utilities
from tests.mqtt_login import platform_login, utility_login
from tests.spine.workers import ROOT, spawn, unique, worker_env

INGEST_ID = unique("resilience-ingest")  # a platform client id, as the worker's is in production
NOT_AUTHORIZED = 0x87
BAD_CREDENTIALS = 0x86


def _wait(predicate, timeout: float = 20.0, every: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(every)
    return predicate()


def is_service(login: tuple[str, str] | None) -> bool:
    return login is not None and login[0] in SERVICE_ROLES


class Client:
    """A connected MQTT v5 client that records CONNACK, PUBACK and SUBACK reason codes and messages. A service
    login goes to the platform listener, a utility's to the device listener, unless ``port`` says otherwise."""

    def __init__(
        self,
        services: Settings,
        login: tuple[str, str] | None,
        *,
        port: int | None = None,
        client_id: str | None = None,
    ) -> None:
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or unique("acl"), protocol=mqtt.MQTTv5)
        self.disconnects: list[int] = []
        self.c.on_disconnect = lambda c, u, f, rc, p: self.disconnects.append(rc.value)
        if login:
            self.c.username_pw_set(*login)
        self.connack: list[int] = []
        self.pubacks: dict[int, int] = {}
        self.subacks: list[list[int]] = []
        self.messages: list[mqtt.MQTTMessage] = []
        self.got_connack = threading.Event()
        self.c.on_connect = lambda c, u, f, rc, p: (self.connack.append(rc.value), self.got_connack.set())
        self.c.on_publish = lambda c, u, mid, rc, p: self.pubacks.__setitem__(mid, rc.value)
        self.c.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.append([r.value for r in rcs])
        self.c.on_message = lambda c, u, m: self.messages.append(m)
        default = services.mqtt_port if is_service(login) else services.mqtt_device_port
        self.c.connect(services.mqtt_host, port or default, keepalive=10)
        self.c.loop_start()
        assert self.got_connack.wait(10), "no CONNACK"

    def publish(self, topic: str, payload: bytes) -> int:
        """Publish with QoS 1 and return the PUBACK's reason code."""
        info = self.c.publish(topic, payload, qos=1)
        info.wait_for_publish(10)
        assert _wait(lambda: info.mid in self.pubacks, 5), "no PUBACK"
        return self.pubacks[info.mid]

    def subscribe(self, topic: str) -> list[int]:
        n = len(self.subacks)
        self.c.subscribe(topic, qos=1)
        assert _wait(lambda: len(self.subacks) > n, 5), "no SUBACK"
        return self.subacks[-1]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture(scope="module")
def utilities_ab(db_engine, registry) -> tuple[str, str, str, str]:  # type: ignore[no-untyped-def]
    """Two utilities of this module's own, each with one sensor: (A, A's sensor, B, B's sensor)."""
    a, b = unique("acl-a"), unique("acl-b")
    sa, sb = unique("ACL-SA"), unique("ACL-SB")
    with db_engine.begin() as conn:
        conn.execute(insert(utilities), [{"id": a, "name": "Utility A"}, {"id": b, "name": "Utility B"}])
        conn.execute(
            insert(sensors),
            [
                {
                    "id": s,
                    "utility_id": u,
                    "kind": "water_flow",
                    "unit": "m**3/h",
                    "asset_id": "A-MAIN",
                    "expected_interval_s": 60,
                }
                for s, u in ((sa, a), (sb, b))
            ],
        )
    return a, sa, b, sb


@pytest.fixture(scope="module")
def ingest(db_url, services, utilities_ab) -> Iterator[Popen[bytes]]:  # type: ignore[no-untyped-def]
    # the configured root and the real 'ingest' account (worker_env adds no other login for it)
    env = worker_env(db_url, RESILIENCE_MQTT_CLIENT_ID=INGEST_ID)
    assert "RESILIENCE_MQTT_USERNAME" not in env or env["RESILIENCE_MQTT_USERNAME"] == "ingest"
    p = spawn(["ingest"], env, INGEST_ID, ready="subscribed to")
    yield p
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=20)


def _stored(db_engine, sensor: str) -> int:  # type: ignore[no-untyped-def]
    with db_engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM readings WHERE sensor_id = :s"), {"s": sensor}).scalar_one()


def _dead_letters(db_engine, topic: str) -> int:  # type: ignore[no-untyped-def]
    with db_engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM dead_letters WHERE topic = :t"), {"t": topic}).scalar_one()


def _reading(t: float, v: float) -> bytes:
    return json.dumps({"t": t, "v": v}).encode()


def test_anonymous_and_wrong_password_are_refused(services) -> None:  # type: ignore[no-untyped-def]
    for port in (services.mqtt_port, services.mqtt_device_port):
        anon = Client(services, None, port=port)
        assert anon.connack and anon.connack[0] in (NOT_AUTHORIZED, BAD_CREDENTIALS), anon.connack
        anon.close()
    user, _ = utility_login(unique("acl-pw"))
    wrong = Client(services, (user, "not-the-password"))
    assert wrong.connack[0] in (NOT_AUTHORIZED, BAD_CREDENTIALS), wrong.connack
    wrong.close()


def test_each_listener_knows_only_its_own_accounts(services, utilities_ab) -> None:  # type: ignore[no-untyped-def]
    """A utility's valid login is refused on the platform listener, a service account's on the devices' one."""
    a, _, _, _ = utilities_ab
    utility = Client(services, utility_login(a), port=services.mqtt_port)
    assert utility.connack[0] in (NOT_AUTHORIZED, BAD_CREDENTIALS), utility.connack
    utility.close()
    service = Client(services, platform_login("simulator"), port=services.mqtt_device_port)
    assert service.connack[0] in (NOT_AUTHORIZED, BAD_CREDENTIALS), service.connack
    service.close()


def test_reserved_platform_ids_are_never_utility_accounts(services) -> None:  # type: ignore[no-untyped-def]
    from resilience.ops import broker_accounts as mqtt_auth

    for reserved in ("resilience-ingest", "lifeline-alerts-dispatcher", "ingest", "bench"):
        assert not mqtt_auth.can_be_account(reserved)
        with pytest.raises(mqtt_auth.CredentialError, match="cannot be a broker account"):
            mqtt_auth.utility_credentials(services, reserved)
    assert mqtt_auth.can_be_account("GAS-CO-1")


def test_utility_publishes_its_own_topic_end_to_end(services, ingest, utilities_ab, db_engine) -> None:  # type: ignore[no-untyped-def]
    a, sa, _, _ = utilities_ab
    root = services.mqtt_topic_root
    client = Client(services, utility_login(a))
    try:
        assert client.connack == [0]
        t = float(int(time.time()) - 20)
        assert client.publish(f"{root}/{a}/{sa}", _reading(t, 1.5)) == 0
        assert client.publish(f"{root}/{a}", json.dumps([{"n": sa, "t": t + 1, "v": 1.6}]).encode()) == 0
        assert _wait(lambda: _stored(db_engine, sa) == 2), f"stored {_stored(db_engine, sa)} of 2"
    finally:
        client.close()
    assert ingest.poll() is None


def _ingest_log() -> str:
    return "".join(p.read_text(errors="replace") for p in (ROOT / ".local" / "test-logs").glob(f"{INGEST_ID}-*.log"))


def test_a_utility_cannot_take_the_ingest_workers_session_or_another_utilitys(  # type: ignore[no-untyped-def]
    services, ingest, utilities_ab, db_engine
) -> None:
    """The attack found from outside: a utility's valid login with the ingest worker's client id made the
    broker drop the worker and the readings it had acknowledged. Now the devices' listener forces every id to
    its login and the platform's listener does not know utilities: every reading published meanwhile is
    stored exactly once, and neither the worker nor utility B is ever disconnected."""
    a, sa, b, _ = utilities_ab
    root = services.mqtt_topic_root
    before = _stored(db_engine, sa)
    victim = Client(services, utility_login(b))
    publisher = Client(services, platform_login("simulator"))
    refused: list[int] = []
    n, base = 200, float(int(time.time()) - 1000)
    try:
        assert victim.connack == [0]
        for i in range(n):
            assert publisher.publish(f"{root}/{a}/{sa}", _reading(base + i, 1000.0 + i)) == 0
            if i % 25 == 0:
                for port, client_id in (
                    (services.mqtt_device_port, INGEST_ID),  # the worker's id on the devices' listener
                    (services.mqtt_device_port, b),  # utility B's id
                    (services.mqtt_port, INGEST_ID),  # the worker's id on the platform's listener
                ):
                    thief = Client(services, utility_login(a), port=port, client_id=client_id)
                    if port == services.mqtt_port:
                        refused += thief.connack
                    thief.close()
        assert _wait(lambda: _stored(db_engine, sa) == before + n, 60), f"{_stored(db_engine, sa) - before} of {n}"
        time.sleep(0.5)
        assert _stored(db_engine, sa) == before + n
        assert refused and all(code in (NOT_AUTHORIZED, BAD_CREDENTIALS) for code in refused), refused
        assert victim.disconnects == [], "utility B lost its session"
        assert "MQTT disconnected" not in _ingest_log(), "the ingest worker lost its session"
    finally:
        victim.close()
        publisher.close()
    assert ingest.poll() is None


def test_utility_b_cannot_publish_to_utility_a(services, ingest, utilities_ab, db_engine) -> None:  # type: ignore[no-untyped-def]
    a, sa, b, sb = utilities_ab
    root = services.mqtt_topic_root
    before_a = _stored(db_engine, sa)
    intruder = Client(services, utility_login(b))
    owner = Client(services, utility_login(a))
    try:
        t = float(int(time.time()) - 10)
        forged = [f"{root}/{a}/{sa}", f"{root}/{a}", f"{root}/{a}/{sb}"]
        codes = [
            intruder.publish(forged[0], _reading(t, 99.0)),
            intruder.publish(forged[1], json.dumps([{"n": sa, "t": t + 1, "v": 99.0}]).encode()),
            intruder.publish(forged[2], _reading(t + 2, 99.0)),
        ]
        # Mosquitto answers an MQTT v5 QoS 1 publish it denies with PUBACK 0x87 (older ones drop it silently)
        assert all(c in (0, NOT_AUTHORIZED) for c in codes), codes
        # then the owner's own reading: once it is stored, the worker has seen everything published before it
        assert owner.publish(f"{root}/{a}/{sa}", _reading(t + 3, 2.0)) == 0
        assert _wait(lambda: _stored(db_engine, sa) == before_a + 1)
        time.sleep(0.5)
        assert _stored(db_engine, sa) == before_a + 1, "a forged reading was stored"
        assert _stored(db_engine, sb) == 0
        assert all(_dead_letters(db_engine, topic) == 0 for topic in forged), "a forged message reached the worker"
        with db_engine.connect() as conn:
            assert (
                conn.execute(
                    text("SELECT count(*) FROM readings WHERE sensor_id = :s AND value = 99"), {"s": sa}
                ).scalar_one()
                == 0
            )
    finally:
        intruder.close()
        owner.close()
    assert ingest.poll() is None


def test_utility_cannot_publish_alerts_or_read_other_feeds(services, utilities_ab) -> None:  # type: ignore[no-untyped-def]
    a, _, b, _ = utilities_ab
    root = services.mqtt_topic_root
    reader = Client(services, platform_login("alerts-reader"))
    utility = Client(services, utility_login(a))
    alerts = Client(services, platform_login("alerts"))
    try:
        assert reader.subscribe("alerts/#") == [1]
        code = utility.publish("alerts/D1/red", b'{"status":"firing"}')
        assert code in (0, NOT_AUTHORIZED), code
        # the platform's alert account may: its message arrives, the utility's never does
        assert alerts.publish("alerts/D1/red", b'{"status":"from-platform"}') == 0
        assert _wait(lambda: reader.messages, 5)
        time.sleep(0.3)
        assert [m.payload for m in reader.messages] == [b'{"status":"from-platform"}']
        # a utility reads nothing: Mosquitto may grant the subscription, but delivers no message it may not read
        assert utility.subscribe(f"{root}/#")[0] in (1, NOT_AUTHORIZED)
        assert utility.subscribe("alerts/#")[0] in (1, NOT_AUTHORIZED)
        other = Client(services, utility_login(b))
        try:
            assert other.publish(f"{root}/{b}", json.dumps([]).encode()) == 0
        finally:
            other.close()
        assert alerts.publish("alerts/D2/red", b'{"status":"second"}') == 0
        assert _wait(lambda: len(reader.messages) == 2, 5)
        time.sleep(0.3)
        assert utility.messages == []
        # the alert reader may not publish alerts, the alert account may not publish readings
        assert reader.publish("alerts/D1/red", b"x") in (0, NOT_AUTHORIZED)
        assert alerts.publish(f"{root}/{b}", b"[]") in (0, NOT_AUTHORIZED)
        time.sleep(0.3)
        assert len(reader.messages) == 2
    finally:
        for c in (reader, utility, alerts):
            c.close()


def test_service_accounts_files_are_private(services) -> None:  # type: ignore[no-untyped-def]
    from resilience.ops import broker_accounts as mqtt_auth

    for path in (
        mqtt_auth.password_file(services),
        mqtt_auth.acl_file(services),
        mqtt_auth.device_password_file(services),
        mqtt_auth.device_acl_file(services),
        mqtt_auth.auth_dir(services) / "service-accounts.json",
    ):
        assert path.stat().st_mode & 0o077 == 0, path
    # the password file is Mosquitto's hashed format, never plaintext
    pw = mqtt_auth.password_file(services).read_text()
    ingest = mqtt_auth.service_credentials(services, "ingest")
    assert f"{ingest.username}:$7$" in pw and ingest.password not in pw


def test_a_utility_added_to_the_registry_may_connect_after_the_scheduler_syncs(services, db_engine) -> None:  # type: ignore[no-untyped-def]
    """The scheduler's broker-accounts job, against the real registry and broker: refused before, accepted
    after one run; a run with nothing new rewrites nothing."""
    from resilience.ops import broker_accounts as mqtt_auth
    from resilience.runtime.scheduler_process import follow_registry_on_broker
    from resilience.core.settings import get_settings

    settings = get_settings()
    new = unique("NEWUTIL").replace("-", "_").upper()
    with db_engine.begin() as conn:
        conn.execute(insert(utilities).values(id=new, name="a utility onboarded through the registry"))
    creds = mqtt_auth.utility_credentials(settings, new)
    before = Client(services, (creds.username, creds.password))
    assert before.connack[0] in (NOT_AUTHORIZED, BAD_CREDENTIALS), before.connack
    before.close()
    assert new in follow_registry_on_broker(db_engine, settings)
    mqtt_auth.wait_accepted(settings, creds, timeout_s=10)
    after = Client(services, (creds.username, creds.password))
    try:
        assert after.connack == [0]
        assert after.publish(f"{settings.mqtt_topic_root}/{new}/S1", b"[]") == 0  # its own topic
        assert after.publish(f"{settings.mqtt_topic_root}/OTHER/S1", b"[]") == NOT_AUTHORIZED
    finally:
        after.close()
    written = mqtt_auth.device_password_file(settings).stat().st_mtime_ns
    assert follow_registry_on_broker(db_engine, settings) == []
    assert mqtt_auth.device_password_file(settings).stat().st_mtime_ns == written


def test_the_registry_is_read_through_the_callers_engine(db_engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The scheduler's job runs every few seconds: with its engine passed in, no engine is made (and disposed
    of) per run; without one, a one-off read still makes its own."""
    from resilience.ops import broker_accounts as mqtt_auth
    from resilience.core.settings import get_settings
    from resilience.store import db

    made: list[str] = []
    real = db.make_engine
    monkeypatch.setattr(db, "make_engine", lambda url=None, **kw: made.append(str(url)) or real(url, **kw))
    new = unique("ENGUTIL").replace("-", "_").upper()
    with db_engine.begin() as conn:
        conn.execute(insert(utilities).values(id=new, name="read through the caller's engine"))
    assert new in mqtt_auth.registry_utilities(get_settings(), db_engine)
    assert made == []
    assert new in mqtt_auth.registry_utilities(get_settings())
    assert len(made) == 1


def test_a_deployment_folder_gets_accounts_mosquitto_can_check(services, db_engine, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """With RESILIENCE_MQTT_AUTH_OUT (the compose layout) the files go there, hashed in Mosquitto's $7$ format
    (PBKDF2-SHA512, recomputed here from each account's password), and the local broker is not touched."""
    import base64
    import hashlib

    from resilience.ops import broker_accounts as mqtt_auth
    from resilience.core.settings import get_settings

    monkeypatch.setenv("RESILIENCE_MQTT_AUTH_OUT", str(tmp_path))
    get_settings.cache_clear()
    try:
        settings = get_settings()
        local_before = mqtt_auth.password_file(settings).stat().st_mtime_ns
        mqtt_auth.follow_registry(settings)
        lines = dict(
            line.split(":", 1)
            for name in ("passwd", "passwd-devices")
            for line in (tmp_path / name).read_text().splitlines()
        )
        expected = [mqtt_auth.service_credentials(settings, "ingest")]
        with db_engine.connect() as conn:
            some = conn.execute(text("SELECT id FROM utilities ORDER BY id LIMIT 1")).scalar_one()
        expected.append(mqtt_auth.utility_credentials(settings, some))
        for c in expected:
            _, algo, iterations, salt, digest = lines[c.username].split("$")
            assert algo == "7" and base64.b64decode(digest) == hashlib.pbkdf2_hmac(
                "sha512", c.password.encode(), base64.b64decode(salt), int(iterations), 64
            )
        assert f"user {some}" in (tmp_path / "acl-devices").read_text()
        assert f"user {some}" not in (tmp_path / "acl").read_text()
        assert f"{some}:" not in (tmp_path / "passwd").read_text()
        assert mqtt_auth.password_file(settings).stat().st_mtime_ns == local_before
    finally:
        monkeypatch.delenv("RESILIENCE_MQTT_AUTH_OUT")
        get_settings.cache_clear()


def test_topics_of_the_wrong_shape_are_dead_lettered_not_dropped(services, ingest, utilities_ab, db_engine) -> None:  # type: ignore[no-untyped-def]
    """A topic one level too deep or with an empty level used to get PUBACK 'no matching subscribers', which a
    device reads as success, and vanish; now the worker receives it and keeps it with the topic's reason."""
    a, sa, _, _ = utilities_ab
    root = services.mqtt_topic_root
    bad = [f"{root}/{a}/{sa}/extra", f"{root}/{a}//", f"{root}/{a}/{sa}/x/y"]
    client = Client(services, utility_login(a))
    try:
        for topic in bad:
            assert client.publish(topic, _reading(float(int(time.time()) - 5), 1.0)) == 0
        assert _wait(lambda: all(_dead_letters(db_engine, t) == 1 for t in bad)), [
            _dead_letters(db_engine, t) for t in bad
        ]
        with db_engine.connect() as conn:
            reasons = (
                conn.execute(text("SELECT reason FROM dead_letters WHERE topic = ANY(:t)"), {"t": bad}).scalars().all()
            )
        assert all("topic" in r for r in reasons), reasons
    finally:
        client.close()


def test_a_held_root_survives_a_sync_for_another_root_and_goes_with_its_holder(services) -> None:  # type: ignore[no-untyped-def]
    """A run on a root of its own (make evaluate) holds it; a sync for the usual root meanwhile (services start,
    the test suite) used to drop it from the ACL, and the broker then silently dropped every reading the run
    sent. The ingest account keeps receiving on the held root; once the holder ends, the next sync drops it."""
    held = services.model_copy(update={"mqtt_topic_root": unique("held")})
    holder = Popen(["sleep", "600"])
    try:
        hold_root(held, holder.pid)
        sync(held)
        sync(services)  # as `resilience services start` does, for the usual root
        reader = Client(services, platform_login("ingest"), client_id=unique("held-reader"))
        writer = Client(services, platform_login("simulator"))
        try:
            assert reader.subscribe(f"{held.mqtt_topic_root}/#") == [1]
            assert writer.publish(f"{held.mqtt_topic_root}/gas", b"[]") == 0
            assert _wait(lambda: reader.messages, 5), "the held root's message was dropped"
        finally:
            reader.close()
            writer.close()
    finally:
        holder.kill()
        holder.wait()
    sync(services)
    assert held.mqtt_topic_root not in acl_file(services).read_text()
