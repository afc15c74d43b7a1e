"""Settings from environment variables (prefix ``RESILIENCE_``), with safe local defaults.

Local defaults point at the project-local services started by ``resilience services start``
(PostgreSQL on 127.0.0.1:55432, Mosquitto on 127.0.0.1:51883 for the platform and 51884 for utilities).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import PositiveFloat, PositiveInt, StringConstraints, computed_field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RESILIENCE_", env_file=".env", env_ignore_empty=True, extra="ignore")

    environment: Literal["local", "test", "production"] = "local"
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"

    db_host: str = "127.0.0.1"
    db_port: int = 55432
    db_user: str = "resilience"
    db_password: str = "resilience"
    db_name: str = "resilience"
    # the least-privileged login the local server gets beside the owner (a member of resilience_service,
    # migration 0006); production services log in as it through RESILIENCE_DB_USER/RESILIENCE_DB_PASSWORD
    db_app_user: str = "resilience_app"
    db_app_password: str = "resilience-app-local"
    database_url_override: str | None = None  # RESILIENCE_DATABASE_URL_OVERRIDE wins over the parts above

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 51883  # the platform listener: service accounts only (ingest, alerts, simulator, benches)
    # the device listener: utilities' logins only, each client id forced to its login (no session takeover)
    mqtt_device_port: int = 51884
    mqtt_client_id: str = "resilience-ingest"
    # one copy of a scaled-out service (``--instance`` / RESILIENCE_INSTANCE): the ingest worker's client id
    # and heartbeat become ``<mqtt_client_id>-<instance>``, a lease holder's name ``<process>-<instance>``
    instance: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")] | None = None
    # the ingest workers' MQTT v5 shared subscription (``$share/<group>/<root>/#``): each message goes to one
    # instance of the group; off: a plain subscription (every worker would get every message). Unset: shared
    # for a named copy (``instance``), plain for the one unnamed worker, whose session's subscription survives
    # a broker restart (Mosquitto 2.0 lost 14 of 20,000 acknowledged messages across a restart with a shared
    # one: published before the worker had subscribed again; docs/scaling.md)
    mqtt_shared_subscription: bool | None = None
    mqtt_shared_group: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")] = "ingest"
    mqtt_topic_root: str = "lifeline"
    # the platform's broker account (the ingest worker's); empty: the local generated one (ops.broker_accounts)
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    # utility broker passwords are derived from this (HMAC); empty: the local generated one
    mqtt_credential_secret: str | None = None
    # where the scheduler keeps Mosquitto's passwd/acl in step with the registry; empty: the local broker's
    mqtt_auth_out: Path | None = None
    mqtt_auth_uid: int | None = None  # chown the files to the broker's uid (when the writer may)
    mqtt_sync_s: float = 10.0
    registry_max_age_s: float = 30.0  # every process reads the registry again this often (and on a miss)
    registry_import_max_bytes: int = 32 * 1024 * 1024  # an upload to POST /registry/import (100k sensors: ~10 MB CSV)

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    sse_max_clients: int = 200  # open alert streams per API process (each polls the database)

    services_dir: Path = PROJECT_ROOT / ".local"

    @property
    def ingest_client_id(self) -> str:
        """This ingest instance's MQTT client id and heartbeat name: stable across restarts, so a restarted
        instance takes back its persistent session and what the broker queued for it."""
        return f"{self.mqtt_client_id}-{self.instance}" if self.instance else self.mqtt_client_id

    # each process's Prometheus metrics (resilience/metrics/): the address they are served on (loopback here;
    # the compose network's address in a container), and the first port `resilience run` gives out, one per
    # process in the order of resilience.runtime.supervisor.SERVICES (api 9100, ingest 9101, ...)
    metrics_host: str = "127.0.0.1"
    metrics_port_base: int = 9100

    ingest_batch_max: int = 5000
    ingest_batch_wait_ms: int = 50
    ingest_max_payload_bytes: int = 256 * 1024
    ingest_max_future_s: float = 300.0
    retention_days: int = 400
    partition_interval_days: int = 1
    partitions_ahead: int = 3

    # the hand-off to detection is split by a stable hash of the sensor id; one detector takes every shard
    # today, several can share them later (change only while the hand-off is drained)
    detection_shards: int = 1
    # the alert consumer, behind by a batch or more, looks this many events ahead for reds and oranges and
    # handles them first (resilience.store.event_lanes); 0 keeps strict log order
    alerts_lane_lookahead: int = 5000
    reading_batches_keep_s: float = 3600.0  # consumed hand-off rows are kept this long, then pruned
    reading_batches_hard_limit_s: float = 7 * 86400.0  # and no longer than this, consumed or not
    dead_letter_retention_days: int = 90
    # a worker whose heartbeat is older than this, or whose oldest unprocessed message is older, is stalled
    stall_after_s: float = 30.0

    # the engine and the scheduler run active/standby on a leader lease in PostgreSQL (resilience/store/leases.py):
    # a standby takes over within about this long after the leader dies; 0: no lease (one copy, as before)
    leader_lease_s: float = 10.0

    detector_snapshot_s: float = 60.0  # how often the detector saves its state (the replay after a crash is shorter)
    silence_check_s: float = 30.0  # how often the detector's APScheduler job looks for silent sensors
    silence_k: float = 3.0  # silent after k x the sensor's expected interval without a reading
    # how far a utility's feed may trail the clock (packs in transit) before its sensors are judged by the
    # clock rather than by the feed's newest reading; an accelerated run needs about one simulator step
    silence_feed_lag_s: float = 60.0

    webhook_secret: str = "local-dev-secret"

    @computed_field  # type: ignore[prop-decorator]  # mypy does not know pydantic's decorator over a property
    @property
    def database_url(self) -> str:
        if self.database_url_override:
            return self.database_url_override
        return f"postgresql+psycopg://{self.db_user}:{self.db_password}@{self.db_host}:{self.db_port}/{self.db_name}"

    @property
    def psycopg_dsn(self) -> str:
        """The same database as a plain libpq URL, for psycopg connections (COPY, LISTEN)."""
        return self.database_url.replace("postgresql+psycopg://", "postgresql://", 1)

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> Settings:
        if self.environment == "production" and self.webhook_secret == "local-dev-secret":
            raise ValueError("RESILIENCE_WEBHOOK_SECRET must be set in production")
        return self

    # failed key checks (API key headers, logins), counted in each API process (resilience/api/login_limits.py):
    # an address over its budget in a window waits out the window (429); a key id over its budget makes every
    # further wrong secret for it block its address at once; each table keeps at most auth_limit_entries names
    auth_window_s: PositiveFloat = 300.0
    auth_failures_per_address: PositiveInt = 20
    auth_failures_per_key: PositiveInt = 10
    auth_limit_entries: PositiveInt = 10_000
    # the session cookie's Secure flag; unset: Secure when the request came over https or in production
    session_cookie_secure: bool | None = None


@lru_cache
def get_settings() -> Settings:
    return Settings()


def accelerated_silence_env(speed: float) -> dict[str, str]:
    """Silence settings for a simulator running ``speed`` simulated seconds per wall second.

    The check runs every 30 simulated seconds, as live; a simulator step (one wall second) carries ``speed``
    simulated seconds of every utility's packs, so a feed may trail another by a step: transit, not silence.
    """
    return {
        "RESILIENCE_SILENCE_CHECK_S": str(max(0.1, 30 / speed)),
        "RESILIENCE_SILENCE_FEED_LAG_S": str(max(60.0, 2 * speed)),
    }
