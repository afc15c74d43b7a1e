"""Broker credentials and ACLs: every MQTT client authenticates, and each may touch only its own topics.

Accounts (``resilience mqtt-credentials sync`` writes them for Mosquitto and reloads it with SIGHUP):

* one per utility, username = the utility id: may **write** ``<root>/<utility>`` and ``<root>/<utility>/#``
  only. Its password is derived, never stored: ``HMAC-SHA256(credential secret, "utility:" + id)``, so the
  database holds nothing to leak and the platform can hand a utility its password again
  (``resilience mqtt-credentials show UTILITY``).
* service accounts for the platform's own clients, their passwords random and kept in the services dir
  (``mosquitto/service-accounts.json``, mode 0600) unless given in settings:

  - ``ingest``: read ``<root>/#`` (the ingest worker subscribes there)
  - ``alerts``: write ``alerts/#`` (the alert MQTT channel publishes ``alerts/<district>/<level>``)
  - ``alerts-reader``: read ``alerts/#`` (dashboards, tests and benches that watch alerts)
  - ``simulator``: write ``<root>/#`` (the simulator and the publishing benches speak for many utilities)
  - ``bench``: readwrite ``#``, local (non-production) brokers only: the benches publish, count and ingest
    under throwaway topic roots (``bench-<id>``)

Two listeners, each with its own accounts (``per_listener_settings true``), because MQTT client ids are
one namespace for the whole broker and a client that connects with a taken id disconnects its holder:

* the **platform listener** (``mqtt_port``; in compose 1883 on the internal network only) knows only the
  service accounts: ``passwd`` and ``acl``. A utility's login is refused there.
* the **device listener** (``mqtt_device_port``; in compose 8883 with TLS) knows only the utilities'
  accounts: ``passwd-devices`` and ``acl-devices``, and forces every client id to the login's username
  (``use_username_as_clientid``), so a utility can be no one but itself and can never take the ingest
  worker's session or another utility's. Utility ids may not start with the platform's client-id prefixes
  (``resilience-``, ``lifeline-``), so no utility id is ever a platform client's.

Mosquitto gets a password file in its own format (``$7$``: PBKDF2-HMAC-SHA512, a 12-byte salt, as
``mosquitto_passwd`` writes it, hashed here so the production image needs no Mosquitto tools; no plaintext
is ever written) and an ACL file (``user X`` / ``topic ...``). Anonymous access is off
(``allow_anonymous false``). The scheduler keeps both files in step with the registry
(:func:`follow_registry`): a utility added to the registry may connect within one sync interval.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from resilience.core.settings import Settings, get_settings

if TYPE_CHECKING:  # the store is imported where it is used: the broker's accounts are written without it
    from resilience.store.db import Engine

ALERT_ROOT = "alerts"
ACCOUNT_FILES = ("passwd", "acl", "passwd-devices", "acl-devices")  # platform listener's, then the devices'
PLATFORM_CLIENT_PREFIXES = ("resilience-", "lifeline-")  # the platform's own client ids; never a utility's
SERVICE_ROLES = ("ingest", "alerts", "alerts-reader", "simulator", "bench")
_VALID_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")  # no '/', '+', '#', spaces: safe as a topic level


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


class CredentialError(RuntimeError):
    pass


def auth_dir(settings: Settings) -> Path:
    return settings.services_dir / "mosquitto"


def password_file(settings: Settings) -> Path:
    """The platform listener's accounts (service accounts only)."""
    return auth_dir(settings) / "passwd"


def acl_file(settings: Settings) -> Path:
    return auth_dir(settings) / "acl"


def device_password_file(settings: Settings) -> Path:
    """The device listener's accounts (utilities only)."""
    return auth_dir(settings) / "passwd-devices"


def device_acl_file(settings: Settings) -> Path:
    return auth_dir(settings) / "acl-devices"


def _secrets_file(settings: Settings) -> Path:
    return auth_dir(settings) / "service-accounts.json"


def _write_private(path: Path, text: str, owner_uid: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        if owner_uid is not None:
            os.fchown(fd, owner_uid, owner_uid)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def local_secrets(settings: Settings) -> dict[str, str]:
    """The services dir's generated secrets (created on first use, mode 0600): one password per service role
    and the secret utility passwords are derived from."""
    path = _secrets_file(settings)
    data: dict[str, str] = {}
    if path.exists():
        data = json.loads(path.read_text())
    missing = [k for k in (*SERVICE_ROLES, "utility_secret") if k not in data]
    if missing:
        for k in missing:
            data[k] = secrets.token_urlsafe(24)
        _write_private(path, json.dumps(data, indent=2) + "\n")
    return data


def credential_secret(settings: Settings) -> str:
    if settings.mqtt_credential_secret:
        return settings.mqtt_credential_secret
    if settings.environment == "production":
        raise CredentialError("RESILIENCE_MQTT_CREDENTIAL_SECRET must be set in production")
    return local_secrets(settings)["utility_secret"]


def utility_password(settings: Settings, utility_id: str) -> str:
    mac = hmac.new(credential_secret(settings).encode(), f"utility:{utility_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def utility_credentials(settings: Settings, utility_id: str) -> Credentials:
    _check_id(utility_id)
    return Credentials(utility_id, utility_password(settings, utility_id))


def service_credentials(settings: Settings, role: str = "ingest") -> Credentials:
    """The account of one of the platform's clients. ``ingest`` honours RESILIENCE_MQTT_USERNAME /
    RESILIENCE_MQTT_PASSWORD; the others RESILIENCE_MQTT_<ROLE>_PASSWORD (role with '_' for '-'); else the
    local generated secret."""
    if role not in SERVICE_ROLES:
        raise CredentialError(f"unknown MQTT service role {role!r}; one of {', '.join(SERVICE_ROLES)}")
    if role == "ingest" and settings.mqtt_username:
        username = settings.mqtt_username
    else:
        username = role
    given = (
        settings.mqtt_password
        if role == "ingest"
        else os.environ.get(f"RESILIENCE_MQTT_{role.upper().replace('-', '_')}_PASSWORD")
    )
    if not given and settings.environment == "production":
        env = (
            "RESILIENCE_MQTT_PASSWORD"
            if role == "ingest"
            else f"RESILIENCE_MQTT_{role.upper().replace('-', '_')}_PASSWORD"
        )
        raise CredentialError(f"{env} must be set in production")
    return Credentials(username, given or local_secrets(settings)[role])


def service_env(settings: Settings, role: str) -> dict[str, str]:
    """Environment that makes a child process's platform client (the ingest worker) log in as ``role``."""
    c = service_credentials(settings, role)
    return {"RESILIENCE_MQTT_USERNAME": c.username, "RESILIENCE_MQTT_PASSWORD": c.password}


def add_client_args(p: argparse.ArgumentParser, role: str) -> None:
    p.add_argument("--username", default=None, help=f"broker account (default: the platform's {role!r} account)")
    p.add_argument("--password", default=None)
    p.set_defaults(mqtt_role=role)


def client_credentials(args: argparse.Namespace) -> Credentials:
    if args.username:
        return Credentials(args.username, args.password or "")
    return service_credentials(get_settings(), args.mqtt_role)


def can_be_account(utility_id: str) -> bool:
    """Whether a utility id may be a broker login: a safe topic level, no service role, and no platform
    client-id prefix (on the device listener the login is the client id)."""
    return (
        bool(_VALID_ID.match(utility_id))
        and utility_id not in SERVICE_ROLES
        and not utility_id.startswith(PLATFORM_CLIENT_PREFIXES)
    )


def _check_id(utility_id: str) -> None:
    if not can_be_account(utility_id):
        raise CredentialError(
            f"utility id {utility_id!r} cannot be a broker account (1-64 of A-Z a-z 0-9 _ . : -, not a service "
            f"role, not starting with {' or '.join(PLATFORM_CLIENT_PREFIXES)})"
        )


def acl_text(settings: Settings, roots: Sequence[str] = ()) -> str:
    """The platform listener's ACL: what each service account may touch, under the configured topic root
    and any ``roots`` a local run holds (``held_roots``)."""
    every = list(dict.fromkeys([settings.mqtt_topic_root, *roots]))
    svc = {r: (settings.mqtt_username or r) if r == "ingest" else r for r in SERVICE_ROLES}
    lines = [
        "# generated by resilience mqtt-credentials sync; do not edit",
        "",
        f"user {svc['ingest']}",
        *(f"topic read {root}/#" for root in every),
        "",
        f"user {svc['alerts']}",
        f"topic write {ALERT_ROOT}/#",
        "",
        f"user {svc['alerts-reader']}",
        f"topic read {ALERT_ROOT}/#",
        "",
        f"user {svc['simulator']}",
        *(f"topic write {root}/#" for root in every),
        "",
        "",
    ]
    if settings.environment != "production":  # benches use throwaway topic roots: local brokers only
        lines += [f"user {svc['bench']}", "topic readwrite #", ""]
    return "\n".join(lines)


def device_acl_text(settings: Settings, utility_ids: Iterable[str], roots: Sequence[str] = ()) -> str:
    """The device listener's ACL: each utility may write its own topics and nothing else."""
    every = list(dict.fromkeys([settings.mqtt_topic_root, *roots]))
    lines = ["# generated by resilience mqtt-credentials sync; do not edit", ""]
    for uid in sorted(set(utility_ids)):
        lines += [f"user {uid}", *(f"topic write {r}/{uid}\ntopic write {r}/{uid}/#" for r in every), ""]
    return "\n".join(lines)


_ROOT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _held_dir(settings: Settings) -> Path:
    return auth_dir(settings) / "held-roots"


def hold_root(settings: Settings, pid: int) -> None:
    """Keep the configured topic root in the local broker's ACL while process ``pid`` lives: a run on a root
    of its own (``make evaluate``) is not cut off when something else syncs the accounts for the usual
    root meanwhile (``resilience services start``, the test suite), which dropped every reading it sent."""
    root = settings.mqtt_topic_root
    if not _ROOT.match(root):
        raise CredentialError(f"topic root {root!r} cannot be held (1-64 of A-Z a-z 0-9 _ . -)")
    _held_dir(settings).mkdir(parents=True, exist_ok=True)
    (_held_dir(settings) / root).write_text(f"{pid}\n")


def held_roots(settings: Settings) -> list[str]:
    """Roots held by live local processes; a hold whose process has ended is removed."""
    folder = _held_dir(settings)
    roots = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            os.kill(int(path.read_text().strip()), 0)
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            continue
        if _ROOT.match(path.name):
            roots.append(path.name)
    return roots


PBKDF2_ITERATIONS = 101  # mosquitto_passwd's own default (Mosquitto 2.0 reads the count from each line)


def hash_password(password: str, salt: bytes | None = None) -> str:
    """One password in Mosquitto's ``$7$`` format: PBKDF2-HMAC-SHA512 over a random 12-byte salt."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, 64)
    return f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def write_password_file(path: Path, creds: Iterable[Credentials], owner_uid: int | None = None) -> None:
    """Mosquitto's password file (0600, optionally chowned to the broker's uid), replaced atomically so the
    broker never reads a half-written one."""
    _write_private(path, "".join(f"{c.username}:{hash_password(c.password)}\n" for c in creds), owner_uid)


def _known_utilities(settings: Settings, out_dir: Path | None = None) -> set[str]:
    path = (out_dir or auth_dir(settings)) / "utilities"
    return set(path.read_text().split()) if path.exists() else set()


def registry_utilities(settings: Settings, engine: Engine | None = None) -> set[str]:
    """Utility ids in the registry; an unreachable or unmigrated database gives none (the broker still starts,
    with the service accounts and any utility accounts written before). A long-running caller (the scheduler,
    every ``mqtt_sync_s``) passes its ``engine``; without one, an engine is made for this one read."""
    try:
        from resilience.store.db import make_engine
        from resilience.store.registry import utility_ids

        own = engine is None
        engine = engine or make_engine(settings.database_url)
        try:
            with engine.connect() as conn:
                return utility_ids(conn)
        finally:
            if own:
                engine.dispose()
    except Exception:  # noqa: BLE001 - no registry yet: keep what we know
        return set()


def sync(
    settings: Settings | None = None,
    *,
    extra_utilities: Iterable[str] = (),
    from_registry: bool = True,
    reload: bool = True,
    out_dir: Path | None = None,
    engine: Engine | None = None,
) -> list[str]:
    """Write the password and ACL files for the service accounts and every utility (the registry's, those
    written before, and ``extra_utilities``), then SIGHUP a running local Mosquitto. With ``out_dir`` (a
    deployment's mounted folder) the files go there and nothing is reloaded. Returns the utility ids."""
    s = settings or get_settings()
    ids = _known_utilities(s, out_dir) | set(extra_utilities)
    if from_registry:
        ids |= registry_utilities(s, engine)
    valid = sorted(i for i in ids if can_be_account(i))
    creds = []
    for role in SERVICE_ROLES:
        if role == "bench" and s.environment == "production":
            continue
        try:
            creds.append(service_credentials(s, role))
        except CredentialError:
            if role in ("ingest", "alerts"):
                raise
            # production without this optional account's password: the account is left out
    target = out_dir or auth_dir(s)
    uid = s.mqtt_auth_uid
    held = held_roots(s) if out_dir is None and s.environment != "production" else []
    write_password_file(target / "passwd", creds, uid)
    _write_private(target / "acl", acl_text(s, held), uid)
    write_password_file(target / "passwd-devices", [utility_credentials(s, u) for u in valid], uid)
    _write_private(target / "acl-devices", device_acl_text(s, valid, held), uid)
    _write_private(target / "utilities", "\n".join(valid) + "\n", uid)
    if reload and out_dir is None:
        reload_broker(s)
    return valid


def follow_registry(settings: Settings, engine: Engine | None = None) -> list[str]:
    """Give every utility in the registry its broker account, if one is missing (the scheduler, every
    ``mqtt_sync_s``): the local broker's files (reloaded), or ``mqtt_auth_out`` in a deployment (whose
    broker container reloads on change). Returns the utilities added; nothing is rewritten when none is.

    Accounts are added, never removed here: a utility leaving the registry keeps its account until the next
    deliberate ``mqtt-credentials sync`` (its readings are refused anyway: its sensors are gone)."""
    out_dir = settings.mqtt_auth_out
    target = out_dir or auth_dir(settings)
    if out_dir is None and not (target / "passwd").exists():
        return []  # no local broker set up here, and no deployment folder named: nothing to keep in step
    new = sorted(
        u for u in registry_utilities(settings, engine) - _known_utilities(settings, out_dir) if can_be_account(u)
    )
    if new or not all((target / f).exists() for f in ACCOUNT_FILES):  # a first run writes every file
        sync(settings, out_dir=out_dir, engine=engine)
    return new


def reload_broker(settings: Settings) -> bool:
    """SIGHUP the local Mosquitto (it re-reads its password and ACL files); False if none is running."""
    pid_file = auth_dir(settings) / "mosquitto.pid"
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
        return True
    except (OSError, ValueError):
        return False


def ensure_utility_account(settings: Settings, utility_id: str, timeout_s: float = 10.0) -> Credentials:
    """Give one utility its broker account now (tests, onboarding) and wait until the broker accepts it."""
    creds = utility_credentials(settings, utility_id)
    if utility_id not in _known_utilities(settings):
        sync(settings, extra_utilities=[utility_id], from_registry=False)
        wait_accepted(settings, creds, timeout_s)
    return creds


def wait_accepted(settings: Settings, creds: Credentials, timeout_s: float = 10.0, *, port: int | None = None) -> None:
    """Poll until the broker accepts ``creds`` on ``port`` (default: the listener that knows the login, the
    platform's for a service account, the devices' for a utility); a SIGHUP reload is asynchronous."""
    import time

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    services = {settings.mqtt_username or "ingest", *SERVICE_ROLES}
    port = port or (settings.mqtt_port if creds.username in services else settings.mqtt_device_port)
    deadline = time.monotonic() + timeout_s
    while True:
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"auth-probe-{secrets.token_hex(4)}", protocol=mqtt.MQTTv5
        )
        c.username_pw_set(creds.username, creds.password)
        ok: list[bool] = []
        c.on_connect = lambda cl, u, f, rc, p, ok=ok: ok.append(not rc.is_failure)
        try:
            c.connect(settings.mqtt_host, port, keepalive=10)
            end = time.monotonic() + 2
            while not ok and time.monotonic() < end:
                c.loop(0.05)
            c.disconnect()
        except OSError:
            pass
        if ok and ok[0]:
            return
        if time.monotonic() > deadline:
            raise CredentialError(f"broker did not accept {creds.username!r} within {timeout_s:.0f}s")
        time.sleep(0.1)


def _cmd(args: argparse.Namespace) -> int:
    s = get_settings()
    try:
        if args.action == "sync":
            out = Path(args.out) if args.out else None
            if args.hold_for_pid is not None:
                hold_root(s, args.hold_for_pid)
            ids = sync(s, extra_utilities=args.utility or (), out_dir=out)
            target = out or auth_dir(s)
            print(
                f"wrote {target}/passwd, acl (service accounts), passwd-devices, acl-devices ({len(ids)} utilities)"
                + ("" if out else " (local broker reloaded if running)")
            )
        else:
            for u in args.utility or []:
                c = utility_credentials(s, u)
                print(f"{c.username}:{c.password}")
    except CredentialError as exc:
        print(f"error: {exc}")
        return 1
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("mqtt-credentials", help="write Mosquitto's password and ACL files from the registry")
    p.add_argument("action", choices=["sync", "show"])
    p.add_argument("utility", nargs="*", help="utility ids (sync: add these too; show: print their credentials)")
    p.add_argument(
        "--out",
        default=None,
        help="sync: write passwd and acl into this folder (a deployment's "
        "mounted one, e.g. deploy/mosquitto) instead of the local broker's, and reload nothing",
    )
    p.add_argument(
        "--hold-for-pid",
        type=int,
        default=None,
        help="sync: keep the configured topic root in the local broker's ACL while this process lives, "
        "whatever root later syncs are for (a run on a root of its own, such as make evaluate)",
    )
    p.set_defaults(func=_cmd)
